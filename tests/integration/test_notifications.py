"""Notification channels end to end on a real Postgres and real servers: the API, the
outbox fan-out with routing rules, quiet hours, the rate limit and batching, Slack and
Teams fakes that check the documented request shapes (and answer 429/5xx), and an
aiosmtpd server whose received MIME messages are parsed."""

from __future__ import annotations

import time as clock
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
import pytest

from langnghe.config import Settings
from langnghe.secrets import new_key
from store.db import Database
from tests.conftest import TenantKey
from tests.helpers import running_api
from tests.integration.chat_servers import SmtpServer, self_signed, slack_server, teams_server
from tests.integration.scripted import ScriptedAnalyzer
from workers.analysis import analyze_batch
from workers.delivery import deliver_due
from workers.notifications import Notifier, queue_digests
from workers.ssrf import TargetGuard, parse_networks

pytestmark = pytest.mark.integration

LOOPBACK = TargetGuard(allowed_networks=parse_networks("127.0.0.0/8"))
PUBLIC_URL = "https://langnghe.example.vn"
SLOW = "giao hàng chậm"  # "slow delivery"


@pytest.fixture(scope="module")
def keyed_settings(api_settings: Settings) -> Settings:
    """The test server's settings with LANGNGHE_SECRET_KEY and a public URL set."""
    return api_settings.model_copy(update={"secret_key": new_key(), "public_url": PUBLIC_URL})


@pytest.fixture(scope="module")
def keyed_url(keyed_settings: Settings) -> Iterator[str]:
    """A test API server that can store secrets."""
    with running_api(keyed_settings) as url:
        yield url


@pytest.fixture
def api(keyed_url: str) -> Iterator[httpx.Client]:
    """A client of the server with a secret key."""
    with httpx.Client(base_url=keyed_url, timeout=30) as http:
        yield http


def _deliver(db: Database, settings: Settings, backoff_max_s: int = 1) -> tuple[int, int]:
    return deliver_due(
        db,
        timeout_s=5,
        max_attempts=5,
        backoff_base_s=1,
        backoff_max_s=backoff_max_s,
        guard=LOOPBACK,
        notifier=Notifier.from_settings(settings),
    )


def _analyse(
    db: Database, api: httpx.Client, tenant: TenantKey, items: list[dict[str, Any]]
) -> None:
    response = api.post("/v1/feedback", json={"items": items}, headers=tenant.headers)
    assert response.status_code == 202, response.text
    ids = [UUID(i["id"]) for i in response.json()["items"]]
    analyze_batch(db, ScriptedAnalyzer(), ids, max_attempts=5)


