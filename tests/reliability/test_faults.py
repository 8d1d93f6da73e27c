"""Faults on real servers: a webhook target down, Postgres restarted, the Redis broker killed.

Each test starts its own API (in-process uvicorn), a real `langnghe worker --beat`
process, and the servers it breaks (private to the test). Each is bounded in time
and prints what it counted, so the figures can be quoted.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from langnghe.config import Settings
from store import tenants as tenants_store
from store.db import Database
from store.migrate import apply_migrations
from tests.conftest import TenantKey
from tests.e2e.test_end_to_end import TEXTS, worker_process
from tests.helpers import running_api, wait_until
from tests.reliability.servers import FlakyReceiver, private_postgres, private_redis

pytestmark = pytest.mark.reliability

SECRET = "reliability-secret-0123456789"


def _settings(database_url: str, broker_url: str | None, data_dir: Path) -> Settings:
    return Settings(
        database_url=database_url,
        broker_url=broker_url,
        data_dir=data_dir,
        sweep_interval_s=1,
        pending_grace_s=3,
        processing_timeout_s=8,
        deliver_interval_s=1,
        delivery_backoff_base_s=1,
        delivery_backoff_max_s=2,
        delivery_max_attempts=30,
        delivery_timeout_s=3,
        analyze_batch_size=10,
        webhook_allowed_networks="127.0.0.0/8",
        log_level="WARNING",
    )


def _items(prefix: str, count: int, offset: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "text": f"{TEXTS[(offset + n) % len(TEXTS)]} ({prefix} {n})",
            "channel": "review",
            "external_id": f"{prefix}-{n}",
        }
        for n in range(count)
    ]


def _counts(database_url: str, tenant_id: Any) -> dict[str, int]:
    """What the database holds for the tenant, for reconciliation."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            """
            SELECT (SELECT count(*) FROM feedback WHERE tenant_id = %(t)s) AS items,
                   (SELECT count(*) FROM feedback WHERE tenant_id = %(t)s AND status = 'done')
                       AS done,
                   (SELECT count(*) FROM analyses WHERE tenant_id = %(t)s) AS analyses,
                   (SELECT count(*) FROM events WHERE tenant_id = %(t)s) AS events,
                   (SELECT count(*) FROM events WHERE tenant_id = %(t)s
                      AND type = 'feedback.analyzed') AS analyzed_events,
                   (SELECT count(*) FROM complaints WHERE tenant_id = %(t)s) AS complaints,
                   (SELECT count(*) FROM events WHERE tenant_id = %(t)s
                      AND type = 'complaint.flagged') AS flagged_events,
                   (SELECT count(*) FROM deliveries WHERE tenant_id = %(t)s) AS deliveries,
                   (SELECT count(*) FROM deliveries WHERE tenant_id = %(t)s
                      AND status = 'succeeded') AS delivered,
                   (SELECT count(*) FROM deliveries WHERE tenant_id = %(t)s
                      AND status = 'dead') AS dead,
                   (SELECT COALESCE(sum(attempts), 0) FROM deliveries WHERE tenant_id = %(t)s)
                       AS attempts,
                   (SELECT count(*) FROM deliveries WHERE tenant_id = %(t)s
                      AND status = 'pending' AND last_status_code IS NULL
                      AND last_error IS NOT NULL) AS failed_unreachable
            """,
            {"t": tenant_id},
        ).fetchone()
    assert row is not None
    names = (
        "items",
        "done",
        "analyses",
        "events",
        "analyzed_events",
        "complaints",
        "flagged_events",
        "deliveries",
        "delivered",
        "dead",
        "attempts",
        "failed_unreachable",
    )
    return dict(zip(names, (int(v) for v in row), strict=True))


def _event_ids(database_url: str, tenant_id: Any) -> set[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT id FROM events WHERE tenant_id = %s", (tenant_id,)).fetchall()
    return {str(r[0]) for r in rows}


def _assert_delivered_once_after_dedupe(
    receiver: FlakyReceiver, database_url: str, tenant_id: Any
) -> dict[str, int]:
    ids = receiver.log.ids()
    expected = _event_ids(database_url, tenant_id)
    copies = Counter(ids)
    assert set(copies) == expected, "every event arrives, and nothing else"
    assert receiver.log.bad_signatures == 0
    return {
        "events": len(expected),
        "received_posts": len(ids),
        "duplicates": len(ids) - len(copies),
        "after_dedupe": len(copies),
    }


def test_webhook_target_down_then_back_gets_every_event(
    database_url: str, tenant: TenantKey, tmp_path: Path
) -> None:
    settings = _settings(database_url, None, tmp_path)
    receiver = FlakyReceiver(SECRET)
    receiver.up()
    receiver.lose_acks = 5  # the first answers are lost after the consumer processed them
    with (
        running_api(settings) as api_url,
        httpx.Client(base_url=api_url, headers=tenant.headers, timeout=30) as client,
        worker_process(settings, tmp_path / "worker.log"),
    ):
        hook = client.post(
            "/v1/webhooks", json={"url": receiver.url, "event_types": ["*"], "secret": SECRET}
        )
        assert hook.status_code == 201
        assert client.post("/v1/feedback", json={"items": _items("up", 10)}).json()["accepted"]
        wait_until(lambda: len(receiver.log.ids()) >= 5, 120, "first deliveries")
        receiver.down()
        down_at = time.monotonic()
        assert (
            client.post("/v1/feedback", json={"items": _items("down", 30)}).json()["accepted"] == 30
        )
        wait_until(lambda: _counts(database_url, tenant.id)["done"] == 40, 180, "all 40 analysed")
        # Stay down until deliveries have failed against the closed port.
        wait_until(
            lambda: _counts(database_url, tenant.id)["failed_unreachable"] >= 10,
            60,
            "deliveries failing while the target is down",
        )
        time.sleep(max(0.0, 5 - (time.monotonic() - down_at)))
        failed_while_down = _counts(database_url, tenant.id)
        receiver.up()
        wait_until(
            lambda: (c := _counts(database_url, tenant.id))["delivered"] == c["deliveries"],
            120,
            "every delivery succeeded after the target came back",
        )
    receiver.down()
    final = _counts(database_url, tenant.id)
    figures = _assert_delivered_once_after_dedupe(receiver, database_url, tenant.id)
    assert final["items"] == final["done"] == final["analyses"] == final["analyzed_events"] == 40
    assert final["complaints"] == final["flagged_events"]
    assert final["dead"] == 0 and final["deliveries"] == final["events"]
    assert figures["duplicates"] >= 5  # the lost answers were retried
    print(
        f"\n[target down] while down: {failed_while_down}; final: {final}; receiver: {figures}; "
        f"lost acks: {receiver.log.lost_acks}"
    )


def _post_until_accepted(
    client: httpx.Client, batches: list[list[dict[str, Any]]], tally: Counter[str]
) -> None:
    """Post each batch, retrying refused ones with the same external ids (idempotent)."""
    for batch in batches:
        deadline = time.monotonic() + 120
        while True:
            try:
                response = client.post("/v1/feedback", json={"items": batch})
            except httpx.HTTPError:
                tally["transport_errors"] += 1
            else:
                if response.status_code == 202:
                    body = response.json()
                    tally["accepted"] += body["accepted"]
                    tally["duplicates"] += body["duplicates"]
                    break
                assert response.status_code == 503, response.text
                assert response.json()["error"]["code"] == "database_unavailable"
                tally["refused_503"] += 1
            if time.monotonic() > deadline:
                raise AssertionError("the API did not accept a batch within 120 s")
            time.sleep(0.2)
        # A steady trickle, so the restart lands in the middle of ingestion.
        time.sleep(0.2)


def _tenant_on(database_url: str) -> TenantKey:
    db = Database(database_url, 1, 1)
    db.open()
    try:
        with db.transaction() as conn:
            created = tenants_store.create_tenant(conn, "faults")
            key = tenants_store.create_api_key(conn, created.id, "faults")
    finally:
        db.close()
    return TenantKey(created.id, "faults", key)


def test_postgres_restarts_during_ingestion_and_delivery_lose_nothing(tmp_path: Path) -> None:
    receiver = FlakyReceiver(SECRET)
    receiver.up()
    with private_postgres() as pg, private_redis() as broker:
        apply_migrations(pg.url)
        tenant = _tenant_on(pg.url)
        settings = _settings(pg.url, broker.url, tmp_path)
        batches = [_items(f"b{b}", 3, offset=3 * b) for b in range(30)]
        tally: Counter[str] = Counter()
        with (
            running_api(settings) as api_url,
            httpx.Client(base_url=api_url, headers=tenant.headers, timeout=10) as client,
            worker_process(settings, tmp_path / "worker.log"),
        ):
            assert (
                client.post(
                    "/v1/webhooks",
                    json={"url": receiver.url, "event_types": ["*"], "secret": SECRET},
                ).status_code
                == 201
            )
            poster = threading.Thread(target=_post_until_accepted, args=(client, batches, tally))
            poster.start()
            # Fault 1: during ingestion.
            wait_until(lambda: tally["accepted"] >= 15, 60, "ingestion under way")
            pg.stop()
            # Longer than the client's 5 s timeout: requests waiting for a connection time
            # out on the client side, and may still commit once the server is back.
            time.sleep(8)
            pg.start()
            poster.join(timeout=180)
            assert not poster.is_alive()
            # Fault 2: during analysis and delivery.
            wait_until(lambda: _counts(pg.url, tenant.id)["delivered"] > 0, 120, "deliveries")
            during_delivery = _counts(pg.url, tenant.id)
            pg.stop()
            time.sleep(3)
            pg.start()
            wait_until(
                lambda: (
                    (c := _counts(pg.url, tenant.id))["done"] == 90
                    and c["delivered"] == c["deliveries"] == c["events"]
                ),
                240,
                "all 90 analysed and every event delivered after the restarts",
            )
        final = _counts(pg.url, tenant.id)
        figures = _assert_delivered_once_after_dedupe(receiver, pg.url, tenant.id)
    receiver.down()
    # The client saw the outage (refused or failed requests), retried, and in the end
    # every batch was accepted once: a retry of a batch that had committed is a duplicate.
    assert tally["refused_503"] + tally["transport_errors"] > 0
    # A batch whose answer the client missed may have committed: its retry reports the
    # items as duplicates, never stores them twice.
    assert tally["accepted"] <= 90 <= tally["accepted"] + tally["duplicates"]
    assert final["items"] == final["done"] == final["analyses"] == final["analyzed_events"] == 90
    assert final["complaints"] == final["flagged_events"] and final["dead"] == 0
    print(
        f"\n[postgres restarts] client: {dict(tally)}; at the delivery-time restart: "
        f"{during_delivery}; final: {final}; receiver: {figures}"
    )


def test_redis_broker_killed_mid_run_loses_nothing(
    database_url: str, tenant: TenantKey, tmp_path: Path
) -> None:
    with private_redis() as broker:
        settings = _settings(database_url, broker.url, tmp_path)
        with (
            running_api(settings) as api_url,
            httpx.Client(base_url=api_url, headers=tenant.headers, timeout=30) as client,
            worker_process(settings, tmp_path / "worker.log"),
        ):
            assert (
                client.post("/v1/feedback", json={"items": _items("r1", 40)}).json()["accepted"]
                == 40
            )
            wait_until(lambda: _counts(database_url, tenant.id)["done"] > 0, 120, "analysis")
            at_kill = _counts(database_url, tenant.id)
            broker.kill()  # queued analyze messages die with it
            # Accepted while the broker is down: committed, the enqueue fails, the sweep
            # must pick them up.
            down = client.post("/v1/feedback", json={"items": _items("r2", 20)})
            assert down.status_code == 202 and down.json()["accepted"] == 20
            time.sleep(2)
            broker.start()
            wait_until(
                lambda: _counts(database_url, tenant.id)["done"] == 60,
                240,
                "all 60 analysed after the broker came back empty",
            )
    final = _counts(database_url, tenant.id)
    assert at_kill["done"] < 60
    assert final["items"] == final["done"] == final["analyses"] == final["analyzed_events"] == 60
    assert final["complaints"] == final["flagged_events"]
    print(f"\n[redis killed] at the kill: {at_kill}; final: {final}")
