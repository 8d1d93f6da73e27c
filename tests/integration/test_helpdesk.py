"""Help-desk tickets both ways, against local Zendesk and Freshdesk stand-ins.

The stand-ins check each request's auth header and JSON body against the vendors'
documented API, answer 429 with Retry-After and 5xx (one of them after storing the
ticket), and the test sends their signed status webhooks back to the API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import httpx
import pytest

from api.schemas import FeedbackIn
from api.service import store_feedback
from langnghe.config import Settings
from langnghe.secrets import new_key
from store import complaints as complaints_store
from store import helpdesk as helpdesk_store
from store.db import Database
from store.tenants import Tenant
from tests.conftest import TenantKey, make_tenant
from tests.helpers import running_api
from tests.integration.helpdesk_servers import (
    HelpDesk,
    Scripted,
    freshdesk_authorization,
    running_helpdesk,
    zendesk_authorization,
)
from workers.helpdesk import send_due_tickets

ZENDESK_EMAIL = "agent@acme.test"
ZENDESK_TOKEN = "zd-token-6b1e2f0a9c"
ZENDESK_SIGNING = "zd-signing-secret-41ab"
FRESHDESK_KEY = "fd-key-0c7e55d1b2"
FRESHDESK_TOKEN = "fd-webhook-token-93f1"


@pytest.fixture(scope="module")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A secret key, loopback targets allowed, and short backoffs so retries come soon."""
    return Settings(
        database_url=database_url,
        data_dir=tmp_path_factory.mktemp("helpdesk"),
        secret_key=new_key(),
        webhook_allowed_networks="127.0.0.0/8,::1/128",
        delivery_backoff_base_s=1,
        delivery_backoff_max_s=1,
        delivery_timeout_s=5,
    )


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[str]:
    """An API server with those settings."""
    with running_api(settings) as url:
        yield url


def flag(
    db: Database,
    tenant: TenantKey,
    text: str,
    priority: str,
    category: str,
    customer_ref: str | None = None,
) -> UUID:
    """Store an item, its analysis and the complaint the policy would flag for it."""
    (inserted,) = store_feedback(
        db,
        Tenant(tenant.id, tenant.name),
        [FeedbackIn(text=text, channel="email", customer_ref=customer_ref)],
        redact_pii=False,
    )
    now = datetime.now(UTC)
    with db.transaction() as conn:
        conn.execute(
            """
            INSERT INTO analyses (feedback_id, tenant_id, model_versions, language, sentiment,
                sentiment_score, sentiment_probs, complaint, complaint_score,
                complaint_category, severity, churn_risk, csat_distribution, csat_expected,
                nps_class, embedding)
            VALUES (%s, %s, '{}', 'vi', 'negative', 0.91, '{}', true, 0.95, %s, 'high',
                    true, ARRAY[0.6, 0.2, 0.1, 0.05, 0.05], 1.7, 'detractor', '\\x00')
            """,
            (inserted.id, tenant.id, category),
        )
        ids = complaints_store.insert_complaints(
            conn,
            [
                complaints_store.NewComplaint(
                    tenant_id=tenant.id,
                    feedback_id=inserted.id,
                    priority=priority,
                    priority_score=0.9,
                    reasons=["complaint", "churn_risk"],
                    category=category,
                    channel="email",
                    language="vi",
                    severity="high",
                    churn_risk=True,
                    complaint_score=0.95,
                    customer_value=None,
                    flagged_at=now,
                    sla_due_at=now + timedelta(hours=4),
                )
            ],
        )
    return ids[inserted.id]


def send_until_settled(db: Database, settings: Settings, rounds: int = 15) -> None:
    """Run the ticket task as two racing workers would, until nothing is pending."""
    for _ in range(rounds):
        workers = [threading.Thread(target=send_due_tickets, args=(db, settings)) for _ in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        with db.transaction() as conn:
            pending = conn.execute(
                "SELECT count(*) AS n FROM helpdesk_tickets WHERE state = 'pending'"
            ).fetchone()
        if pending is not None and pending["n"] == 0:
            return
        time.sleep(0.5)
    raise AssertionError("tickets still pending")


def zendesk_signed(
    body: bytes, secret: str = ZENDESK_SIGNING, age: timedelta = timedelta(0)
) -> dict[str, str]:
    """Headers as Zendesk signs a webhook: base64 HMAC-SHA256 of timestamp + body."""
    timestamp = (datetime.now(UTC) - age).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-Zendesk-Webhook-Signature": base64.b64encode(digest).decode(),
        "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
    }


