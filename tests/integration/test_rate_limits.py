"""Rate limits, items/day quotas, login throttling and a fair share of the workers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from uuid import UUID

import httpx
import pytest
from celery import Celery

from langnghe.config import Settings
from store import dispatch
from store import keys as keys_store
from store.db import Database
from tests.conftest import TenantKey
from tests.helpers import running_api
from tests.integration.scripted import ScriptedAnalyzer
from workers.analysis import analyze_batch
from workers.celery_app import QUEUE
from workers.enqueue import dispatch_waiting, enqueue_fair

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def limited(api_settings: Settings) -> Iterator[httpx.Client]:
    """A server of its own, with limits small enough to reach in a test."""
    settings = api_settings.model_copy(
        update={
            "rate_key_per_s": 5,
            "rate_tenant_per_s": 8,
            "quota_key_items_per_day": 6,
            "quota_tenant_items_per_day": 10,
            "login_max_failures": 5,
            "login_lockout_s": 60,
        }
    )
    with running_api(settings) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield http


def _error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    return dict(error)


def test_requests_per_second_per_key_then_per_tenant(
    limited: httpx.Client, tenant: TenantKey, db: Database
) -> None:
    with db.transaction() as conn:
        second, _ = keys_store.create_key(conn, tenant.id, "second", ["read"])
    statuses = [limited.get("/v1/events", headers=tenant.headers).status_code for _ in range(7)]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]
    refused = limited.get("/v1/events", headers=tenant.headers)
    error = _error(refused, 429, "rate_limited")
    assert "key" in str(error["message"])
    assert 1 <= int(refused.headers["retry-after"]) <= 2
    # Another key of the same tenant still has its own share, up to the tenant's 8/s.
    other = [
        limited.get("/v1/events", headers={"Authorization": f"Bearer {second}"}).status_code
        for _ in range(5)
    ]
    assert 200 in other and other[-1] == 429
    time.sleep(1.1)
    assert limited.get("/v1/events", headers=tenant.headers).status_code == 200


def test_items_per_day_quota_refuses_the_batch_whole(
    limited: httpx.Client, tenant: TenantKey, db: Database
) -> None:
    def post(n: int, start: int, key: str = tenant.key) -> httpx.Response:
        items = [
            {"text": f"item {start + i}", "channel": "review", "external_id": f"q-{start + i}"}
            for i in range(n)
        ]
        time.sleep(0.25)  # stay under the requests/s limit: this test is about items
        return limited.post(
            "/v1/feedback", json={"items": items}, headers={"Authorization": f"Bearer {key}"}
        )

    assert post(4, 0).status_code == 202
    refused = post(3, 4)
    error = _error(refused, 429, "quota_exceeded")
    assert error["details"] == {
        "retry_after_s": int(refused.headers["retry-after"]),
        "scope": "key",
        "limit": 6,
        "used": 4,
    }
    assert 0 < int(refused.headers["retry-after"]) <= 86_400
    # Refused whole: nothing of that batch was stored; duplicates are not counted.
    assert post(2, 4).status_code == 202
    assert post(6, 0).json()["duplicates"] == 6
    with db.transaction() as conn:
        stored = conn.execute(
            "SELECT count(*) AS n FROM feedback WHERE tenant_id = %s", (tenant.id,)
        ).fetchone()
        other, _ = keys_store.create_key(conn, tenant.id, "other", ["ingest"])
    assert stored is not None and stored["n"] == 6
    # A second key has its own 6, but the tenant's 10 a day caps both together.
    assert post(4, 10, other).status_code == 202
    _error(post(1, 20, other), 429, "quota_exceeded")


def _login(client: httpx.Client, key: str, ip: str | None = None) -> httpx.Response:
    page = client.get("/dashboard/login")
    token = page.cookies["lng_login_csrf"]
    return client.post(
        "/dashboard/login",
        data={"csrf": token, "api_key": key, "next": "/dashboard/topics"},
        cookies={"lng_login_csrf": token},
        headers={"X-Forwarded-For": ip} if ip else {},
        follow_redirects=False,
    )


def test_login_throttling_per_ip_and_per_tenant(api_settings: Settings, tenant: TenantKey) -> None:
    settings = api_settings.model_copy(update={"login_max_failures": 10, "login_lockout_s": 60})
    with running_api(settings) as url, httpx.Client(base_url=url, timeout=30) as http:
        started = time.perf_counter()
        statuses = [_login(http, f"lng_wrong{n:04d}").status_code for n in range(200)]
        elapsed = time.perf_counter() - started
        print(
            f"200 wrong keys: {statuses.count(401)} x 401, {statuses.count(429)} x 429, "
            f"{elapsed:.2f} s"
        )
        assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}
        refused = _login(http, tenant.key)
        _error(refused, 429, "too_many_login_failures")
        assert int(refused.headers["retry-after"]) >= 1

    # Per tenant: guesses that carry a tenant's public key prefix lock that tenant's logins,
    # whatever address they come from (uvicorn takes X-Forwarded-For from loopback).
    strict = settings.model_copy(update={"login_max_failures": 3})
    with running_api(strict) as url, httpx.Client(base_url=url, timeout=30) as http:
        guesses = [
            _login(http, tenant.key[:12] + f"guess{n}", f"10.0.0.{n}").status_code for n in range(4)
        ]
        assert guesses == [401, 401, 401, 429]
        _error(_login(http, tenant.key, "10.0.1.1"), 429, "too_many_login_failures")
        # Another address with a key that names no tenant is not locked out.
        assert _login(http, "lng_nobody", "10.0.1.2").status_code == 401


def test_ingest_only_key_cannot_log_in(
    limited: httpx.Client, tenant: TenantKey, db: Database
) -> None:
    with db.transaction() as conn:
        ingest, _ = keys_store.create_key(conn, tenant.id, "crm", ["ingest"])
    response = _login(limited, ingest)
    assert response.status_code == 401 and "ingest" in response.text


def _drain_one(app: Celery, db: Database) -> list[UUID]:
    """Take the next analysis message off the real (in-memory) broker and run it."""
    with app.connection_for_read() as conn:
        queue = conn.SimpleQueue(QUEUE)
        message = queue.get(timeout=5)
        message.ack()
        queue.close()
    # Celery's message body is (args, kwargs, embed); analyze's one argument is the ids.
    ids = [UUID(i) for i in message.payload[0][0]]
    analyze_batch(db, ScriptedAnalyzer(), ids, max_attempts=3)
    dispatch_waiting(db, app, batch_size=16, max_inflight=32)
    return ids


def test_second_tenant_is_analysed_while_the_first_has_a_big_backlog(
    db: Database, tenant: TenantKey
) -> None:
    from store import feedback as feedback_store

    with db.transaction() as conn:
        row = conn.execute(
            "INSERT INTO tenants (name) VALUES (gen_random_uuid()::text) RETURNING id"
        ).fetchone()
        assert row is not None
        small = UUID(str(row["id"]))

    def store(tenant_id: UUID, n: int) -> list[UUID]:
        items = [
            feedback_store.NewFeedback(source="t", channel="review", text=f"x {i}")
            for i in range(n)
        ]
        with db.transaction() as conn:
            return [i.id for i in feedback_store.insert_feedback(conn, tenant_id, items)]

    app = Celery(broker="memory://")
    app.conf.task_default_queue = QUEUE
    big_ids = store(tenant.id, 1000)
    queued = enqueue_fair(db, app, tenant.id, big_ids, batch_size=16, max_inflight=32)
    small_ids = store(small, 5)
    assert enqueue_fair(db, app, small, small_ids, batch_size=16, max_inflight=32) == 5
    assert queued == 32
    with db.transaction() as conn:
        assert dispatch.waiting_count(conn, tenant.id) == 1000 - 32

    batches = 0
    while True:
        batches += 1
        done = _drain_one(app, db)
        if set(small_ids) <= set(done):
            break
    with db.transaction() as conn:
        big_left = conn.execute(
            "SELECT count(*) AS n FROM feedback WHERE tenant_id = %s AND status <> 'done'",
            (tenant.id,),
        ).fetchone()
    print(
        f"the small tenant's items were analysed in batch {batches}; "
        f"{big_left['n'] if big_left else '?'} of the big tenant's 1000 still waiting"
    )
    # Without a share the small tenant would wait behind all 63 batches of the big one.
    assert batches <= 3
    assert big_left is not None and big_left["n"] >= 1000 - 3 * 16
    # And the big tenant still gets everything analysed, in turn.
    while True:
        with db.transaction() as conn:
            if (
                dispatch.waiting_count(conn, tenant.id) == 0
                and not conn.execute(
                    "SELECT 1 FROM feedback WHERE tenant_id = %s AND status <> 'done' LIMIT 1",
                    (tenant.id,),
                ).fetchone()
            ):
                break
        _drain_one(app, db)
