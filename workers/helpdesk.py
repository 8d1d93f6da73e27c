"""Help-desk tickets for flagged complaints: Zendesk and Freshdesk, over their REST APIs.

A complaint that matches a help-desk connector's rule is queued once (store.helpdesk), and
the ticket is created here with the webhook delivery machinery: its HTTP client (one
deadline per attempt, connections pinned to the addresses the SSRF guard checked), its
backoff with jitter, and a vendor's ``Retry-After`` respected on 429 and 503.

Never two tickets for one complaint: the queue row is the claim, and an attempt after the
first (the previous one may have created the ticket and died before recording it, or got
a 5xx after the help desk had stored it) first looks the ticket up by the complaint's key:
Zendesk's ``external_id``, a tag in Freshdesk.
"""

from __future__ import annotations

import base64
import html
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from langnghe.config import Settings
from store import complaints as complaints_store
from store import connectors as connectors_store
from store import helpdesk as helpdesk_store
from store.db import Database
from store.helpdesk import DueTicket
from workers.delivery import retry_delay_s
from workers.ssrf import TargetGuard, UnsafeTarget, guard_for
from workers.webhook_http import Attempt, delivery_client

log = logging.getLogger(__name__)

MAX_REPLY_BYTES = 1024 * 1024
ZENDESK_PRIORITY = {"p1": "urgent", "p2": "high", "p3": "normal", "p4": "low"}
# Freshdesk: 1 low, 2 medium, 3 high, 4 urgent.
FRESHDESK_PRIORITY = {"p1": 4, "p2": 3, "p3": 2, "p4": 1}
FRESHDESK_OPEN = 2


class TicketError(RuntimeError):
    """An attempt failed; ``retry_after_s`` is the vendor's Retry-After, if it sent one."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def basic_auth(user: str, password: str) -> str:
    """An HTTP Basic ``Authorization`` value."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def complaint_tag(complaint_id: UUID) -> str:
    """The tag that finds a complaint's Freshdesk ticket again (Freshdesk tags: 32 chars)."""
    return "lg" + complaint_id.hex[:30]


def _slug(value: str) -> str:
    # Zendesk splits tags on spaces; lower-case words joined by underscores stay one tag.
    return "_".join(value.lower().split())[:80]


def ticket_content(complaint: dict[str, Any], dashboard_url: str | None) -> dict[str, Any]:
    """Subject, plain-text description and tags of a complaint's ticket."""
    analysis = complaint.get("analysis") or {}
    category = complaint.get("category") or analysis.get("complaint_category") or "complaint"
    sentiment = analysis.get("sentiment") or "unknown"
    text = str(complaint.get("text") or "")
    first_line = " ".join(text.split())[:80]
    lines = [
        text,
        "",
        "— langnghe analysis —",
        f"Priority: {complaint['priority']}",
        f"Category: {category}",
        f"Sentiment: {sentiment}"
        + (f" ({analysis['sentiment_score']:.2f})" if "sentiment_score" in analysis else ""),
        f"Severity: {complaint.get('severity')}",
        f"Churn risk: {'yes' if complaint.get('churn_risk') else 'no'}",
        f"Reasons: {', '.join(complaint.get('reasons') or [])}",
        f"Channel: {complaint.get('channel')}; language: {complaint.get('language')}",
        f"Complaint: {complaint['id']}",
    ]
    if dashboard_url:
        lines.append(f"Inbox: {dashboard_url.rstrip('/')}/dashboard/inbox/{complaint['id']}")
    return {
        "subject": f"[{complaint['priority']}] {category}: {first_line}"[:250],
        "description": "\n".join(lines),
        "tags": [_slug(category), f"sentiment_{sentiment}"],
    }


def _requester(complaint: dict[str, Any]) -> str | None:
    ref = str(complaint.get("customer_ref") or "")
    return ref if "@" in ref and " " not in ref else None


@dataclass(frozen=True)
class Request:
    """One call to a help desk."""

    method: str
    url: str
    headers: dict[str, str]
    body: dict[str, Any] | None = None