def complaint(http: httpx.Client, tenant: TenantKey, complaint_id: UUID) -> dict[str, Any]:
    reply = http.get(f"/v1/complaints/{complaint_id}", headers=tenant.headers)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def test_zendesk_ticket_once_under_retries_and_solved_back(
    api: str, settings: Settings, db: Database
) -> None:
    tenant = make_tenant(db)
    desk = HelpDesk(
        "zendesk",
        zendesk_authorization(ZENDESK_EMAIL, ZENDESK_TOKEN),
        # Rate limited first; then the ticket is stored but the answer is a 502.
        script=[Scripted(429, {"Retry-After": "1"}), Scripted(502, after_create=True)],
    )
    with running_helpdesk(desk), httpx.Client(base_url=api, timeout=30) as http:
        created = http.post(
            "/v1/connectors",
            json={
                "kind": "zendesk",
                "name": "zendesk",
                "config": {
                    "base_url": desk.url,
                    "email": ZENDESK_EMAIL,
                    "api_token": ZENDESK_TOKEN,
                    "webhook_secret": ZENDESK_SIGNING,
                    "min_priority": "p2",
                    "dashboard_url": "https://cx.acme.test",
                },
            },
            headers=tenant.headers,
        )
        assert created.status_code == 201, created.text
        connector = created.json()
        assert ZENDESK_TOKEN not in created.text and ZENDESK_SIGNING not in created.text
        assert connector["secrets"] == {
            "api_token": "…" + ZENDESK_TOKEN[-4:],
            "webhook_secret": "…" + ZENDESK_SIGNING[-4:],
        }
        urgent = flag(
            db, tenant, "Giao hàng trễ 5 ngày, tôi sẽ hủy đơn.", "p1", "delivery", "lan@kh.test"
        )
        minor = flag(db, tenant, "Màu hơi khác ảnh.", "p3", "product")

        started = time.monotonic()
        send_until_settled(db, settings)
        # A restart: a fresh pool finds nothing to do and queues nothing again.
        fresh = Database(settings.database_url or "", 1, 2)
        fresh.open()
        try:
            assert send_due_tickets(fresh, settings) == (0, 0)
            with fresh.transaction() as conn:
                assert helpdesk_store.queue_matching(conn) == 0
        finally:
            fresh.close()

        assert desk.problems == []
        assert len(desk.tickets) == 1, desk.tickets
        posts = [r for r in desk.requests if r[0] == "POST"]
        assert len(posts) == 2  # the 429 and the 502; the third attempt found the ticket
        assert time.monotonic() - started >= 1  # Retry-After was waited out
        (ticket,) = desk.tickets
        assert ticket["external_id"] == str(urgent)
        assert ticket["priority"] == "urgent"
        assert ticket["tags"] == ["delivery", "sentiment_negative"]
        assert ticket["requester"]["email"] == "lan@kh.test"
        assert ticket["subject"].startswith("[p1] delivery: Giao hàng trễ 5 ngày")
        body = ticket["comment"]["body"]
        assert "Sentiment: negative (0.91)" in body and "Churn risk: yes" in body
        assert f"https://cx.acme.test/dashboard/inbox/{urgent}" in body

        tickets = http.get(
            f"/v1/connectors/{connector['id']}/tickets", headers=tenant.headers
        ).json()["items"]
        assert [(t["complaint_id"], t["state"], t["ticket_id"]) for t in tickets] == [
            (str(urgent), "created", str(ticket["id"]))
        ]
        assert tickets[0]["attempts"] == 3
        assert minor not in {UUID(t["complaint_id"]) for t in tickets}
        history = complaint(http, tenant, urgent)["history"]
        assert any(
            h["action"] == "ticket" and h["data"]["ticket_id"] == str(ticket["id"]) for h in history
        )

        hook = f"/v1/connectors/{connector['id']}/webhook"
        solved = json.dumps(
            {
                "type": "zen:event-type:ticket.status_changed",
                "detail": {"id": str(ticket["id"]), "status": "SOLVED"},
                "event": {"current": "SOLVED", "previous": "OPEN"},
            }
        ).encode()
        forged = http.post(hook, content=solved, headers=zendesk_signed(solved, "guessed"))
        assert forged.status_code == 401
        assert forged.json()["error"]["code"] == "invalid_signature"
        unsigned = http.post(hook, content=solved, headers={"Content-Type": "application/json"})
        assert unsigned.status_code == 401
        replayed = http.post(
            hook, content=solved, headers=zendesk_signed(solved, age=timedelta(hours=2))
        )
        assert replayed.status_code == 401
        assert complaint(http, tenant, urgent)["status"] == "open"

        applied = http.post(hook, content=solved, headers=zendesk_signed(solved))
        assert applied.status_code == 200, applied.text
        assert applied.json()["action"] == "resolve"
        after = complaint(http, tenant, urgent)
        assert (after["status"], after["resolution_code"]) == ("resolved", "helpdesk_solved")
        repeated = http.post(hook, content=solved, headers=zendesk_signed(solved))
        assert repeated.status_code == 200 and repeated.json()["action"] is None

        # A trigger's body, the ticket opened again: the complaint is reopened.
        reopened = json.dumps({"ticket_id": str(ticket["id"]), "status": "Open"}).encode()
        answer = http.post(hook, content=reopened, headers=zendesk_signed(reopened))
        assert answer.json()["action"] == "reopen"
        assert complaint(http, tenant, urgent)["status"] == "open"

        unknown = json.dumps({"ticket_id": "999999", "status": "solved"}).encode()
        missing = http.post(hook, content=unknown, headers=zendesk_signed(unknown))
        assert missing.status_code == 404


