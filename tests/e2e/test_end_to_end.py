"""From HTTP post to webhook received, through a real Celery worker process.

Runs over the embedded broker (a queue in Postgres) and, when
LANGNGHE_TEST_REDIS_URL is set, over Redis too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from langnghe.config import Settings
from tests.conftest import TenantKey
from tests.e2e.receiver import WebhookReceiver
from tests.helpers import running_api, wait_until
from workers.concurrency import available_cores, encoder_threads
from workers.health import read_health

pytestmark = pytest.mark.e2e

SECRET = "e2e-secret-0123456789"

VI_COMPLAINTS = [
    "Giao hàng quá chậm, đặt từ tuần trước mà giờ vẫn chưa nhận được",
    "Sản phẩm bị lỗi ngay khi mở hộp, tôi muốn đổi trả",
    "Nhân viên thái độ rất tệ, không bao giờ mua ở đây nữa",
    "sp kém chất lượng, ship lâu, ko hài lòng",
    "Tôi bị trừ tiền hai lần mà chưa được hoàn lại",
]
VI_PRAISE = [
    "Hàng đẹp, giao nhanh, rất hài lòng",
    "Nhân viên tư vấn nhiệt tình, sẽ ủng hộ tiếp",
    "Chất lượng tuyệt vời so với giá tiền",
    "sp tot, dong goi can than, cam on shop",
    "Ứng dụng dễ dùng, thanh toán nhanh gọn",
]
EN_COMPLAINTS = [
    "My order is two weeks late and nobody answers my emails",
    "The product broke after one day, I want a refund",
    "Your support agent was rude and hung up on me",
    "I was charged twice and still have not been refunded",
    "The app keeps crashing when I try to pay, terrible",
]
EN_PRAISE = [
    "Fast delivery and great quality, thank you",
    "The staff were friendly and helpful",
    "Excellent value for money, will buy again",
    "Love the new app, checkout is so smooth",
    "Customer service solved my problem in minutes",
]
TEXTS = VI_COMPLAINTS + VI_PRAISE + EN_COMPLAINTS + EN_PRAISE


def _items(prefix: str, count: int, channel: str = "review") -> list[dict[str, object]]:
    return [
        {
            "text": TEXTS[n % len(TEXTS)] + f" (#{n})",
            "channel": channel,
            "external_id": f"{prefix}-{n}",
        }
        for n in range(count)
    ]


REDIS_URL = os.environ.get("LANGNGHE_TEST_REDIS_URL")


@pytest.fixture(params=["embedded", *(["redis"] if REDIS_URL else [])])
def broker_url(request: pytest.FixtureRequest) -> str | None:
    """None: the embedded broker (a queue in Postgres); else the test Redis, emptied."""
    if request.param == "embedded":
        return None
    assert REDIS_URL
    redis.Redis.from_url(REDIS_URL).flushdb()
    return REDIS_URL


@pytest.fixture
def settings(database_url: str, broker_url: str | None, tmp_path: Path) -> Settings:
    """Fast sweeps and retries, so recovery happens within the test's time."""
    return Settings(
        database_url=database_url,
        broker_url=broker_url,
        data_dir=tmp_path,
        sweep_interval_s=1,
        pending_grace_s=3,
        processing_timeout_s=6,
        deliver_interval_s=1,
        delivery_backoff_base_s=1,
        delivery_backoff_max_s=2,
        analyze_batch_size=25,
        webhook_allowed_networks="127.0.0.0/8,::1/128",
    )


