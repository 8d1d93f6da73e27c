"""Help-desk pulls: Zendesk and Freshdesk tickets and customer comments in as feedback.

A help-desk connector with ``pull`` on is run by the scheduler like an IMAP mailbox, and
its items take the same path: ``validate_row`` (the checks of ``POST /v1/feedback``) and
``store_feedback``, keyed by (tenant, source, external_id), so a ticket read twice (its
later comments bring it back into the export, or a crash came before the cursor was
saved) stores nothing twice. External ids are the vendor's: ``zendesk:{ticket}:{comment}``,
``freshdesk:{ticket}`` (the description) and ``freshdesk:{ticket}:{conversation}``.

Only what customers wrote is feedback: public comments by end users (Zendesk), the
description and incoming public conversations (Freshdesk). Agents' replies and private
notes are skipped, and so are the tickets langnghe itself created for complaints.

The HTTP calls are those of ticket creation (workers.helpdesk): the SSRF guard, one
deadline per request, and a 429's or 503's Retry-After waited out (up to
MAX_RETRY_WAIT_S, a few times) before the run gives up and records the error; the
cursor saved after each page keeps what was done.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from api.schemas import FeedbackIn
from store import connectors as connectors_store
from store import helpdesk as helpdesk_store
from store.connectors import Claimed, RunCounts
from workers.connectors import PullContext, ingest_items, open_secrets, validated_row
from workers.helpdesk import Request, TicketError, basic_auth, exchange
from workers.webhook_http import Attempt, delivery_client

# Bounds on one run: the rest of a large backlog is read by the next runs.
MAX_PAGES_PER_RUN = 20
MAX_COMMENT_PAGES = 20
MAX_RETRIES = 3
MAX_RETRY_WAIT_S = 30.0
FRESHDESK_PER_PAGE = 100

# Zendesk's ticket ``via.channel`` -> our channel; anything else (web form, API, mobile)
# is written like an e-mail.
ZENDESK_CHANNELS = {
    "email": "email",
    "voice": "call_transcript",
    "chat": "social",
    "native_messaging": "social",
    "twitter": "social",
    "facebook": "social",
    "instagram_dm": "social",
    "whatsapp": "social",
    "line": "social",
    "wechat": "social",
    "messenger": "social",
    "telegram": "social",
    "sms": "social",
}
# Freshdesk's ticket ``source``: 1 email, 2 portal, 3 phone, 5 Twitter, 6 Facebook, 7 chat,
# 9 feedback widget, 10 outbound email, 13 WhatsApp.
FRESHDESK_CHANNELS = {3: "call_transcript", 5: "social", 6: "social", 7: "social", 13: "social"}
FRESHDESK_OUTBOUND = 10
# The tag by which langnghe finds its own Freshdesk tickets (workers.helpdesk.complaint_tag).
_OUR_TAG = re.compile(r"^lg[0-9a-f]{30}$")
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class _Reader:
    """GETs against one help desk, with its credentials and Retry-After honoured."""

    def __init__(self, ctx: PullContext, base_url: str, authorization: str) -> None:
        self.base = base_url.rstrip("/")
        self.headers = {"Authorization": authorization, "Accept": "application/json"}
        self.guard = ctx.guard
        self.timeout_s = ctx.settings.delivery_timeout_s
        self.attempt = Attempt()
        self.client = delivery_client(self.attempt, self.timeout_s)

    def get(self, url: str) -> tuple[Any, httpx.Headers]:
        """The JSON and headers of GET ``url``, which must lie under the help desk's base URL.

        A next-page URL comes from the help desk's answer: the check keeps the credentials
        from being sent anywhere else.
        """
        if not (url == self.base or url.startswith(self.base + "/")):
            raise TicketError(f"the help desk named a page outside {self.base}")
        for tries in range(1, MAX_RETRIES + 1):
            try:
                return exchange(
                    self.client,
                    self.attempt,
                    self.guard,
                    Request("GET", url, self.headers),
                    self.timeout_s,
                )
            except TicketError as exc:
                if exc.retry_after_s is None or tries == MAX_RETRIES:
                    raise
                if exc.retry_after_s > MAX_RETRY_WAIT_S:
                    raise TicketError(f"{exc}; Retry-After {exc.retry_after_s:g}s") from exc
                time.sleep(exc.retry_after_s)
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()


def _since(connector: Claimed) -> datetime:
    return datetime.now(UTC) - timedelta(days=int(connector.config.get("pull_days", 30)))


def _item(
    connector: Claimed, counts: RunCounts, row: dict[str, Any], max_text_bytes: int
) -> FeedbackIn | None:
    """The validated item of one pulled row, or None (counted as rejected)."""
    counts.fetched += 1
    if connector.config.get("language"):
        row["language"] = connector.config["language"]
    try:
        return validated_row(row, connector.config["source"], max_text_bytes)
    except ValueError as exc:
        counts.reject(str(row.get("external_id")), str(exc))
        return None


def _ours(ctx: PullContext, connector: Claimed, tickets: list[dict[str, Any]]) -> set[str]:
    with ctx.db.transaction() as conn:
        return helpdesk_store.own_tickets(
            conn,
            connector.id,
            [str(t.get("id")) for t in tickets],
            [str(t["external_id"]) for t in tickets if t.get("external_id")],
        )


# --- Zendesk ---------------------------------------------------------------------------


def _zendesk_comments(reader: _Reader, ticket_id: Any) -> Iterator[tuple[dict[str, Any], Any]]:
    """(comment, its author) for every comment of a ticket, its pages followed."""
    url: str | None = f"{reader.base}/api/v2/tickets/{quote(str(ticket_id))}/comments.json?" + (
        urlencode({"include": "users"})
    )
    for _ in range(MAX_COMMENT_PAGES):
        if url is None:
            return
        page, _headers = reader.get(url)
        users = {u.get("id"): u for u in page.get("users") or [] if isinstance(u, dict)}
        for comment in page.get("comments") or []:
            yield comment, users.get(comment.get("author_id"))
        url = page.get("next_page")


def zendesk_rows(ticket: dict[str, Any], comment: dict[str, Any], author: Any) -> dict[str, Any]:
    """The feedback row of one customer comment on a Zendesk ticket."""
    via = ticket.get("via") if isinstance(ticket.get("via"), dict) else {}
    vendor_channel = str((via or {}).get("channel") or "web")
    row: dict[str, Any] = {
        "text": str(comment.get("plain_body") or comment.get("body") or ""),
        "channel": ZENDESK_CHANNELS.get(vendor_channel, "email"),
        "external_id": f"zendesk:{ticket['id']}:{comment.get('id')}",
        "metadata": {
            "ticket_id": str(ticket["id"]),
            "subject": str(ticket.get("subject") or "")[:300],
            "vendor_channel": vendor_channel,
        },
    }
    email = author.get("email") if isinstance(author, dict) else None
    if email:
        row["customer_ref"] = str(email).lower()[:200]
    if comment.get("created_at"):
        row["occurred_at"] = comment["created_at"]
    return row


def _customer_comment(comment: dict[str, Any], author: Any) -> bool:
    # Public, and by an end user: agents' and admins' replies are not feedback.
    return (
        comment.get("public") is True
        and isinstance(author, dict)
        and author.get("role") == "end-user"
    )


def pull_zendesk(ctx: PullContext, connector: Claimed, counts: RunCounts) -> None:
    """Read Zendesk's incremental ticket export from the stored cursor, comments included.

    ``GET /api/v2/incremental/tickets/cursor.json?start_time=...`` on the first run (the
    last ``pull_days``), then ``?cursor=`` with the ``after_cursor`` of the last page read,
    which is saved after each page; the stream's end keeps its cursor for the next run.
    Each changed ticket's comments come from ``GET /api/v2/tickets/{id}/comments.json``.
    """
    config = connector.config
    secrets = open_secrets(ctx.settings, connector.secrets)
    reader = _Reader(
        ctx, config["base_url"], basic_auth(f"{config['email']}/token", secrets["api_token"])
    )
    export = f"{reader.base}/api/v2/incremental/tickets/cursor.json?"
    after = connector.cursor.get("after_cursor")
    if after:
        url = export + urlencode({"cursor": after})
    else:
        url = export + urlencode({"start_time": int(_since(connector).timestamp())})
    try:
        for _ in range(MAX_PAGES_PER_RUN):
            page, _headers = reader.get(url)
            tickets = [t for t in page.get("tickets") or [] if isinstance(t, dict) and "id" in t]
            ours = _ours(ctx, connector, tickets)
            items: list[FeedbackIn] = []
            for ticket in tickets:
                if ticket.get("status") == "deleted" or str(ticket["id"]) in ours:
                    continue
                if str(ticket.get("external_id") or "") in ours:
                    continue
                for comment, author in _zendesk_comments(reader, ticket["id"]):
                    if not _customer_comment(comment, author):
                        continue
                    row = zendesk_rows(ticket, comment, author)
                    item = _item(connector, counts, row, ctx.settings.max_text_bytes)
                    if item is not None:
                        items.append(item)
            ingest_items(ctx, connector, items, counts)
            after = page.get("after_cursor")
            if after:
                with ctx.db.transaction() as conn:
                    connectors_store.save_cursor(conn, connector.id, {"after_cursor": after})
            if page.get("end_of_stream") or not after:
                return
            url = export + urlencode({"cursor": after})
    finally:
        reader.close()


# --- Freshdesk -------------------------------------------------------------------------


def _next_page(headers: httpx.Headers) -> str | None:
    """The next page named in Freshdesk's ``Link`` header, or None on the last page."""
    found = _NEXT_LINK.search(headers.get("Link", ""))
    return found.group(1) if found else None