def zendesk_requests(
    config: dict[str, Any], secrets: dict[str, str], complaint: dict[str, Any]
) -> tuple[Request, Request]:
    """(look-up, create) for Zendesk: POST /api/v2/tickets.json with ``email/token`` auth."""
    base = config["base_url"].rstrip("/")
    headers = {
        "Authorization": basic_auth(f"{config['email']}/token", secrets["api_token"]),
        "Accept": "application/json",
    }
    content = ticket_content(complaint, config.get("dashboard_url"))
    ticket: dict[str, Any] = {
        "subject": content["subject"],
        "comment": {"body": content["description"]},
        "priority": ZENDESK_PRIORITY[complaint["priority"]],
        "tags": content["tags"],
        "external_id": str(complaint["id"]),
    }
    requester = _requester(complaint)
    if requester:
        ticket["requester"] = {"email": requester, "name": requester.split("@")[0]}
    lookup = Request(
        "GET", f"{base}/api/v2/tickets.json?external_id={quote(str(complaint['id']))}", headers
    )
    return lookup, Request("POST", f"{base}/api/v2/tickets.json", headers, {"ticket": ticket})


def freshdesk_requests(
    config: dict[str, Any], secrets: dict[str, str], complaint: dict[str, Any]
) -> tuple[Request, Request]:
    """(look-up, create) for Freshdesk: POST /api/v2/tickets with the API key and "X"."""
    base = config["base_url"].rstrip("/")
    headers = {"Authorization": basic_auth(secrets["api_key"], "X"), "Accept": "application/json"}
    content = ticket_content(complaint, config.get("dashboard_url"))
    tag = complaint_tag(complaint["id"])
    body = {
        "subject": content["subject"],
        # Freshdesk's description is HTML.
        "description": html.escape(content["description"]).replace("\n", "<br>"),
        "email": _requester(complaint) or config["requester_email"],
        "priority": FRESHDESK_PRIORITY[complaint["priority"]],
        "status": FRESHDESK_OPEN,
        "tags": [*content["tags"], tag],
    }
    query = quote(f"\"tag:'{tag}'\"")
    lookup = Request("GET", f"{base}/api/v2/search/tickets?query={query}", headers)
    return lookup, Request("POST", f"{base}/api/v2/tickets", headers, body)


def _created_id(kind: str, reply: Any) -> str:
    ticket = reply.get("ticket", {}) if kind == "zendesk" else reply
    if not isinstance(ticket, dict) or "id" not in ticket:
        raise TicketError("the help desk's answer names no ticket id")
    return str(ticket["id"])


def _found_id(kind: str, reply: Any) -> str | None:
    found = reply.get("tickets" if kind == "zendesk" else "results") or []
    return str(found[0]["id"]) if found else None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None


def call(
    client: httpx.Client,
    attempt: Attempt,
    guard: TargetGuard | None,
    request: Request,
    timeout_s: float,
) -> Any:
    """Send one request within ``timeout_s``; the JSON answer, or TicketError."""
    return exchange(client, attempt, guard, request, timeout_s)[0]


def exchange(
    client: httpx.Client,
    attempt: Attempt,
    guard: TargetGuard | None,
    request: Request,
    timeout_s: float,
) -> tuple[Any, httpx.Headers]:
    """Send one request within ``timeout_s``; (the JSON answer, its headers), or TicketError.

    The headers are for paging: Freshdesk names the next page in its ``Link`` header.
    """
    addresses = None
    if guard is not None:
        try:
            addresses = guard.check_url(request.url)
        except UnsafeTarget as exc:
            raise TicketError(f"refused by the SSRF guard: {exc}") from exc
    content = None
    headers = dict(request.headers)
    if request.body is not None:
        content = json.dumps(request.body, ensure_ascii=False).encode("utf-8")
        headers["Content-Type"] = "application/json"
    attempt.start(timeout_s, addresses)
    try:
        with client.stream(request.method, request.url, content=content, headers=headers) as r:
            raw = b""
            for chunk in r.iter_bytes():
                raw += chunk
                if len(raw) > MAX_REPLY_BYTES:
                    raise TicketError("the help desk's answer is too large")
    except httpx.HTTPError as exc:
        raise TicketError(f"{type(exc).__name__}: {exc}") from exc
    if not 200 <= r.status_code < 300:
        raise TicketError(f"HTTP {r.status_code} from {request.method}", _retry_after(r))
    try:
        return json.loads(raw), r.headers
    except ValueError as exc:
        raise TicketError("the help desk's answer is not JSON") from exc