@contextmanager
def worker_process(
    settings: Settings, log: Path, *options: str
) -> Iterator[subprocess.Popen[bytes]]:
    """A real `langnghe worker --beat [options]` process with these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANGNGHE_")}
    for name, value in settings.model_dump().items():
        if value is not None:
            env[f"LANGNGHE_{name.upper()}"] = str(value)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "langnghe", "worker", "--beat", *options],
            env=env,
            stdout=out,
            stderr=out,
            # Its own process group, so the test can kill the pool children with it.
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def _status_counts(database_url: str, tenant: TenantKey) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM feedback WHERE tenant_id = %s GROUP BY status",
            (tenant.id,),
        ).fetchall()
    return {status: count for status, count in rows}


def test_posted_feedback_is_analysed_and_complaints_reach_the_webhook(
    settings: Settings, tenant: TenantKey, tmp_path: Path
) -> None:
    assert settings.database_url
    with (
        WebhookReceiver(SECRET) as receiver,
        running_api(settings) as api_url,
        httpx.Client(base_url=api_url, headers=tenant.headers, timeout=30) as client,
    ):
        created = client.post(
            "/v1/webhooks",
            json={"url": receiver.url, "event_types": ["complaint.flagged"], "secret": SECRET},
        )
        assert created.status_code == 201
        posted = client.post("/v1/feedback", json={"items": _items("e2e", 50)}).json()
        assert posted["accepted"] == 50
        repost = client.post("/v1/feedback", json={"items": _items("e2e", 50)}).json()
        assert repost["duplicates"] == 50 and repost["accepted"] == 0

        with worker_process(settings, tmp_path / "worker.log"):
            wait_until(
                lambda: _status_counts(settings.database_url or "", tenant).get("done") == 50,
                120,
                "50 items analysed",
            )
            # The tenant's flagging policy decides what is a complaint (the default policy
            # includes every item the complaint head fires on).
            flagged = client.get("/v1/complaints", params={"limit": 100}).json()["items"]
            assert flagged, "no complaint was flagged among clear complaints"
            expected = {f["feedback_id"] for f in flagged}
            head = client.get("/v1/feedback", params={"complaint": "true", "limit": 100}).json()
            assert {f["id"] for f in head["items"]} <= expected
            wait_until(
                lambda: (
                    {d["data"]["feedback_id"] for d in receiver.received.deliveries} >= expected
                ),
                60,
                "every complaint.flagged event delivered",
            )
        assert receiver.received.bad_signatures == 0
        delivered = {d["data"]["feedback_id"] for d in receiver.received.deliveries}
        assert delivered == expected
        assert _status_counts(settings.database_url, tenant) == {"done": 50}
        events = client.get(
            "/v1/events", params={"limit": 1000, "type": "feedback.analyzed"}
        ).json()
        assert len({e["data"]["feedback_id"] for e in events["events"]}) == 50
        assert len(events["events"]) == 50


def test_a_worker_killed_mid_batch_loses_nothing(
    settings: Settings, tenant: TenantKey, tmp_path: Path
) -> None:
    assert settings.database_url
    long_items = [
        {**item, "text": " ".join([str(item["text"])] * 12)} for item in _items("kill", 150)
    ]
    with (
        running_api(settings) as api_url,
        httpx.Client(base_url=api_url, headers=tenant.headers, timeout=30) as client,
    ):
        assert client.post("/v1/feedback", json={"items": long_items}).json()["accepted"] == 150
        with worker_process(settings, tmp_path / "worker-1.log") as first:
            wait_until(
                lambda: (
                    _status_counts(settings.database_url or "", tenant).get("processing", 0) > 0
                ),
                60,
                "the worker to start a batch",
            )
            # The whole worker dies at once, pool children included, as when its host goes down.
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
        at_kill = _status_counts(settings.database_url, tenant)
        assert at_kill.get("done", 0) < 150, "the worker finished before it was killed"
        with worker_process(settings, tmp_path / "worker-2.log"):
            wait_until(
                lambda: _status_counts(settings.database_url or "", tenant).get("done") == 150,
                180,
                "every item analysed after the kill",
            )
        with psycopg.connect(settings.database_url) as conn:
            analyses = conn.execute(
                "SELECT count(*) FROM analyses WHERE tenant_id = %s", (tenant.id,)
            ).fetchone()
            analyzed_events = conn.execute(
                "SELECT count(*), count(DISTINCT payload->>'feedback_id') FROM events "
                "WHERE tenant_id = %s AND type = 'feedback.analyzed'",
                (tenant.id,),
            ).fetchone()
        assert analyses == (150,)
        assert analyzed_events == (150, 150)


def test_up_s_prefork_worker_shares_the_cores_and_analyses_everything(
    settings: Settings, tenant: TenantKey, tmp_path: Path
) -> None:
    # What `langnghe up` runs: a process per core, each with the encoder on its share of the
    # cores (one core here is still two processes, so that prefork itself is exercised).
    assert settings.database_url
    processes = max(2, available_cores())
    with (
        WebhookReceiver(SECRET) as receiver,
        running_api(settings) as api_url,
        httpx.Client(base_url=api_url, headers=tenant.headers, timeout=30) as client,
    ):
        created = client.post(
            "/v1/webhooks",
            json={"url": receiver.url, "event_types": ["feedback.analyzed"], "secret": SECRET},
        )
        assert created.status_code == 201
        assert client.post("/v1/feedback", json={"items": _items("pf", 60)}).json()["accepted"]
        options = ["--concurrency", str(processes), "--pool", "prefork"]
        with worker_process(settings, tmp_path / "worker.log", *options):
            wait_until(
                lambda: len(read_health(settings.data_dir)) == processes, 120, "every process"
            )
            wait_until(
                lambda: _status_counts(settings.database_url or "", tenant).get("done") == 60,
                120,
                "60 items analysed",
            )
            wait_until(
                lambda: len({d["id"] for d in receiver.received.deliveries}) == 60,
                60,
                "every feedback.analyzed event delivered",
            )
            health = read_health(settings.data_dir)
    assert len({h["pid"] for h in health}) == processes
    assert {h["threads"] for h in health} == {encoder_threads(processes)}
    assert _status_counts(settings.database_url, tenant) == {"done": 60}
