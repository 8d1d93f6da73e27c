"""Erasure of a data subject with a receipt, retention per tenant, redaction before storage."""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import UUID

import httpx
import pytest

from store import keys as keys_store
from store import privacy as privacy_store
from store.db import Database
from tests.conftest import TenantKey
from tests.integration.scripted import ScriptedAnalyzer
from workers.analysis import analyze_batch
from workers.privacy import run_retention

pytestmark = pytest.mark.integration


def _post(client: httpx.Client, tenant: TenantKey, items: list[dict[str, Any]]) -> list[str]:
    response = client.post("/v1/feedback", json={"items": items}, headers=tenant.headers)
    assert response.status_code == 202, response.text
    return [i["id"] for i in response.json()["items"]]


def _count(db: Database, sql: str, *args: object) -> int:
    with db.transaction() as conn:
        row = conn.execute(sql, args).fetchone()
    assert row is not None
    return int(row["n"])


def _other_tenant(db: Database) -> TenantKey:
    with db.transaction() as conn:
        row = conn.execute(
            "INSERT INTO tenants (name) VALUES (gen_random_uuid()::text) RETURNING id, name"
        ).fetchone()
        assert row is not None
        key, _ = keys_store.create_key(conn, row["id"], "other", ["admin"])
    return TenantKey(row["id"], row["name"], key)


