"""Delivery hardening on a real Postgres and a real HTTP receiver: filters, the SSRF
guard at delivery time, the delivery log, replays and secret rotation."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest

from store.db import Database
from tests.conftest import TenantKey
from tests.e2e.receiver import WebhookReceiver
from tests.integration.scripted import ScriptedAnalyzer
from workers.analysis import analyze_batch
from workers.delivery import deliver_due
from workers.ssrf import TargetGuard, parse_networks

pytestmark = pytest.mark.integration

SECRET = "delivery-secret-0123456789"
LOOPBACK = TargetGuard(allowed_networks=parse_networks("127.0.0.0/8"))


def _deliver(
    db: Database, max_attempts: int = 3, guard: TargetGuard = LOOPBACK, backoff_s: int = 1
) -> None:
    deliver_due(
        db,
        timeout_s=5,
        max_attempts=max_attempts,
        backoff_base_s=backoff_s,
        backoff_max_s=backoff_s,
        guard=guard,
    )


def _analyse(
    client: httpx.Client, db: Database, tenant: TenantKey, items: list[dict[str, Any]]
) -> list[str]:
    response = client.post("/v1/feedback", json={"items": items}, headers=tenant.headers)
    ids = [i["id"] for i in response.json()["items"]]
    analyze_batch(db, ScriptedAnalyzer(), [UUID(i) for i in ids], max_attempts=5)
    return ids


def _subscribe(client: httpx.Client, tenant: TenantKey, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/webhooks", json={"secret": SECRET, **body}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_private_targets_are_refused_unless_allowed(
    client: httpx.Client, tenant: TenantKey
) -> None:
    for url in ("http://10.0.0.5/x", "http://169.254.169.254/latest", "http://[fe80::1]/x"):
        response = client.post(
            "/v1/webhooks", json={"url": url, "event_types": ["*"]}, headers=tenant.headers
        )
        assert response.status_code == 422 and response.json()["error"]["code"] == "unsafe_url"
    # The test server allows loopback explicitly (LANGNGHE_WEBHOOK_ALLOWED_NETWORKS).
    _subscribe(client, tenant, url="http://localhost:9/x", event_types=["*"])


def test_the_guard_is_checked_again_at_delivery_time(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    with WebhookReceiver(SECRET) as receiver:
        hook = _subscribe(client, tenant, url=receiver.url, event_types=["feedback.analyzed"])
        _analyse(client, db, tenant, [{"text": "pos", "channel": "review"}])
        # The operator no longer allows loopback. A long backoff keeps the retry from falling
        # due again within this same call (full jitter can draw a delay near zero).
        _deliver(db, guard=TargetGuard(), backoff_s=3600)
        assert receiver.received.deliveries == []
        log = client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=tenant.headers).json()
        (delivery,) = log["items"]
        assert "SSRF guard" in delivery["last_error"] and delivery["status"] == "pending"


def test_subscriptions_filter_by_type_and_minimum_priority(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    with WebhookReceiver(SECRET) as receiver:
        _subscribe(
            client, tenant, url=receiver.url, event_types=["complaint.flagged"], min_priority="p2"
        )
        ids = _analyse(
            client,
            db,
            tenant,
            [
                {"text": "angry sev=high churn", "channel": "social"},  # p1
                {"text": "complaint", "channel": "email"},  # p4
                {"text": "pos", "channel": "review"},  # not a complaint
            ],
        )
        _deliver(db)
    received = receiver.received.deliveries
    assert [(d["type"], d["data"]["feedback_id"]) for d in received] == [
        ("complaint.flagged", ids[0])
    ]
    assert receiver.received.bad_signatures == 0


def test_dead_letter_then_replay_then_log(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    h = tenant.headers
    with WebhookReceiver(SECRET) as receiver:
        hook = _subscribe(client, tenant, url=receiver.url, event_types=["feedback.analyzed"])
        receiver.fail_with = 503
        _analyse(client, db, tenant, [{"text": "pos", "channel": "review"}])
        _deliver(db, max_attempts=1)
        (dead,) = client.get(
            f"/v1/webhooks/{hook['id']}/deliveries", params={"status": "dead"}, headers=h
        ).json()["items"]
        bad = client.get(
            f"/v1/webhooks/{hook['id']}/deliveries", params={"cursor": "not-ours"}, headers=h
        )
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_cursor"
        detail = client.get(f"/v1/deliveries/{dead['id']}", headers=h).json()
        assert detail["last_status_code"] == 503
        assert [a["status_code"] for a in detail["attempt_log"]] == [503]
        receiver.fail_with = None
        replayed = client.post(f"/v1/deliveries/{dead['id']}/replay", headers=h)
        assert replayed.status_code == 200 and replayed.json()["status"] == "pending"
        again = client.post(f"/v1/deliveries/{dead['id']}/replay", headers=h)
        assert again.status_code == 409 and again.json()["error"]["code"] == "still_pending"
        _deliver(db)
        detail = client.get(f"/v1/deliveries/{dead['id']}", headers=h).json()
        assert detail["status"] == "succeeded"
        assert [a["status_code"] for a in detail["attempt_log"]] == [503, 200]
    assert len(receiver.received.deliveries) == 1
    missing = client.post("/v1/deliveries/00000000-0000-0000-0000-000000000000/replay", headers=h)
    assert missing.status_code == 404


def test_replay_every_event_since_a_cursor(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    h = tenant.headers
    _analyse(client, db, tenant, [{"text": f"pos {n}", "channel": "review"} for n in range(6)])
    events = client.get("/v1/events", params={"type": "feedback.analyzed"}, headers=h).json()
    seqs = [e["seq"] for e in events["events"]]
    with WebhookReceiver(SECRET) as receiver:
        # Subscribed after the events were written: only a replay brings them.
        hook = _subscribe(client, tenant, url=receiver.url, event_types=["feedback.analyzed"])
        replay = client.post(
            f"/v1/webhooks/{hook['id']}/replay", json={"after": seqs[1]}, headers=h
        ).json()
        assert replay == {"queued": 4, "last_seq": seqs[-1]}
        _deliver(db)
        again = client.post(f"/v1/webhooks/{hook['id']}/replay", json={"after": 0}, headers=h)
        assert again.json()["queued"] == 6
        _deliver(db)
    got = [d["seq"] for d in receiver.received.deliveries]
    assert sorted(set(got)) == seqs and len(got) == 4 + 6
    bad = client.post(f"/v1/webhooks/{hook['id']}/replay", json={"after": -1}, headers=h)
    assert bad.status_code == 422


def test_secret_rotation_signs_with_both_during_the_grace_period(
    client: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    h = tenant.headers
    with WebhookReceiver(SECRET) as old_receiver:
        hook = _subscribe(client, tenant, url=old_receiver.url, event_types=["feedback.analyzed"])
        rotated = client.post(
            f"/v1/webhooks/{hook['id']}/rotate-secret", json={"grace_s": 3600}, headers=h
        ).json()
        assert rotated["secret"] != SECRET and rotated["previous_secret_expires_at"]
        _analyse(client, db, tenant, [{"text": "pos a", "channel": "review"}])
        _deliver(db)
        # A receiver still on the old secret accepts; one on the new secret would too.
        assert len(old_receiver.received.deliveries) == 1
        assert old_receiver.received.bad_signatures == 0
        old_receiver.secret = rotated["secret"]
        client.post(f"/v1/webhooks/{hook['id']}/rotate-secret", json={"grace_s": 0}, headers=h)
        _analyse(client, db, tenant, [{"text": "pos b", "channel": "review"}])
        _deliver(db, max_attempts=1)
        # Grace 0: only the newest secret signs, and the receiver still has the previous one.
        assert old_receiver.received.bad_signatures == 1
    missing = client.post(
        "/v1/webhooks/00000000-0000-0000-0000-000000000000/rotate-secret", headers=h
    )
    assert missing.status_code == 404