def test_freshdesk_ticket_with_api_key_and_status_back(
    api: str, settings: Settings, db: Database
) -> None:
    tenant = make_tenant(db)
    desk = HelpDesk(
        "freshdesk",
        freshdesk_authorization(FRESHDESK_KEY),
        script=[Scripted(503, {"Retry-After": "1"})],
    )
    with running_helpdesk(desk), httpx.Client(base_url=api, timeout=30) as http:
        connector = http.post(
            "/v1/connectors",
            json={
                "kind": "freshdesk",
                "name": "freshdesk",
                "config": {
                    "base_url": desk.url,
                    "api_key": FRESHDESK_KEY,
                    "webhook_secret": FRESHDESK_TOKEN,
                    "requester_email": "cx@acme.test",
                    "min_priority": "p2",
                    "categories": ["billing"],
                },
            },
            headers=tenant.headers,
        ).json()
        billing = flag(db, tenant, "Bị trừ tiền hai lần cho một đơn.", "p2", "billing")
        other = flag(db, tenant, "Giao sai hàng.", "p1", "delivery")
        send_until_settled(db, settings)

        assert desk.problems == []
        assert len(desk.tickets) == 1
        (ticket,) = desk.tickets
        assert (ticket["priority"], ticket["status"], ticket["email"]) == (3, 2, "cx@acme.test")
        assert ticket["tags"][:2] == ["billing", "sentiment_negative"]
        assert "Bị trừ tiền hai lần" in ticket["description"]
        listed = http.get("/v1/connectors", headers=tenant.headers).json()["items"]
        assert listed[0]["tickets"] == {"pending": 0, "created": 1, "dead": 0}
        assert FRESHDESK_KEY not in json.dumps(listed)

        hook = f"/v1/connectors/{connector['id']}/webhook"
        resolved = json.dumps(
            {"freshdesk_webhook": {"ticket_id": ticket["id"], "ticket_status": "Resolved"}}
        ).encode()
        wrong = http.post(
            hook,
            content=resolved,
            headers={"Content-Type": "application/json", "X-Langnghe-Webhook-Token": "nope"},
        )
        assert wrong.status_code == 401
        right = http.post(
            hook,
            content=resolved,
            headers={
                "Content-Type": "application/json",
                "X-Langnghe-Webhook-Token": FRESHDESK_TOKEN,
            },
        )
        assert right.status_code == 200 and right.json()["action"] == "resolve"
        assert complaint(http, tenant, billing)["status"] == "resolved"
        assert complaint(http, tenant, other)["status"] == "open"


# --- Pulls: tickets and customer comments in as feedback ------------------------------

CUSTOMER, AGENT, TWEETER = 2, 3, 4


def people(desk: HelpDesk) -> None:
    """The help desk's API user (an agent), a customer, another agent and a tweeter."""
    desk.add_user(desk.api_user, ZENDESK_EMAIL, "agent")
    desk.add_user(CUSTOMER, "Lan@KH.test", "end-user")
    desk.add_user(AGENT, "support@acme.test", "agent")
    desk.add_user(TWEETER, "minh@kh.test", "end-user")


def run_pull(http: httpx.Client, tenant: TenantKey, connector_id: str) -> dict[str, Any]:
    reply = http.post(f"/v1/connectors/{connector_id}/run", headers=tenant.headers)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def pulled(http: httpx.Client, tenant: TenantKey, source: str) -> dict[str, dict[str, Any]]:
    items = http.get("/v1/feedback?limit=100", headers=tenant.headers).json()["items"]
    return {i["external_id"]: i for i in items if i["source"] == source}