def _channel(api: httpx.Client, tenant: TenantKey, **body: Any) -> dict[str, Any]:
    response = api.post("/v1/notifications/channels", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _log(api: httpx.Client, tenant: TenantKey, channel_id: str) -> list[dict[str, Any]]:
    response = api.get(
        f"/v1/notifications/channels/{channel_id}/deliveries", headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_a_channel_with_a_secret_needs_the_secret_key(
    client: httpx.Client, tenant: TenantKey
) -> None:
    # The shared test server runs without LANGNGHE_SECRET_KEY.
    response = client.post(
        "/v1/notifications/channels",
        json={"kind": "slack", "name": "ops", "webhook_url": "http://127.0.0.1:9/hook"},
        headers=tenant.headers,
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "secret_key_missing" and "LANGNGHE_SECRET_KEY" in error["message"]


def test_secrets_are_stored_encrypted_and_never_shown(
    api: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    url = "http://127.0.0.1:9/services/T0/B0/very-secret-token"
    made = _channel(api, tenant, kind="slack", name="ops", webhook_url=url)
    assert made["secret_hint"] == "…oken" and "webhook_url" not in made
    listed = api.get("/v1/notifications/channels", headers=tenant.headers).text
    assert "very-secret" not in listed and "…oken" in listed
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT secret_enc::text || config::text AS stored FROM notification_channels "
            "WHERE id = %s",
            (made["id"],),
        ).fetchone()
    assert row is not None and "very-secret" not in row["stored"]
    mail = _channel(
        api,
        tenant,
        kind="email",
        name="leads",
        smtp={
            "host": "127.0.0.1",
            "port": 2525,
            "username": "alerts",
            "password": "hunter2-hunter2",
            "from_address": "alerts@example.vn",
            "to": ["lead@example.vn"],
        },
    )
    assert "password" not in mail["smtp"] and "hunter2" not in str(mail)
    # Bad inputs: the documented error shape.
    for body, code in (
        ({"kind": "teams", "name": "x"}, "invalid_channel"),
        ({"kind": "slack", "name": "x", "webhook_url": "http://10.1.2.3/h"}, "unsafe_url"),
        (
            {
                "kind": "email",
                "name": "x",
                "smtp": {
                    "host": "127.0.0.1",
                    "security": "none",
                    "username": "u",
                    "password": "p",
                    "from_address": "a@b.vn",
                    "to": ["c@d.vn"],
                },
            },
            "insecure_smtp",
        ),
        (
            {
                "kind": "email",
                "name": "x",
                "smtp": {
                    "host": "127.0.0.1",
                    "username": "u",
                    "password": "mật-khẩu",
                    "from_address": "a@b.vn",
                    "to": ["c@d.vn"],
                },
            },
            "invalid_credentials",
        ),
        (
            {"kind": "slack", "name": "x", "webhook_url": url, "event_types": ["x"]},
            "validation_error",
        ),
    ):
        response = api.post("/v1/notifications/channels", json=body, headers=tenant.headers)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == code
    bad_zone = api.put(
        "/v1/notifications/settings", json={"time_zone": "Mars/Olympus"}, headers=tenant.headers
    )
    assert bad_zone.json()["error"]["code"] == "unknown_time_zone"


def test_routing_rules_pick_the_events_a_channel_gets(
    api: httpx.Client, db: Database, tenant: TenantKey
) -> None:
    routed = _channel(
        api,
        tenant,
        kind="slack",
        name="vi delivery p1-p2",
        webhook_url="http://127.0.0.1:9/hook",
        event_types=["complaint.flagged"],
        min_priority="p2",
        categories=["delivery"],
        languages=["vi"],
    )
    everything = _channel(
        api, tenant, kind="teams", name="all", webhook_url="http://127.0.0.1:9/hook"
    )
    _analyse(
        db,
        api,
        tenant,
        [
            {"text": "angry sev=high churn cat=delivery vi", "channel": "social"},  # p1 vi
            {"text": "angry sev=high churn cat=delivery", "channel": "social"},  # p1 en
            {"text": "angry sev=high churn cat=price_billing vi", "channel": "social"},
            {"text": "complaint cat=delivery vi", "channel": "email"},  # p4
        ],
    )
    assert len(_log(api, tenant, routed["id"])) == 1
    assert len(_log(api, tenant, everything["id"])) == 4
    # Disabled: nothing new is queued.
    api.patch(
        f"/v1/notifications/channels/{everything['id']}",
        json={"enabled": False},
        headers=tenant.headers,
    )
    _analyse(db, api, tenant, [{"text": "angry sev=high cat=delivery vi", "channel": "social"}])
    assert len(_log(api, tenant, everything["id"])) == 4
    assert len(_log(api, tenant, routed["id"])) == 2
    for channel in (routed, everything):
        path = f"/v1/notifications/channels/{channel['id']}"
        assert api.delete(path, headers=tenant.headers).status_code == 204
        assert api.get(path, headers=tenant.headers).status_code == 404


def test_slack_gets_block_kit_and_retries_after_429_and_5xx(
    api: httpx.Client, db: Database, tenant: TenantKey, keyed_settings: Settings
) -> None:
    with slack_server([(429, {"Retry-After": "2"}), (503, {})]) as slack:
        channel = _channel(
            api,
            tenant,
            kind="slack",
            name="cskh",
            language="vi",
            webhook_url=slack.url,
            event_types=["complaint.flagged"],
        )
        _analyse(
            db,
            api,
            tenant,
            [{"text": "angry sev=high churn cat=delivery vi gọi 0912345678", "channel": "social"}],
        )
        deadline = clock.monotonic() + 30
        while not slack.delivered() and clock.monotonic() < deadline:
            _deliver(db, keyed_settings, backoff_max_s=5)
            clock.sleep(0.3)
        assert slack.problems == []
        assert [r.status for r in slack.requests] == [429, 503, 200]
        # The 429's Retry-After (2 s) was kept, although the first backoff is 1 s at most.
        assert slack.requests[1].at - slack.requests[0].at >= 1.9
        (message,) = slack.delivered()
        assert message["text"].startswith("Khiếu nại cần xử lý · P1 · delivery")
        section = message["blocks"][1]
        # The text as stored: PII redaction replaced the phone number.
        assert "0912345678" not in section["text"]["text"] and "gọi" in section["text"]["text"]
        assert f"{PUBLIC_URL}/dashboard/inbox/" in section["text"]["text"]
        facts = {f["text"].split("\n")[0] for f in section["fields"]}
        assert {"*Mức ưu tiên*", "*Danh mục*"} <= facts
    (delivery,) = _log(api, tenant, channel["id"])
    assert delivery["status"] == "succeeded" and delivery["channel_id"] == channel["id"]
    detail = api.get(f"/v1/deliveries/{delivery['id']}", headers=tenant.headers).json()
    assert [a["status_code"] for a in detail["attempt_log"]] == [429, 503, 200]
    assert "secret-token" not in str(detail)


def test_teams_gets_an_adaptive_card_and_dead_letters_are_replayed(
    api: httpx.Client, db: Database, tenant: TenantKey, keyed_settings: Settings
) -> None:
    with teams_server([(500, {})] * 5) as teams:
        channel = _channel(
            api,
            tenant,
            kind="teams",
            name="cx",
            webhook_url=teams.url,
            event_types=["complaint.flagged"],
        )
        _analyse(db, api, tenant, [{"text": "angry sev=high cat=delivery", "channel": "email"}])
        for _ in range(12):
            _deliver(db, keyed_settings)
            if len(teams.requests) >= 5:
                break
            clock.sleep(1.1)
        (dead,) = _log(api, tenant, channel["id"])
        assert dead["status"] == "dead" and dead["attempts"] == 5
        replay = api.post(f"/v1/deliveries/{dead['id']}/replay", headers=tenant.headers)
        assert replay.status_code == 200
        _deliver(db, keyed_settings)
        assert teams.problems == []
        (card,) = teams.delivered()
    content = card["attachments"][0]["content"]
    assert content["body"][0]["text"].startswith("Flagged complaint · P3 · delivery")
    actions = [b for b in content["body"] if b["type"] == "ActionSet"]
    assert actions[0]["actions"][0]["url"].startswith(f"{PUBLIC_URL}/dashboard/inbox/")
    assert _log(api, tenant, channel["id"])[0]["status"] == "succeeded"


def test_email_is_multipart_in_the_channels_language(
    api: httpx.Client, db: Database, tenant: TenantKey, keyed_settings: Settings
) -> None:
    with SmtpServer() as smtp:
        _channel(
            api,
            tenant,
            kind="email",
            name="trưởng nhóm",
            language="vi",
            smtp={
                "host": "127.0.0.1",
                "port": smtp.port,
                "security": "none",
                "from_address": "alerts@langnghe.example.vn",
                "to": ["lead@shop.example.vn", "cx@shop.example.vn"],
            },
            event_types=["complaint.flagged"],
        )
        _analyse(
            db,
            api,
            tenant,
            [
                {"text": f"angry sev=high churn cat=delivery vi {SLOW}", "channel": "social"},
                {"text": "angry sev=high cat=price_billing vi", "channel": "social"},
            ],
        )
        _deliver(db, keyed_settings)
        (mail,) = smtp.mails  # two events, one message
    assert mail["Subject"] == "langnghe: 2 cảnh báo"
    assert mail["From"] == "alerts@langnghe.example.vn"
    assert mail["To"] == "lead@shop.example.vn, cx@shop.example.vn"
    assert mail["Content-Language"] == "vi" and mail["Message-ID"]
    assert mail.get_content_type() == "multipart/alternative"
    plain = mail.get_body(("plain",))
    rich = mail.get_body(("html",))
    assert plain is not None and rich is not None
    text, markup = plain.get_content(), rich.get_content()
    assert "Khiếu nại cần xử lý · P1 · delivery" in text and "> " in text
    assert "giao hàng chậm" in text and "Mức ưu tiên: P1" in text
    assert '<html lang="vi">' in markup and f'href="{PUBLIC_URL}/dashboard/inbox/' in markup


def test_email_over_starttls_logs_in_with_the_decrypted_password(
    api: httpx.Client,
    db: Database,
    tenant: TenantKey,
    keyed_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cert, key = self_signed(tmp_path)
    # The sender verifies the server's certificate against the default trust store.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    with SmtpServer(tls=(cert, key), users={"alerts": "s3cret-pass-2026"}) as smtp:
        _channel(
            api,
            tenant,
            kind="email",
            name="tls",
            smtp={
                "host": "127.0.0.1",
                "port": smtp.port,
                "security": "starttls",
                "username": "alerts",
                "password": "s3cret-pass-2026",
                "from_address": "alerts@langnghe.example.vn",
                "to": ["lead@shop.example.vn"],
            },
            event_types=["complaint.flagged"],
        )
        _analyse(db, api, tenant, [{"text": "angry sev=high cat=delivery", "channel": "email"}])
        _deliver(db, keyed_settings)
        assert smtp.logins == ["alerts"]
        (mail,) = smtp.mails
    assert mail["Subject"].startswith("Flagged complaint") and mail["Content-Language"] == "en"


def test_quiet_hours_hold_messages_until_they_end_then_send_one(
    api: httpx.Client, db: Database, tenant: TenantKey, keyed_settings: Settings
) -> None:
    zone = "Asia/Ho_Chi_Minh"
    api.put("/v1/notifications/settings", json={"time_zone": zone}, headers=tenant.headers)
    local = datetime.now(ZoneInfo(zone))
    start, end = (local - timedelta(hours=1)).time(), (local + timedelta(hours=1)).time()
    with slack_server() as slack:
        channel = _channel(
            api,
            tenant,
            kind="slack",
            name="night",
            webhook_url=slack.url,
            quiet_hours={"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")},
        )
        items = [
            {"text": f"angry sev=high cat=delivery n{n}", "channel": "social"} for n in range(3)
        ]
        _analyse(db, api, tenant, items)
        _deliver(db, keyed_settings)
        assert slack.requests == []
        held = _log(api, tenant, channel["id"])
        assert {d["status"] for d in held} == {"pending"} and {d["attempts"] for d in held} == {0}
        ends = (local + timedelta(hours=1)).replace(second=0, microsecond=0).astimezone(UTC)
        for d in held:
            due = datetime.fromisoformat(d["next_attempt_at"])
            assert abs((due - ends).total_seconds()) < 5
        # The quiet hours end: the three go out as one message.
        with db.transaction() as conn:
            conn.execute(
                "UPDATE deliveries SET next_attempt_at = now() WHERE channel_id = %s",
                (channel["id"],),
            )
        api.patch(
            f"/v1/notifications/channels/{channel['id']}",
            json={"quiet_hours": None},
            headers=tenant.headers,
        )
        _deliver(db, keyed_settings)
        (message,) = slack.delivered()
    assert message["blocks"][0]["text"]["text"] == "langnghe: 3 alerts"
    assert sum(b["type"] == "section" for b in message["blocks"]) == 3


def test_the_rate_limit_holds_the_rest_and_batches_it(
    api: httpx.Client, db: Database, tenant: TenantKey, keyed_settings: Settings
) -> None:
    with slack_server() as slack:
        channel = _channel(
            api, tenant, kind="slack", name="calm", webhook_url=slack.url, max_per_minute=1
        )
        _analyse(db, api, tenant, [{"text": "angry sev=high cat=delivery", "channel": "email"}])
        _deliver(db, keyed_settings)
        assert len(slack.delivered()) == 1
        more = [{"text": f"angry sev=high cat=delivery m{n}", "channel": "email"} for n in range(4)]
        _analyse(db, api, tenant, more)
        _deliver(db, keyed_settings)
        assert len(slack.requests) == 1  # over the limit: held, untried
        held = [d for d in _log(api, tenant, channel["id"]) if d["status"] == "pending"]
        assert len(held) == 4 and {d["attempts"] for d in held} == {0}
        soonest = min(datetime.fromisoformat(d["next_attempt_at"]) for d in held)
        assert 30 < (soonest - datetime.now(UTC)).total_seconds() <= 61
        # A minute later (moved back here rather than waited for): one message with all four.
        with db.transaction() as conn:
            conn.execute(
                "UPDATE notification_channels SET window_started_at = now() - interval '2 minutes'"
                " WHERE id = %s",
                (channel["id"],),
            )
            conn.execute(
                "UPDATE deliveries SET next_attempt_at = now() WHERE channel_id = %s",
                (channel["id"],),
            )
        _deliver(db, keyed_settings)
        assert slack.problems == []
        first, second = slack.delivered()
    assert first["blocks"][0]["text"]["text"].startswith("Flagged complaint")
    assert second["blocks"][0]["text"]["text"] == "langnghe: 4 alerts"


def test_test_send_reports_how_it_went(api: httpx.Client, tenant: TenantKey) -> None:
    with slack_server([(500, {})]) as slack, SmtpServer() as smtp:
        chat = _channel(api, tenant, kind="slack", name="t", language="vi", webhook_url=slack.url)
        failed = api.post(f"/v1/notifications/channels/{chat['id']}/test", headers=tenant.headers)
        assert failed.json() == {"ok": False, "status_code": 500, "error": "HTTP 500"}
        sent = api.post(f"/v1/notifications/channels/{chat['id']}/test", headers=tenant.headers)
        assert sent.json() == {"ok": True, "status_code": 200, "error": None}
        assert slack.delivered()[0]["text"] == "Tin nhắn thử từ langnghe: kênh này hoạt động."
        mail = _channel(
            api,
            tenant,
            kind="email",
            name="m",
            smtp={
                "host": "127.0.0.1",
                "port": smtp.port,
                "security": "none",
                "from_address": "a@example.vn",
                "to": ["b@example.vn"],
            },
        )
        sent = api.post(f"/v1/notifications/channels/{mail['id']}/test", headers=tenant.headers)
        assert sent.json()["ok"] is True
        assert smtp.mails[0]["Subject"] == "Test message from langnghe: this channel works."
    missing = api.post(
        "/v1/notifications/channels/00000000-0000-0000-0000-000000000000/test",
        headers=tenant.headers,
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_a_daily_digest_is_queued_once_and_sent_as_multipart_email(
    api: httpx.Client, db: Database, tenant: TenantKey, keyed_settings: Settings
) -> None:
    with SmtpServer() as smtp:
        channel = _channel(
            api,
            tenant,
            kind="email",
            name="digest",
            language="vi",
            smtp={
                "host": "127.0.0.1",
                "port": smtp.port,
                "security": "none",
                "from_address": "alerts@langnghe.example.vn",
                "to": ["lead@shop.example.vn"],
            },
            event_types=["signal.csat_drop"],  # no alerts for complaints: only the digest
            digest="daily",
            digest_hour=8,
        )
        assert channel["digest"] == "daily"
        _analyse(
            db,
            api,
            tenant,
            [
                {"text": "angry sev=high churn cat=delivery vi", "channel": "social"},  # p1
                {"text": "angry sev=high churn cat=price_billing", "channel": "social"},  # p1
                {"text": "complaint cat=delivery", "channel": "email"},  # p4
            ],
        )
        # Created just now: the latest slot lies before its creation, so nothing is due yet.
        assert queue_digests(db) == 0
        with db.transaction() as conn:
            conn.execute(
                "UPDATE notification_channels SET digest_last_at = now() - interval '2 days' "
                "WHERE id = %s",
                (channel["id"],),
            )
        assert queue_digests(db) == 1
        assert queue_digests(db) == 0  # once per slot
        _deliver(db, keyed_settings)
        (mail,) = smtp.mails
    assert mail["Subject"] == "Tóm tắt chăm sóc khách hàng hằng ngày"
    plain, rich = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None and rich is not None
    text = plain.get_content()
    assert "P1 đang mở: 2" in text and "Quá hạn SLA: 0" in text
    assert text.count("chưa phản hồi từ") == 3
    assert "<th>P1 đang mở</th><td>2</td>" in rich.get_content()
    (delivery,) = _log(api, tenant, channel["id"])
    assert delivery["event_type"] == "digest.support" and delivery["status"] == "succeeded"


def _topic_items(db: Database, api: httpx.Client, tenant: TenantKey) -> None:
    """Items over two days with topics, scored customers and an emerging-topic alert.

    Last day: "slow delivery" twice (a promoter at 5 stars, a detractor at 2), "refund"
    once (no customer, 4 stars). The day before: "refund" twice (5 and 1 stars).
    """
    now = datetime.now(UTC)
    rows = [
        ("stars=5 fast", "an@kh.vn", now - timedelta(hours=2), 1),
        ("stars=2 slow", "binh@kh.vn", now - timedelta(hours=3), 1),
        ("stars=4 refund ok", None, now - timedelta(hours=4), 2),
        ("stars=5 refund quick", "an@kh.vn", now - timedelta(hours=30), 2),
        ("stars=1 refund never", "binh@kh.vn", now - timedelta(hours=30), 2),
    ]
    items = [
        {"text": text, "channel": "email", "occurred_at": when.isoformat()}
        | ({"customer_ref": ref} if ref else {})
        for text, ref, when, _topic in rows
    ]
    response = api.post("/v1/feedback", json={"items": items}, headers=tenant.headers)
    assert response.status_code == 202, response.text
    ids = [UUID(i["id"]) for i in response.json()["items"]]
    analyze_batch(db, ScriptedAnalyzer(), ids, max_attempts=5)
    with db.transaction() as conn:
        for topic_id, label in ((1, SLOW), (2, "hoàn tiền")):
            conn.execute(
                "INSERT INTO topics (tenant_id, id, auto_label, centroid, min_similarity) "
                "VALUES (%s, %s, %s, '\\x00', 0.5)",
                (tenant.id, topic_id, label),
            )
        for feedback_id, (_t, _r, _w, topic_id) in zip(ids, rows, strict=True):
            conn.execute(
                "INSERT INTO topic_assignments (feedback_id, tenant_id, topic_id, similarity) "
                "VALUES (%s, %s, %s, 0.9)",
                (feedback_id, tenant.id, topic_id),
            )
        for ref, segment in (("an@kh.vn", "promoter"), ("binh@kh.vn", "detractor")):
            conn.execute(
                "INSERT INTO customers (tenant_id, ref, segment) VALUES (%s, %s, %s) "
                "ON CONFLICT (tenant_id, ref) DO UPDATE SET segment = excluded.segment",
                (tenant.id, ref, segment),
            )
        conn.execute(
            """
            INSERT INTO topic_alerts (tenant_id, topic_id, kind, window_start, window_end,
                                      current, baseline_mean, baseline_sd, created_at)
            VALUES (%s, 1, 'volume', now() - interval '1 day', now(), 2, 0.3, 0.4,
                    now() - interval '1 hour')
            """,
            (tenant.id,),
        )


def test_an_analyst_digest_shows_topics_scores_by_segment_and_emerging_topics(
    api: httpx.Client, db: Database, tenant: TenantKey, keyed_settings: Settings
) -> None:
    with SmtpServer() as smtp:
        analyst = _channel(
            api,
            tenant,
            kind="email",
            name="cx-analyst",
            language="en",
            smtp={
                "host": "127.0.0.1",
                "port": smtp.port,
                "security": "none",
                "from_address": "alerts@langnghe.example.vn",
                "to": ["analyst@shop.example.vn"],
            },
            event_types=["signal.csat_drop"],
            digest="daily",
            digest_audiences=["analyst"],
        )
        both = _channel(
            api,
            tenant,
            kind="email",
            name="cx-lead-vi",
            language="vi",
            smtp={
                "host": "127.0.0.1",
                "port": smtp.port,
                "security": "none",
                "from_address": "alerts@langnghe.example.vn",
                "to": ["lead@shop.example.vn"],
            },
            event_types=["signal.csat_drop"],
            digest="weekly",
            digest_audiences=["analyst", "support", "analyst"],
        )
        assert (analyst["digest_audiences"], both["digest_audiences"]) == (
            ["analyst"],
            ["analyst", "support"],
        )
        _topic_items(db, api, tenant)
        with db.transaction() as conn:
            conn.execute(
                "UPDATE notification_channels SET digest_last_at = now() - interval '8 days' "
                "WHERE id = ANY(%s::uuid[])",
                ([analyst["id"], both["id"]],),
            )
        assert queue_digests(db) == 3  # one for the analyst, two for the other channel
        assert queue_digests(db) == 0
        _deliver(db, keyed_settings)
        mails = {(m["To"], m["Subject"]): m for m in smtp.mails}
    assert set(mails) == {
        ("analyst@shop.example.vn", "Daily CX analyst digest"),
        ("lead@shop.example.vn", "langnghe: 2 cảnh báo"),
    }
    mail = mails[("analyst@shop.example.vn", "Daily CX analyst digest")]
    assert mail["Content-Language"] == "en"
    plain, rich = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None and rich is not None
    text = plain.get_content()
    assert f"Top topic 1: {SLOW}: 2 items (+2 vs the day before: 0)" in text
    assert "Top topic 2: hoàn tiền: 1 items (-1 vs the day before: 2)" in text
    assert (
        "CSAT / NPS · promoter: CSAT 5.00/5, NPS +100 (1 items; before: CSAT 5.00, NPS +100)"
        in text
    )
    assert (
        "CSAT / NPS · detractor: CSAT 2.00/5, NPS -100 (1 items; before: CSAT 1.00, NPS -100)"
        in text
    )
    assert "CSAT / NPS · no segment: CSAT 4.00/5, NPS +0 (1 items; before: none)" in text
    assert "CSAT / NPS · all customers: CSAT 3.67/5, NPS +0 (3 items; before: CSAT 3.00" in text
    assert f"Emerging: {SLOW}: 2 (usually 0.3)" in text
    html_part = rich.get_content()
    assert '<html lang="en">' in html_part
    assert f"<th>Top topic 1: {SLOW}</th><td>2 items (+2 vs the day before: 0)</td>" in (html_part)
    vi = mails[("lead@shop.example.vn", "langnghe: 2 cảnh báo")]
    vi_text = vi.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Tóm tắt phân tích trải nghiệm khách hàng hằng tuần" in vi_text
    assert "Tóm tắt chăm sóc khách hàng hằng tuần" in vi_text
    # A week holds both days: "refund" leads with all three of its items.
    assert "Chủ đề nổi bật 1: hoàn tiền: 3 ý kiến (+3 so với tuần trước đó: 0)" in vi_text
    assert f"Mới nổi: {SLOW}: 2 (thường là 0.3)" in vi_text
    assert "CSAT / NPS · tất cả khách hàng" in vi_text
    assert vi["Content-Language"] == "vi"
    (delivery,) = _log(api, tenant, analyst["id"])
    assert delivery["event_type"] == "digest.analyst" and delivery["status"] == "succeeded"


def test_a_backlog_beyond_one_claim_is_gathered_up_to_fifteen_a_message(
    api: httpx.Client, db: Database, tenant: TenantKey, keyed_settings: Settings
) -> None:
    with slack_server() as slack:
        channel = _channel(api, tenant, kind="slack", name="busy", webhook_url=slack.url)
        items = [
            {"text": f"angry sev=high cat=delivery b{n}", "channel": "email"} for n in range(20)
        ]
        _analyse(db, api, tenant, items)
        _deliver(db, keyed_settings)  # a claim takes at most 5 of a tenant: the rest is gathered
        assert slack.problems == []
        heads = [m["blocks"][0]["text"]["text"] for m in slack.delivered()]
    assert heads == ["langnghe: 15 alerts", "langnghe: 5 alerts"]
    log = _log(api, tenant, channel["id"])
    assert len(log) == 20 and {d["status"] for d in log} == {"succeeded"}
    assert {d["attempts"] for d in log} == {1}