REQUESTS = {"zendesk": zendesk_requests, "freshdesk": freshdesk_requests}


def create_ticket(
    client: httpx.Client,
    attempt: Attempt,
    guard: TargetGuard | None,
    connector: connectors_store.Claimed,
    secrets: dict[str, str],
    complaint: dict[str, Any],
    first_attempt: bool,
    timeout_s: float,
) -> str:
    """The ticket id of the complaint: found (after a first attempt) or created now."""
    lookup, create = REQUESTS[connector.kind](connector.config, secrets, complaint)
    if not first_attempt:
        found = _found_id(connector.kind, call(client, attempt, guard, lookup, timeout_s))
        if found is not None:
            return found
    return _created_id(connector.kind, call(client, attempt, guard, create, timeout_s))


def send_due_tickets(db: Database, settings: Settings, batch: int = 20) -> tuple[int, int]:
    """Queue matching complaints, then create the due tickets; (created, failed)."""
    guard = guard_for(settings.webhook_allow_private, settings.webhook_allowed_networks)
    timeout_s = settings.delivery_timeout_s
    with db.transaction() as conn:
        helpdesk_store.queue_matching(conn)
        # Each ticket may take a look-up and a create, each to its deadline.
        due = helpdesk_store.claim_due(conn, batch, lease_s=2 * timeout_s * (batch + 1))
    created = failed = 0
    attempt = Attempt()
    with delivery_client(attempt, timeout_s) as client:
        for ticket in due:
            try:
                ticket_id, vendor = _attempt(db, settings, client, attempt, guard, ticket)
            except Exception as exc:  # one ticket's failure is recorded; the rest go on
                failed += 1
                _record_failure(db, settings, ticket, exc)
                continue
            with db.transaction() as conn:
                helpdesk_store.record_created(conn, ticket, vendor, ticket_id)
            created += 1
    return created, failed


def _attempt(
    db: Database,
    settings: Settings,
    client: httpx.Client,
    attempt: Attempt,
    guard: TargetGuard,
    ticket: DueTicket,
) -> tuple[str, str]:
    from workers.connectors import open_secrets

    with db.transaction() as conn:
        connector = connectors_store.get_helpdesk(conn, ticket.connector_id)
        complaint = complaints_store.get_complaint(conn, ticket.tenant_id, ticket.complaint_id)
    if connector is None or complaint is None:
        raise TicketError("the connector or the complaint is gone")
    secrets = open_secrets(settings, connector.secrets)
    ticket_id = create_ticket(
        client,
        attempt,
        guard,
        connector,
        secrets,
        complaint,
        ticket.attempts == 1,
        settings.delivery_timeout_s,
    )
    return ticket_id, connector.kind


def _record_failure(db: Database, settings: Settings, ticket: DueTicket, exc: Exception) -> None:
    error = f"{type(exc).__name__}: {exc}"[:500]
    retry: float | None = None
    if ticket.attempts < settings.delivery_max_attempts:
        retry = retry_delay_s(
            ticket.attempts, settings.delivery_backoff_base_s, settings.delivery_backoff_max_s
        )
        after = exc.retry_after_s if isinstance(exc, TicketError) else None
        if after is not None:
            retry = max(retry, after)
    log.warning(
        "ticket attempt failed",
        extra={"complaint_id": str(ticket.complaint_id), "error": error, "dead": retry is None},
    )
    with db.transaction() as conn:
        helpdesk_store.record_failure(conn, ticket.complaint_id, error, retry)