def test_zendesk_pull_takes_customer_comments_once(
    api: str, settings: Settings, db: Database
) -> None:
    tenant = make_tenant(db)
    desk = HelpDesk(
        "zendesk",
        zendesk_authorization(ZENDESK_EMAIL, ZENDESK_TOKEN),
        get_script=[Scripted(429, {"Retry-After": "1"})],
    )
    people(desk)
    with running_helpdesk(desk):
        with httpx.Client(base_url=api, timeout=60) as http:
            connector = http.post(
                "/v1/connectors",
                json={
                    "kind": "zendesk",
                    "name": "zendesk-pull",
                    "config": {
                        "base_url": desk.url,
                        "email": ZENDESK_EMAIL,
                        "api_token": ZENDESK_TOKEN,
                        "webhook_secret": ZENDESK_SIGNING,
                        "pull": True,
                    },
                },
                headers=tenant.headers,
            ).json()
            # A ticket langnghe creates for a complaint; the customer's reply on it is skipped.
            flag(db, tenant, "Giao hàng trễ 5 ngày, tôi sẽ hủy đơn.", "p1", "delivery")
            send_until_settled(db, settings)
            (ours,) = desk.tickets
            desk.add_comment(ours["id"], CUSTOMER, "Cảm ơn, tôi chờ phản hồi.")

            mail = desk.add_ticket(CUSTOMER, "Hoàn tiền", "Tôi bị trừ tiền hai lần.", "email")
            desk.add_comment(mail, AGENT, "We are looking into it.")
            desk.add_comment(mail, AGENT, "Internal: refund approved", public=False)
            desk.add_comment(mail, CUSTOMER, "Vẫn chưa nhận được tiền hoàn.")
            call = desk.add_ticket(CUSTOMER, "Call", "Caller says the app logs her out.", "voice")
            tweet = desk.add_ticket(TWEETER, "Tweet", "@acme my parcel is lost again", "twitter")
            blank = desk.add_comment(tweet, TWEETER, "   ")  # refused as POST /v1/feedback would

            started = time.monotonic()
            first = run_pull(http, tenant, connector["id"])
            assert time.monotonic() - started >= 1  # the 429's Retry-After was waited out
            assert (first["status"], first["accepted"], first["duplicates"]) == ("ok", 4, 0), first
            assert (first["fetched"], first["rejected"]) == (5, 1), first
            (rejection,) = first["rejections"]
            assert rejection["item"] == f"zendesk:{tweet}:{blank}"
            assert rejection["reason"].startswith("validation_error: text: ")
            second = run_pull(http, tenant, connector["id"])
            assert (second["fetched"], second["accepted"]) == (0, 0), second

            desk.add_comment(call, CUSTOMER, "Still logged out after the update.")
        # A restart: the cursor comes back from Postgres; the updated ticket is read again.
        with running_api(settings) as url, httpx.Client(base_url=url, timeout=60) as http:
            third = run_pull(http, tenant, connector["id"])
            assert (third["accepted"], third["duplicates"]) == (1, 1), third
            with db.transaction() as conn:  # a cursor lost: everything again, nothing twice
                conn.execute(
                    "UPDATE connectors SET cursor = '{}' WHERE id = %s", (connector["id"],)
                )
            again = run_pull(http, tenant, connector["id"])
            assert (again["accepted"], again["duplicates"]) == (0, 5), again
            items = pulled(http, tenant, "zendesk")
            shown = http.get(f"/v1/connectors/{connector['id']}", headers=tenant.headers).json()

    assert desk.problems == []
    exports = [p for m, p in desk.requests if "incremental" in p]
    assert any("cursor=" in p for p in exports) and any("start_time=" in p for p in exports)
    texts = {i["text"] for i in items.values()}
    assert "We are looking into it." not in texts and "Internal: refund approved" not in texts
    assert "Cảm ơn, tôi chờ phản hồi." not in texts  # on langnghe's own ticket
    assert len(items) == 5
    comments = {c["id"]: c for cs in desk.comments.values() for c in cs}
    for external_id, item in items.items():
        _vendor, ticket_id, comment_id = external_id.split(":")
        assert item["text"] == comments[int(comment_id)]["plain_body"]
        assert item["metadata"]["ticket_id"] == ticket_id
    by_ticket = {i["metadata"]["ticket_id"]: i for i in items.values()}
    assert by_ticket[str(mail)]["channel"] == "email"
    assert by_ticket[str(mail)]["customer_ref"] == "lan@kh.test"
    assert by_ticket[str(call)]["channel"] == "call_transcript"
    assert by_ticket[str(tweet)]["channel"] == "social"
    assert shown["cursor"]["after_cursor"] and shown["totals"]["accepted"] == 5


