"""Scoped keys, their admin API, and the audit log, over real HTTP and a real Postgres."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from store import keys as keys_store
from store.db import Database
from tests.conftest import TenantKey
from tests.integration.scripted import ScriptedAnalyzer
from workers.analysis import analyze_batch

pytestmark = pytest.mark.integration


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    return str(response.json()["error"]["code"])


def _new_key(client: httpx.Client, admin: TenantKey, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/keys", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


ITEM = {"text": "complaint about delivery", "channel": "review"}


def test_scopes_decide_what_a_key_may_do(client: httpx.Client, tenant: TenantKey) -> None:
    ingest = _new_key(client, tenant, name="crm", scopes=["ingest"])["key"]
    read = _new_key(client, tenant, name="bi", scopes=["read"])["key"]

    posted = client.post("/v1/feedback", json=ITEM, headers=_bearer(ingest))
    assert posted.status_code == 202, posted.text
    item_id = posted.json()["items"][0]["id"]
    # ingest may only POST feedback.
    assert _code(client.get(f"/v1/feedback/{item_id}", headers=_bearer(ingest)), 403) == (
        "insufficient_scope"
    )
    refused = client.get("/v1/feedback", headers=_bearer(ingest)).json()["error"]
    assert refused["details"] == {"required": "read", "scopes": ["ingest"]}
    # read may read, not write.
    assert client.get(f"/v1/feedback/{item_id}", headers=_bearer(read)).status_code == 200
    assert _code(client.post("/v1/feedback", json=ITEM, headers=_bearer(read)), 403) == (
        "insufficient_scope"
    )
    webhook = {"url": "http://127.0.0.1:9/hook", "event_types": ["*"]}
    assert _code(client.post("/v1/webhooks", json=webhook, headers=_bearer(read)), 403) == (
        "insufficient_scope"
    )
    # Keys, audit and privacy need admin even to read.
    for path in ("/v1/keys", "/v1/audit"):
        assert _code(client.get(path, headers=_bearer(read)), 403) == "insufficient_scope"
    # The fixture's key predates scopes in spirit: keys made without them are admin.
    assert client.get("/v1/keys", headers=tenant.headers).status_code == 200


def test_create_list_revoke_rotate(client: httpx.Client, tenant: TenantKey) -> None:
    made = _new_key(client, tenant, name="etl", scopes=["ingest", "read"])
    assert made["key"].startswith("lng_") and made["prefix"] == made["key"][:12]
    assert made["scopes"] == ["ingest", "read"] and made["state"] == "active"

    listed = client.get("/v1/keys", headers=tenant.headers).json()["items"]
    assert made["id"] in {k["id"] for k in listed}
    assert all("key" not in k for k in listed)

    rotated = client.post(f"/v1/keys/{made['id']}/rotate", headers=tenant.headers)
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert new["rotated_from"] == made["id"] and new["scopes"] == made["scopes"]
    assert new["name"] == "etl" and new["key"] != made["key"]
    assert _code(client.get("/v1/feedback", headers=_bearer(made["key"])), 401) == (
        "revoked_api_key"
    )
    assert client.get("/v1/feedback", headers=_bearer(new["key"])).status_code == 200
    # Rotating the revoked key again is a conflict, not a second new key.
    again = client.post(f"/v1/keys/{made['id']}/rotate", headers=tenant.headers)
    assert _code(again, 409) == "key_not_active"

    revoked = client.post(f"/v1/keys/{new['id']}/revoke", headers=tenant.headers)
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert _code(client.get("/v1/feedback", headers=_bearer(new["key"])), 401) == (
        "revoked_api_key"
    )
    only_revoked = client.get("/v1/keys", params={"state": "revoked"}, headers=tenant.headers)
    assert {k["state"] for k in only_revoked.json()["items"]} == {"revoked"}


def test_expired_key_gets_401(client: httpx.Client, tenant: TenantKey, db: Database) -> None:
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    made = _new_key(client, tenant, name="temp", scopes=["read"], expires_at=soon)
    assert client.get("/v1/feedback", headers=_bearer(made["key"])).status_code == 200
    with db.transaction() as conn:
        conn.execute(
            "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = %s",
            (made["id"],),
        )
    response = client.get("/v1/feedback", headers=_bearer(made["key"]))
    assert _code(response, 401) == "expired_api_key"
    assert response.headers["www-authenticate"] == "Bearer"


def test_bad_key_bodies_are_4xx(client: httpx.Client, tenant: TenantKey) -> None:
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"scopes": ["root"]}, 422, "validation_error"),
        ({"scopes": []}, 422, "validation_error"),
        ({"scopes": ["read"], "expires_at": past}, 422, "invalid_expiry"),
        ({"scopes": ["read"], "expires_at": "2030-01-01T00:00:00"}, 422, "validation_error"),
        ({"scopes": ["read"], "name": "a\x00b"}, 422, "validation_error"),
    ]
    for body, status, code in cases:
        response = client.post("/v1/keys", json=body, headers=tenant.headers)
        assert _code(response, status) == code, body
    assert _code(client.get("/v1/keys", params={"cursor": "nope"}, headers=tenant.headers), 400)


def test_keys_of_another_tenant_are_not_found(
    client: httpx.Client, tenant: TenantKey, db: Database
) -> None:
    with db.transaction() as conn:
        other = conn.execute(
            "INSERT INTO tenants (name) VALUES (gen_random_uuid()::text) RETURNING id"
        ).fetchone()
        assert other is not None
        _, record = keys_store.create_key(conn, other["id"], "theirs", ["admin"])
    for method, path in (
        ("GET", f"/v1/keys/{record.id}"),
        ("POST", f"/v1/keys/{record.id}/revoke"),
        ("POST", f"/v1/keys/{record.id}/rotate"),
    ):
        assert _code(client.request(method, path, headers=tenant.headers), 404) == "not_found"
    listed = client.get("/v1/keys", params={"limit": 500}, headers=tenant.headers).json()
    assert str(record.id) not in {k["id"] for k in listed["items"]}
    with db.transaction() as conn:
        still = keys_store.get_key(conn, other["id"], record.id)
    assert still is not None and still.state == "active"


def test_audit_records_who_did_what_with_complaints_by_key(
    client: httpx.Client, tenant: TenantKey, db: Database
) -> None:
    lead = _new_key(client, tenant, name="support-lead", scopes=["admin"])
    posted = client.post("/v1/feedback", json=ITEM, headers=tenant.headers).json()
    feedback_id = posted["items"][0]["id"]
    analyze_batch(db, ScriptedAnalyzer(), [UUID(feedback_id)], max_attempts=3)
    complaint = client.get("/v1/complaints", headers=tenant.headers).json()["items"][0]
    note = {"note": "called back on 0912 345 678", "actor": "Lan"}
    acted = client.post(
        f"/v1/complaints/{complaint['id']}/notes", json=note, headers=_bearer(lead["key"])
    )
    assert acted.status_code == 200, acted.text
    last = acted.json()["history"][-1]
    # The key that acted is recorded beside the typed actor; the phone is redacted.
    assert last["actor"] == "Lan" and "0912" not in (last["note"] or "")
    assert last["data"]["by"] == {"type": "key", "key_id": lead["id"], "key_name": "support-lead"}
    event = client.get(
        "/v1/events", params={"type": "complaint.updated"}, headers=tenant.headers
    ).json()["events"][-1]
    assert event["data"]["by"]["key_id"] == lead["id"]
    assert "0912" not in event["data"]["note"]

    page = client.get(
        "/v1/audit", params={"target_type": "complaint"}, headers=tenant.headers
    ).json()
    entry = page["items"][0]
    assert entry["action"] == "POST /v1/complaints/{complaint_id}/notes"
    assert entry["target_id"] == complaint["id"]
    assert (entry["actor_type"], entry["actor_id"], entry["actor_name"]) == (
        "key",
        lead["id"],
        "support-lead",
    )
    assert entry["client_ip"] == "127.0.0.1" and entry["status"] == 200
    created = client.get(
        "/v1/audit", params={"action": "POST /v1/keys"}, headers=tenant.headers
    ).json()["items"]
    assert created[0]["target_type"] == "key" and created[0]["target_id"] == lead["id"]
    ingested = client.get(
        "/v1/audit", params={"action": "POST /v1/feedback"}, headers=tenant.headers
    ).json()["items"]
    assert ingested[0]["details"] == {"accepted": 1, "duplicates": 0}
    assert ingested[0]["target_type"] == "feedback"
    # Reads are not changes.
    actions = {e["action"] for e in client.get("/v1/audit", headers=tenant.headers).json()["items"]}
    assert not any(a.startswith("GET ") for a in actions)


def test_audit_pages_exports_and_isolates(
    client: httpx.Client, tenant: TenantKey, db: Database
) -> None:
    formula = _new_key(client, tenant, name="=HYPERLINK(x)", scopes=["admin"])
    as_formula = TenantKey(tenant.id, tenant.name, formula["key"])
    for n in range(4):
        _new_key(client, as_formula, name=f"k{n}", scopes=["read"])
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/audit", params=params, headers=tenant.headers).json()
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 5
    exported = client.get("/v1/audit/export.csv", headers=tenant.headers)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [int(r["id"]) for r in rows] == sorted(seen)
    # A key name that a spreadsheet would run as a formula is quoted.
    assert [r["actor_name"] for r in rows] == ["test"] + ["'=HYPERLINK(x)"] * 4

    with db.transaction() as conn:
        other = conn.execute(
            "INSERT INTO tenants (name) VALUES (gen_random_uuid()::text) RETURNING id"
        ).fetchone()
        assert other is not None
        other_key, _ = keys_store.create_key(conn, other["id"], "other", ["admin"])
    theirs = client.get("/v1/audit", headers=_bearer(other_key)).json()["items"]
    assert theirs == []
    assert _code(
        client.get("/v1/audit", params={"actor_type": "robot"}, headers=tenant.headers), 422
    )
    bad_range = {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}
    assert _code(client.get("/v1/audit", params=bad_range, headers=tenant.headers), 422) == (
        "invalid_range"
    )