def _freshdesk_conversations(reader: _Reader, ticket_id: Any) -> Iterator[dict[str, Any]]:
    url: str | None = (
        f"{reader.base}/api/v2/tickets/{quote(str(ticket_id))}/conversations?"
        + urlencode({"per_page": FRESHDESK_PER_PAGE})
    )
    for _ in range(MAX_COMMENT_PAGES):
        if url is None:
            return
        page, headers = reader.get(url)
        yield from (c for c in page if isinstance(c, dict)) if isinstance(page, list) else ()
        url = _next_page(headers)


def freshdesk_row(
    ticket: dict[str, Any], external_id: str, text: Any, when: Any, email: Any
) -> dict[str, Any]:
    """The feedback row of a Freshdesk ticket's description or of one conversation."""
    source = ticket.get("source")
    row: dict[str, Any] = {
        "text": str(text or ""),
        "channel": FRESHDESK_CHANNELS.get(source, "email") if isinstance(source, int) else "email",
        "external_id": external_id,
        "metadata": {
            "ticket_id": str(ticket["id"]),
            "subject": str(ticket.get("subject") or "")[:300],
            "vendor_source": source,
        },
    }
    if email:
        row["customer_ref"] = str(email).lower()[:200]
    if when:
        row["occurred_at"] = when
    return row


