"""The complaint inbox over real HTTP and a real Postgres: flagging, working, metrics."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest

from store.db import Database
from tests.conftest import TenantKey
from tests.integration.scripted import ScriptedAnalyzer
from workers.analysis import analyze_batch

pytestmark = pytest.mark.integration


def _post_and_analyse(
    client: httpx.Client, db: Database, tenant: TenantKey, items: list[dict[str, Any]]
) -> list[str]:
    response = client.post("/v1/feedback", json={"items": items}, headers=tenant.headers)
    assert response.status_code == 202, response.text
    ids = [i["id"] for i in response.json()["items"]]
    analyze_batch(db, ScriptedAnalyzer(), [UUID(i) for i in ids], max_attempts=5)
    return ids


def _events(client: httpx.Client, tenant: TenantKey, type_: str) -> list[dict[str, Any]]:
    page = client.get(
        "/v1/events", params={"type": type_, "limit": 1000}, headers=tenant.headers
    ).json()
    return list(page["events"])


ITEMS: list[dict[str, Any]] = [
    {
        "text": "angry sev=high churn cat=delivery",
        "channel": "social",
        "metadata": {"customer_value": 5000},
    },
    {"text": "complaint cat=price_billing", "channel": "email"},
    {"text": "neg stars=2", "channel": "review", "rating": 2},
    {"text": "pos stars=5", "channel": "review", "rating": 5},
    {"text": "neutral words", "channel": "survey", "survey_score": 3},
]


def test_policy_flags_items_with_priority_sla_and_one_event_each(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    ids = _post_and_analyse(client, db, tenant, ITEMS)
    page = client.get("/v1/complaints", headers=tenant.headers).json()
    by_feedback = {c["feedback_id"]: c for c in page["items"]}
    assert set(by_feedback) == set(ids[:3])
    loud, billing, low_rating = (by_feedback[i] for i in ids[:3])
    assert loud["priority"] == "p1" and loud["customer_value"] == 5000
    assert set(loud["reasons"]) == {"complaint_model", "churn_risk", "severity"}
    assert billing["priority"] == "p4" and billing["category"] == "price_billing"
    assert low_rating["reasons"] == ["low_rating"] and low_rating["category"] == "other"
    assert all(c["status"] == "open" for c in page["items"])
    flagged = _events(client, tenant, "complaint.flagged")
    assert sorted(e["data"]["feedback_id"] for e in flagged) == sorted(ids[:3])
    assert {e["data"]["priority"] for e in flagged} == {"p1", "p4"}
    # Re-running the batch writes nothing twice.
    analyze_batch(db, ScriptedAnalyzer(), [UUID(i) for i in ids], max_attempts=5)
    assert len(_events(client, tenant, "complaint.flagged")) == 3
    p1 = client.get("/v1/complaints", params={"priority": "p1"}, headers=tenant.headers).json()
    assert [c["feedback_id"] for c in p1["items"]] == [ids[0]]


def test_filters_and_cursor_paging(client: httpx.Client, db: Database, tenant: TenantKey) -> None:
    items = [{"text": f"complaint cat=delivery n{n}", "channel": "social"} for n in range(5)]
    items.append({"text": "complaint cat=app_website", "channel": "email"})
    _post_and_analyse(client, db, tenant, items)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, "channel": "social"}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/complaints", params=params, headers=tenant.headers).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 5
    app = client.get(
        "/v1/complaints", params={"category": "app_website"}, headers=tenant.headers
    ).json()
    assert len(app["items"]) == 1 and app["items"][0]["channel"] == "email"
    none = client.get(
        "/v1/complaints", params={"status": ["resolved"]}, headers=tenant.headers
    ).json()
    assert none["items"] == []
    bad = client.get("/v1/complaints", params={"cursor": "nope"}, headers=tenant.headers)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_cursor"
    bad = client.get("/v1/complaints", params={"priority": "p9"}, headers=tenant.headers)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"


def test_working_a_complaint_end_to_end(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    _post_and_analyse(client, db, tenant, [{"text": "angry sev=critical", "channel": "review"}])
    (complaint,) = client.get("/v1/complaints", headers=tenant.headers).json()["items"]
    url = f"/v1/complaints/{complaint['id']}"
    h = tenant.headers

    assigned = client.post(f"{url}/assign", json={"assignee": "lan", "actor": "lead"}, headers=h)
    assert assigned.status_code == 200 and assigned.json()["assignee"] == "lan"
    assert assigned.json()["first_response_at"] is None
    acked = client.post(f"{url}/acknowledge", headers=h).json()
    assert acked["status"] == "acknowledged" and acked["first_response_at"]
    noted = client.post(
        f"{url}/notes", json={"note": "Gọi lại cho khách", "actor": "lan"}, headers=h
    )
    assert noted.json()["history"][-1]["note"] == "Gọi lại cho khách"
    resolved = client.post(
        f"{url}/resolve", json={"resolution_code": "refunded", "note": "refund sent"}, headers=h
    ).json()
    assert resolved["status"] == "resolved" and resolved["resolution_code"] == "refunded"
    again = client.post(f"{url}/resolve", json={"resolution_code": "refunded"}, headers=h)
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_transition"
    reopened = client.post(f"{url}/reopen", json={"note": "customer wrote back"}, headers=h)
    assert reopened.json()["status"] == "open" and reopened.json()["reopen_count"] == 1
    assert reopened.json()["resolved_at"] is None
    client.post(f"{url}/resolve", json={"resolution_code": "replaced"}, headers=h)

    detail = client.get(url, headers=h).json()
    assert detail["text"] == "angry sev=critical" and detail["analysis"]["severity"] == "critical"
    assert [e["action"] for e in detail["history"]] == [
        "flagged",
        "assign",
        "acknowledge",
        "note",
        "resolve",
        "reopen",
        "resolve",
    ]
    updated = _events(client, tenant, "complaint.updated")
    resolved_events = _events(client, tenant, "complaint.resolved")
    assert [e["data"]["action"] for e in updated] == ["assign", "acknowledge", "note", "reopen"]
    assert [e["data"]["resolution_code"] for e in resolved_events] == ["refunded", "replaced"]

    metrics = client.get("/v1/complaints/metrics", headers=h).json()
    assert metrics["total"] == 1 and metrics["resolved"] == 1
    assert metrics["reopen_rate"] == 1.0 and metrics["sla_breach_rate"] == 0.0
    assert metrics["by_category"] == {"delivery": 1}
    assert metrics["first_response_p50_s"] >= 0 and metrics["resolution_p50_s"] >= 0


def test_bad_actions_are_4xx(client: httpx.Client, db: Database, tenant: TenantKey) -> None:
    _post_and_analyse(client, db, tenant, [{"text": "complaint", "channel": "email"}])
    (complaint,) = client.get("/v1/complaints", headers=tenant.headers).json()["items"]
    url = f"/v1/complaints/{complaint['id']}"
    cases = [
        (f"{url}/resolve", {"resolution_code": "Not A Code"}, 422),
        (f"{url}/resolve", {}, 422),
        (f"{url}/notes", {"note": ""}, 422),
        (f"{url}/notes", {"note": "x", "extra": 1}, 422),
        (f"{url}/assign", {"assignee": "a\x00b"}, 422),
        (f"{url}/reopen", None, 409),
        ("/v1/complaints/00000000-0000-0000-0000-000000000000/acknowledge", None, 404),
    ]
    for path, body, status in cases:
        response = client.post(path, json=body, headers=tenant.headers)
        assert response.status_code == status, (path, body, response.text)
        assert response.json()["error"]["code"]
    other = client.post(
        "/v1/feedback",
        json={"text": "x", "channel": "email"},
        headers={"Authorization": "Bearer x"},
    )
    assert other.status_code == 401


def test_a_tenant_policy_changes_what_is_flagged(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    h = tenant.headers
    assert client.get("/v1/complaints/policy", headers=h).json()["complaint_threshold"] == 0.5
    put = client.put(
        "/v1/complaints/policy",
        json={"complaint_threshold": 0.9, "flag_churn_risk": False, "sla_hours": {"p4": 1}},
        headers=h,
    )
    assert put.status_code == 200 and put.json()["sla_hours"]["p4"] == 1
    bad = client.put("/v1/complaints/policy", json={"complaint_threshold": 3}, headers=h)
    assert bad.status_code == 422
    ids = _post_and_analyse(
        client,
        db,
        tenant,
        [{"text": "complaint churn", "channel": "email"}, {"text": "angry", "channel": "email"}],
    )
    (only,) = client.get("/v1/complaints", headers=h).json()["items"]
    assert only["feedback_id"] == ids[1] and only["reasons"] == ["complaint_model"]
