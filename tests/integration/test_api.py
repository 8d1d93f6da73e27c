"""The HTTP API over real HTTP, against a real Postgres: happy paths and every bad input."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tests.conftest import TenantKey

pytestmark = pytest.mark.integration


def _post(client: httpx.Client, tenant: TenantKey, body: object) -> httpx.Response:
    return client.post("/v1/feedback", json=body, headers=tenant.headers)


def _error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert "details" in error
    return error


def test_health_and_readiness(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["migrations"] == "current"


def test_post_one_item_then_read_it_back(client: httpx.Client, tenant: TenantKey) -> None:
    response = _post(
        client, tenant, {"text": "Giao hàng quá chậm", "channel": "review", "rating": 2}
    )
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 1 and body["duplicates"] == 0
    item_id = body["items"][0]["id"]
    item = client.get(f"/v1/feedback/{item_id}", headers=tenant.headers).json()
    assert item["text"] == "Giao hàng quá chậm"
    assert item["rating"] == 2
    assert item["status"] in ("pending", "processing", "done")
    assert response.headers["x-request-id"]


def test_batch_and_reposting_the_same_external_id_returns_the_existing_id(
    client: httpx.Client, tenant: TenantKey
) -> None:
    items = [
        {"text": f"review {n}", "channel": "social", "external_id": f"ext-{n}", "source": "fb"}
        for n in range(5)
    ]
    first = _post(client, tenant, {"items": items}).json()
    again = _post(client, tenant, {"items": items[:2]}).json()
    assert first["accepted"] == 5
    assert again["accepted"] == 0 and again["duplicates"] == 2
    assert [i["id"] for i in again["items"]] == [i["id"] for i in first["items"][:2]]
    assert all(i["duplicate"] for i in again["items"])
    listed = client.get("/v1/feedback", params={"channel": "social"}, headers=tenant.headers).json()
    assert len(listed["items"]) == 5


def test_list_pages_with_a_cursor_without_repeats_or_gaps(
    client: httpx.Client, tenant: TenantKey
) -> None:
    items = [{"text": f"item {n}", "channel": "email"} for n in range(7)]
    posted = {i["id"] for i in _post(client, tenant, {"items": items}).json()["items"]}
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/feedback", params=params, headers=tenant.headers).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == posted


def test_pii_is_redacted_before_storage(client: httpx.Client, tenant: TenantKey) -> None:
    text = "Gọi cho tôi số 0912 345 678 hoặc email an.nguyen@example.com"
    item_id = _post(client, tenant, {"text": text, "channel": "email"}).json()["items"][0]["id"]
    stored = client.get(f"/v1/feedback/{item_id}", headers=tenant.headers).json()["text"]
    assert "0912" not in stored and "example.com" not in stored
    assert stored.startswith("Gọi cho tôi số ")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"text": "", "channel": "review"}, 422, "validation_error"),
        ({"text": "   \n\t", "channel": "review"}, 422, "validation_error"),
        ({"text": "ok", "channel": "fax"}, 422, "validation_error"),
        ({"text": 42, "channel": "review"}, 422, "validation_error"),
        ({"channel": "review"}, 422, "validation_error"),
        ({"text": "ok", "channel": "review", "rating": 6}, 422, "validation_error"),
        ({"text": "ok", "channel": "review", "surprise": 1}, 422, "validation_error"),
        ({"text": "a\u0000b", "channel": "review"}, 422, "validation_error"),
        ({"text": "ok", "channel": "review", "metadata": {"k": "\u0000"}}, 422, "validation_error"),
        ({"items": []}, 422, "validation_error"),
        ({"items": "nope"}, 422, "validation_error"),
        ([1, 2, 3], 422, "validation_error"),
        ({"text": "x" * 2_001, "channel": "review"}, 413, "text_too_large"),
        ({"text": "ạ" * 700, "channel": "review"}, 413, "text_too_large"),
        ({"items": [{"text": "x", "channel": "review"}] * 21}, 413, "batch_too_large"),
    ],
    ids=[
        "empty-text",
        "blank-text",
        "unknown-channel",
        "text-not-string",
        "missing-text",
        "rating-out-of-range",
        "unknown-field",
        "nul-in-text",
        "nul-in-metadata",
        "empty-batch",
        "items-not-list",
        "top-level-array",
        "text-over-limit",
        "text-over-limit-in-utf8-bytes",
        "batch-over-limit",
    ],
)
def test_bad_bodies_get_their_documented_error(
    client: httpx.Client, tenant: TenantKey, body: object, status: int, code: str
) -> None:
    _error(_post(client, tenant, body), status, code)


def test_lone_surrogate_escape_is_refused(client: httpx.Client, tenant: TenantKey) -> None:
    raw = b'{"text": "bad \\ud800 text", "channel": "review"}'
    response = client.post(
        "/v1/feedback", content=raw, headers={**tenant.headers, "Content-Type": "application/json"}
    )
    _error(response, 422, "validation_error")


def test_invalid_json_and_invalid_utf8(client: httpx.Client, tenant: TenantKey) -> None:
    headers = {**tenant.headers, "Content-Type": "application/json"}
    _error(client.post("/v1/feedback", content=b'{"text": ', headers=headers), 400, "invalid_json")
    bad_utf8 = b'{"text": "\xff\xfe t\xe1", "channel": "review"}'
    _error(client.post("/v1/feedback", content=bad_utf8, headers=headers), 400, "invalid_encoding")


def test_body_over_the_request_limit(client: httpx.Client, tenant: TenantKey) -> None:
    body = json.dumps({"text": "x" * 300_000, "channel": "review"}).encode()
    response = client.post(
        "/v1/feedback", content=body, headers={**tenant.headers, "Content-Type": "application/json"}
    )
    _error(response, 413, "request_too_large")


def test_a_failed_batch_stores_nothing(client: httpx.Client, tenant: TenantKey) -> None:
    items = [
        {"text": "fine", "channel": "review", "external_id": "atomic-1"},
        {"text": "", "channel": "review"},
    ]
    _error(_post(client, tenant, {"items": items}), 422, "validation_error")
    again = _post(client, tenant, {"text": "fine", "channel": "review", "external_id": "atomic-1"})
    assert again.json()["accepted"] == 1


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_api_key"),
        ({"Authorization": "Bearer lng_nope"}, "invalid_api_key"),
        ({"Authorization": "Basic abc"}, "missing_api_key"),
    ],
    ids=["no-header", "wrong-key", "wrong-scheme"],
)
def test_requests_without_a_valid_key_are_refused(
    client: httpx.Client, headers: dict[str, str], code: str
) -> None:
    for response in (
        client.post("/v1/feedback", json={"text": "x", "channel": "review"}, headers=headers),
        client.get("/v1/feedback", headers=headers),
        client.get("/v1/events", headers=headers),
        client.get("/v1/webhooks", headers=headers),
    ):
        _error(response, 401, code)


def test_another_tenants_item_is_not_found(
    client: httpx.Client, tenant: TenantKey, db: object
) -> None:
    item_id = _post(client, tenant, {"text": "mine", "channel": "review"}).json()["items"][0]["id"]
    from store import tenants as tenants_store
    from store.db import Database

    assert isinstance(db, Database)
    with db.transaction() as conn:
        other = tenants_store.create_tenant(conn, tenant.name + "-b")
        other_key = tenants_store.create_api_key(conn, other.id)
    response = client.get(
        f"/v1/feedback/{item_id}", headers={"Authorization": f"Bearer {other_key}"}
    )
    _error(response, 404, "not_found")
    _error(client.get(f"/v1/feedback/{uuid.uuid4()}", headers=tenant.headers), 404, "not_found")
    listed = client.get("/v1/feedback", headers={"Authorization": f"Bearer {other_key}"}).json()
    assert listed["items"] == []


def test_invalid_cursor_and_id(client: httpx.Client, tenant: TenantKey) -> None:
    _error(
        client.get("/v1/feedback", params={"cursor": "garbage!"}, headers=tenant.headers),
        400,
        "invalid_cursor",
    )
    _error(client.get("/v1/feedback/not-a-uuid", headers=tenant.headers), 422, "validation_error")
    _error(client.get("/v1/nowhere", headers=tenant.headers), 404, "not_found")


def test_webhook_subscriptions_crud(client: httpx.Client, tenant: TenantKey) -> None:
    created = client.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "event_types": ["complaint.flagged"]},
        headers=tenant.headers,
    )
    assert created.status_code == 201
    body = created.json()
    assert len(body["secret"]) >= 16
    listed = client.get("/v1/webhooks", headers=tenant.headers).json()
    assert [w["id"] for w in listed] == [body["id"]]
    assert "secret" not in listed[0]
    assert client.delete(f"/v1/webhooks/{body['id']}", headers=tenant.headers).status_code == 204
    _error(client.delete(f"/v1/webhooks/{body['id']}", headers=tenant.headers), 404, "not_found")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"url": "ftp://x/y", "event_types": ["*"]}, "invalid_url"),
        ({"url": "not a url", "event_types": ["*"]}, "invalid_url"),
        ({"url": "http://127.0.0.1/x", "event_types": ["nope"]}, "unknown_event_type"),
        ({"url": "http://127.0.0.1/x", "event_types": []}, "validation_error"),
        (
            {"url": "http://127.0.0.1/x", "event_types": ["*"], "secret": "short"},
            "validation_error",
        ),
    ],
    ids=["bad-scheme", "not-a-url", "unknown-type", "no-types", "short-secret"],
)
def test_bad_webhooks_are_refused(
    client: httpx.Client, tenant: TenantKey, body: object, code: str
) -> None:
    _error(client.post("/v1/webhooks", json=body, headers=tenant.headers), 422, code)


def test_events_feed_is_empty_for_a_new_tenant(client: httpx.Client, tenant: TenantKey) -> None:
    page = client.get("/v1/events", params={"after": 0}, headers=tenant.headers).json()
    assert page == {"events": [], "next_after": 0}
    _error(
        client.get("/v1/events", params={"after": -1}, headers=tenant.headers),
        422,
        "validation_error",
    )


def test_metrics_count_accepted_and_rejected(client: httpx.Client, tenant: TenantKey) -> None:
    _post(client, tenant, {"text": "đánh giá", "channel": "survey"})
    _post(client, tenant, {"text": "", "channel": "survey"})
    text = client.get("/metrics").text
    assert 'langnghe_feedback_accepted_total{channel="survey"}' in text
    assert 'langnghe_feedback_rejected_total{reason="validation_error"}' in text
    assert "langnghe_queue_lag_seconds" in text
    assert 'langnghe_feedback_items{status="pending"}' in text