def _freshdesk_rows(reader: _Reader, ticket: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The customer's rows of one ticket: its description, then incoming public replies."""
    requester = ticket.get("requester") if isinstance(ticket.get("requester"), dict) else {}
    requester_email = (requester or {}).get("email")
    # An outbound e-mail ticket's description is an agent's message, not the customer's.
    if ticket.get("source") != FRESHDESK_OUTBOUND:
        yield freshdesk_row(
            ticket,
            f"freshdesk:{ticket['id']}",
            ticket.get("description_text"),
            ticket.get("created_at"),
            requester_email,
        )
    for conversation in _freshdesk_conversations(reader, ticket["id"]):
        if conversation.get("incoming") is not True or conversation.get("private") is not False:
            continue  # agents' replies and notes
        yield freshdesk_row(
            ticket,
            f"freshdesk:{ticket['id']}:{conversation.get('id')}",
            conversation.get("body_text"),
            conversation.get("created_at"),
            conversation.get("from_email") or requester_email,
        )


def pull_freshdesk(ctx: PullContext, connector: Claimed, counts: RunCounts) -> None:
    """Read Freshdesk's tickets updated since the stored cursor, conversations included.

    ``GET /api/v2/tickets?updated_since=...&order_by=updated_at&order_type=asc&page=N``
    (with the description and requester included), pages followed by the ``Link`` header;
    the cursor is the latest ``updated_at`` read, saved after each page. ``updated_since``
    includes its instant, so the last ticket is read again next time: a duplicate.
    """
    config = connector.config
    secrets = open_secrets(ctx.settings, connector.secrets)
    reader = _Reader(ctx, config["base_url"], basic_auth(secrets["api_key"], "X"))
    since = connector.cursor.get("updated_since") or _since(connector).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    url: str | None = f"{reader.base}/api/v2/tickets?" + urlencode(
        {
            "updated_since": since,
            "order_by": "updated_at",
            "order_type": "asc",
            "include": "description,requester",
            "per_page": FRESHDESK_PER_PAGE,
            "page": 1,
        }
    )
    try:
        for _ in range(MAX_PAGES_PER_RUN):
            if url is None:
                return
            page, headers = reader.get(url)
            tickets = (
                [t for t in page if isinstance(t, dict) and "id" in t]
                if isinstance(page, list)
                else []
            )
            ours = _ours(ctx, connector, tickets)
            items: list[FeedbackIn] = []
            for ticket in tickets:
                if str(ticket["id"]) in ours or any(
                    _OUR_TAG.match(str(tag)) for tag in ticket.get("tags") or []
                ):
                    continue
                for row in _freshdesk_rows(reader, ticket):
                    item = _item(connector, counts, row, ctx.settings.max_text_bytes)
                    if item is not None:
                        items.append(item)
            ingest_items(ctx, connector, items, counts)
            latest = max((str(t.get("updated_at") or "") for t in tickets), default="")
            if latest:
                with ctx.db.transaction() as conn:
                    connectors_store.save_cursor(conn, connector.id, {"updated_since": latest})
            url = _next_page(headers)
    finally:
        reader.close()


HELPDESK_PULLERS: dict[str, Callable[[PullContext, Claimed, RunCounts], None]] = {
    "zendesk": pull_zendesk,
    "freshdesk": pull_freshdesk,
}