def test_freshdesk_pull_pages_and_skips_agents(api: str, settings: Settings, db: Database) -> None:
    tenant = make_tenant(db)
    desk = HelpDesk(
        "freshdesk",
        freshdesk_authorization(FRESHDESK_KEY),
        get_script=[Scripted(429, {"Retry-After": "1"})],
    )
    people(desk)
    with running_helpdesk(desk):
        with httpx.Client(base_url=api, timeout=60) as http:
            created = http.post(
                "/v1/connectors",
                json={
                    "kind": "freshdesk",
                    "name": "freshdesk-pull",
                    "config": {
                        "base_url": desk.url,
                        "api_key": FRESHDESK_KEY,
                        "webhook_secret": FRESHDESK_TOKEN,
                        "requester_email": "cx@acme.test",
                        "pull": True,
                        "source": "fd",
                    },
                },
                headers=tenant.headers,
            )
            assert created.status_code == 201, created.text
            connector = created.json()
            flag(db, tenant, "Bị trừ tiền hai lần cho một đơn.", "p1", "billing")
            send_until_settled(db, settings)
            (ours,) = desk.tickets
            desk.add_comment(ours["id"], CUSTOMER, "Tôi vẫn đang chờ.")

            mail = desk.add_ticket(CUSTOMER, "Đổi hàng", "Áo bị rách, tôi muốn đổi.", 1)
            desk.add_comment(mail, AGENT, "Please send a photo.")
            desk.add_comment(mail, AGENT, "Note: VIP customer", public=False)
            desk.add_comment(mail, CUSTOMER, "Đây là ảnh, áo rách ở tay.")
            desk.add_comment(mail, CUSTOMER, "Khi nào có hàng đổi?")
            phone = desk.add_ticket(CUSTOMER, "Phone", "Caller was charged twice.", 3)
            chat = desk.add_ticket(TWEETER, "Chat", "chat: the promo code fails", 7)
            outbound = desk.add_ticket(AGENT, "Survey", "How did we do?", 10)

            first = run_pull(http, tenant, connector["id"])
            assert (first["status"], first["accepted"], first["duplicates"]) == ("ok", 5, 0), first
            # updated_since includes its instant: the latest ticket comes back as a duplicate.
            second = run_pull(http, tenant, connector["id"])
            assert second["accepted"] == 0, second

            desk.add_comment(phone, CUSTOMER, "I called again, no refund yet.")
        with running_api(settings) as url, httpx.Client(base_url=url, timeout=60) as http:
            third = run_pull(http, tenant, connector["id"])
            assert third["accepted"] == 1, third
            items = pulled(http, tenant, "fd")

    assert desk.problems == []
    lists = [p for m, p in desk.requests if urlsplit(p).path == "/api/v2/tickets"]
    assert any("page=2" in p for p in lists)  # more than one page of tickets
    conversations = [p for m, p in desk.requests if p.endswith("conversations?per_page=100")]
    assert conversations and any("page=2" in p for m, p in desk.requests if "conversations" in p)
    assert len(items) == 6
    texts = {i["text"] for i in items.values()}
    assert texts == {
        "Áo bị rách, tôi muốn đổi.",
        "Đây là ảnh, áo rách ở tay.",
        "Khi nào có hàng đổi?",
        "Caller was charged twice.",
        "chat: the promo code fails",
        "I called again, no refund yet.",
    }
    assert items[f"freshdesk:{mail}"]["customer_ref"] == "lan@kh.test"
    channels = {i["metadata"]["ticket_id"]: i["channel"] for i in items.values()}
    assert channels == {str(mail): "email", str(phone): "call_transcript", str(chat): "social"}
    assert str(outbound) not in channels


def test_pull_needs_the_option(api: str, db: Database) -> None:
    tenant = make_tenant(db)
    with httpx.Client(base_url=api, timeout=30) as http:
        connector = http.post(
            "/v1/connectors",
            json={
                "kind": "zendesk",
                "name": "tickets-only",
                "config": {
                    "base_url": "http://127.0.0.1:9/",
                    "email": ZENDESK_EMAIL,
                    "api_token": ZENDESK_TOKEN,
                    "webhook_secret": ZENDESK_SIGNING,
                },
            },
            headers=tenant.headers,
        ).json()
        refused = http.post(f"/v1/connectors/{connector['id']}/run", headers=tenant.headers)
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "not_pullable"