def test_erasure_by_customer_ref_removes_everything_and_leaves_a_receipt(
    client: httpx.Client, tenant: TenantKey, db: Database
) -> None:
    other = _other_tenant(db)
    mine = _post(
        client,
        tenant,
        [
            {"text": "complaint angry about delivery", "channel": "review", "customer_ref": "c-9"},
            {"text": "pos fine", "channel": "email", "customer_ref": "c-9"},
            {"text": "pos someone else", "channel": "email", "customer_ref": "c-10"},
        ],
    )
    theirs = _post(
        client, other, [{"text": "complaint same ref", "channel": "review", "customer_ref": "c-9"}]
    )
    analyze_batch(db, ScriptedAnalyzer(), [UUID(i) for i in mine + theirs], max_attempts=3)
    complaint = client.get("/v1/complaints", headers=tenant.headers).json()["items"][0]
    noted = client.post(
        f"/v1/complaints/{complaint['id']}/notes",
        json={"note": "rang back"},
        headers=tenant.headers,
    )
    assert noted.status_code == 200

    response = client.post(
        "/v1/privacy/erasure", json={"customer_ref": "c-9"}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert receipt["counts"] == {
        "feedback": 2,
        "analyses": 2,
        "topic_assignments": 0,
        "complaints": 1,
        "complaint_history": 2,
        # feedback.analyzed x2, complaint.flagged, complaint.updated, customer.segment_changed
        "events": 5,
        "interactions": 0,
        "customer_segment_history": 1,
        "customers": 1,
    }
    assert receipt["subject_kind"] == "customer_ref"
    assert receipt["subject_sha256"] == hashlib.sha256(b"customer_ref:c-9").hexdigest()
    assert '"c-9"' not in response.text
    for item in mine[:2]:
        assert client.get(f"/v1/feedback/{item}", headers=tenant.headers).status_code == 404
    assert client.get(f"/v1/feedback/{mine[2]}", headers=tenant.headers).status_code == 200
    events = client.get("/v1/events", params={"limit": 100}, headers=tenant.headers).json()
    erased = [e for e in events["events"] if e["data"] == {"erased": True}]
    assert len(erased) == 5  # the four above and the customer's segment event
    assert all(e["data"].get("customer_ref") != "c-9" for e in events["events"])
    # The other tenant's subject with the same reference is untouched.
    assert client.get(f"/v1/feedback/{theirs[0]}", headers=other.headers).status_code == 200

    stored = client.get(f"/v1/privacy/erasure/{receipt['id']}", headers=tenant.headers)
    assert stored.json() == receipt
    listed = client.get("/v1/privacy/erasure", headers=tenant.headers).json()["items"]
    assert [r["id"] for r in listed] == [receipt["id"]]
    assert client.get(
        f"/v1/privacy/erasure/{receipt['id']}", headers=other.headers
    ).status_code == (404)
    audit = client.get(
        "/v1/audit", params={"target_type": "erasure"}, headers=tenant.headers
    ).json()["items"]
    assert audit[0]["target_id"] == receipt["id"] and audit[0]["details"]["feedback"] == 2


def test_erasure_by_email_and_phone_found_in_text(
    client: httpx.Client, tenant: TenantKey, db: Database
) -> None:
    with db.transaction() as conn:
        # Stored without redaction (LANGNGHE_PII_REDACTION=false, or data from before it).
        from store import feedback as feedback_store

        rows = [
            feedback_store.NewFeedback(
                source="crm", channel="email", text="from Lan.Nguyen@Example.vn: late"
            ),
            feedback_store.NewFeedback(
                source="crm", channel="review", text="call me on +84 912.345.678"
            ),
            feedback_store.NewFeedback(
                source="crm", channel="review", text="x", metadata={"phone": "0912345678"}
            ),
            feedback_store.NewFeedback(source="crm", channel="review", text="call 0912345679"),
        ]
        ids = [i.id for i in feedback_store.insert_feedback(conn, tenant.id, rows)]
    by_email = client.post(
        "/v1/privacy/erasure", json={"email": "lan.nguyen@example.vn"}, headers=tenant.headers
    ).json()
    assert by_email["counts"]["feedback"] == 1
    by_phone = client.post(
        "/v1/privacy/erasure", json={"phone": "0912 345 678"}, headers=tenant.headers
    ).json()
    assert by_phone["counts"]["feedback"] == 2
    left = _count(db, "SELECT count(*) AS n FROM feedback WHERE id = ANY(%s)", ids)
    assert left == 1


@pytest.mark.parametrize(
    "body",
    [{}, {"customer_ref": "a", "email": "b@c.de"}, {"customer_ref": ""}, {"phone": "1\x002"}],
)
def test_bad_erasure_requests_are_422(
    client: httpx.Client, tenant: TenantKey, body: dict[str, Any]
) -> None:
    response = client.post("/v1/privacy/erasure", json=body, headers=tenant.headers)
    assert response.status_code == 422 and response.json()["error"]["code"] == "validation_error"


def test_privacy_needs_admin(client: httpx.Client, tenant: TenantKey, db: Database) -> None:
    with db.transaction() as conn:
        read, _ = keys_store.create_key(conn, tenant.id, "bi", ["read"])
    headers = {"Authorization": f"Bearer {read}"}
    for method, path, body in (
        ("POST", "/v1/privacy/erasure", {"customer_ref": "x"}),
        ("GET", "/v1/privacy/retention", None),
        ("PUT", "/v1/privacy/retention", {"days": 30, "mode": "delete"}),
    ):
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "insufficient_scope"


def test_retention_deletes_or_anonymises_old_items_and_reports(
    client: httpx.Client, tenant: TenantKey, db: Database
) -> None:
    other = _other_tenant(db)
    assert client.get("/v1/privacy/retention", headers=tenant.headers).json() == {
        "policy": None,
        "runs": [],
    }
    bad = client.put("/v1/privacy/retention", json={"days": 0, "mode": "x"}, headers=tenant.headers)
    assert bad.status_code == 422
    put = client.put(
        "/v1/privacy/retention", json={"days": 30, "mode": "anonymise"}, headers=tenant.headers
    )
    assert put.status_code == 200 and put.json()["mode"] == "anonymise"
    old_items: list[dict[str, Any]] = [
        {"text": "complaint old", "channel": "review", "customer_ref": "c-1", "external_id": "o1"},
        {"text": "pos old", "channel": "review", "metadata": {"who": "someone"}},
    ]
    old = _post(client, tenant, old_items)
    new = _post(client, tenant, [{"text": "pos new", "channel": "review", "customer_ref": "c-2"}])
    theirs = _post(client, other, [{"text": "pos theirs old", "channel": "review"}])
    analyze_batch(db, ScriptedAnalyzer(), [UUID(i) for i in old + new + theirs], max_attempts=3)
    with db.transaction() as conn:
        conn.execute(
            "UPDATE feedback SET received_at = now() - interval '40 days' WHERE id = ANY(%s)",
            ([UUID(i) for i in old + theirs],),
        )

    run_retention(db)
    first = client.get(f"/v1/feedback/{old[0]}", headers=tenant.headers).json()
    assert first["text"] == privacy_store.ANONYMISED_TEXT
    assert first["customer_ref"] is None and first["external_id"] is None
    assert first["analysis"]["sentiment"] == "negative"  # the figures stay for the reports
    assert client.get(f"/v1/feedback/{new[0]}", headers=tenant.headers).json()["customer_ref"] == (
        "c-2"
    )
    # Another tenant without a policy keeps everything.
    assert client.get(f"/v1/feedback/{theirs[0]}", headers=other.headers).json()["text"] == (
        "pos theirs old"
    )
    events = client.get("/v1/events", params={"limit": 100}, headers=tenant.headers).json()
    refs = {e["data"].get("customer_ref") for e in events["events"]}
    assert "c-1" not in refs and "c-2" in refs

    # A second pass finds nothing more to anonymise; switching to delete removes them.
    client.put("/v1/privacy/retention", json={"days": 30, "mode": "delete"}, headers=tenant.headers)
    run_retention(db)
    assert client.get(f"/v1/feedback/{old[0]}", headers=tenant.headers).status_code == 404
    report = client.get("/v1/privacy/retention", headers=tenant.headers).json()
    assert report["policy"]["mode"] == "delete" and report["policy"]["days"] == 30
    assert [r["mode"] for r in report["runs"]] == ["delete", "anonymise"]
    assert report["runs"][0]["counts"]["feedback"] == 2
    assert report["runs"][1]["counts"] == {"feedback": 2, "complaint_notes": 0, "events": 4}
    assert client.get("/v1/privacy/retention", headers=other.headers).json()["runs"] == []
    audit = client.get("/v1/audit", params={"actor_type": "system"}, headers=tenant.headers).json()[
        "items"
    ]
    assert [a["action"] for a in audit] == ["retention.delete", "retention.anonymise"]
    assert client.delete("/v1/privacy/retention", headers=tenant.headers).status_code == 204
    assert client.delete("/v1/privacy/retention", headers=tenant.headers).status_code == 404


def test_metadata_strings_are_redacted_before_storage(
    client: httpx.Client, tenant: TenantKey
) -> None:
    item = {
        "text": "ok",
        "channel": "review",
        "metadata": {"contact": {"email": "lan@example.vn", "phones": ["0912 345 678"]}, "n": 3},
    }
    (item_id,) = _post(client, tenant, [item])
    stored = client.get(f"/v1/feedback/{item_id}", headers=tenant.headers).json()["metadata"]
    assert "lan@example.vn" not in str(stored) and "0912" not in str(stored)
    assert stored["n"] == 3 and set(stored["contact"]) == {"email", "phones"}
