"""Webhook delivery: sign, send, and schedule retries or dead-letter."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any
from uuid import UUID

import httpx
from celery.utils.time import get_exponential_backoff_interval

from store import webhooks as webhooks_store
from store.db import Database
from store.webhooks import DueDelivery
from workers.ssrf import TargetGuard, UnsafeTarget, mask_credentials
from workers.webhook_http import Attempt, delivery_client

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Langnghe-Signature"
EVENT_ID_HEADER = "X-Langnghe-Event-Id"
EVENT_TYPE_HEADER = "X-Langnghe-Event-Type"
DELIVERY_ID_HEADER = "X-Langnghe-Delivery-Id"


def sign(secret: str, body: bytes) -> str:
    """The signature header value: ``sha256=`` and the hex HMAC-SHA256 of the raw body."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signature_header(secret: str, previous_secret: str | None, body: bytes) -> str:
    """One signature, or during a secret rotation two: ``sha256=<new>, sha256=<old>``.

    A receiver accepts the body when any listed signature matches its secret, so it
    can switch secrets at any moment of the grace period.
    """
    signatures = [sign(secret, body)]
    if previous_secret and previous_secret != secret:
        signatures.append(sign(previous_secret, body))
    return ", ".join(signatures)


def event_body(delivery: DueDelivery) -> bytes:
    """The JSON body a receiver gets: the event envelope and its data."""
    envelope: dict[str, Any] = {
        "id": str(delivery.event_id),
        "type": delivery.event_type,
        "seq": delivery.event_seq,
        "tenant_id": str(delivery.tenant_id),
        "created_at": delivery.created_at.isoformat(),
        "data": delivery.data,
    }
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def retry_delay_s(attempts: int, base_s: int, max_s: int) -> float:
    """Exponential backoff with full jitter, so failing receivers are not hit in lockstep."""
    return float(
        get_exponential_backoff_interval(
            factor=base_s, retries=attempts - 1, maximum=max_s, full_jitter=True
        )
    )


# A receiver's reply is read only to keep the connection reusable; past this it is cut off.
MAX_REPLY_BYTES = 64 * 1024


def send_one(
    client: httpx.Client,
    attempt: Attempt,
    delivery: DueDelivery,
    timeout_s: float,
    guard: TargetGuard | None = None,
) -> tuple[int | None, str | None]:
    """POST one event within ``timeout_s`` in all; return (status code, error or None on 2xx).

    With a guard, the target's addresses are checked again now (DNS may have changed since
    the subscription was made) and the connection goes to exactly those addresses.
    """
    addresses: list[str] | None = None
    if guard is not None:
        try:
            addresses = guard.check_url(delivery.url)
        except UnsafeTarget as exc:
            return None, f"refused by the SSRF guard: {exc}"
    body = event_body(delivery)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature_header(delivery.secret, delivery.previous_secret, body),
        EVENT_ID_HEADER: str(delivery.event_id),
        EVENT_TYPE_HEADER: delivery.event_type,
        DELIVERY_ID_HEADER: str(delivery.id),
    }
    attempt.start(timeout_s, addresses)
    try:
        with client.stream("POST", delivery.url, content=body, headers=headers) as response:
            read = 0
            for chunk in response.iter_raw():
                read += len(chunk)
                if read > MAX_REPLY_BYTES:
                    break  # closing an unfinished reply drops the connection
    except httpx.HTTPError as exc:
        # The error is logged and shown in the delivery log: never with URL credentials.
        message = str(exc).replace(delivery.url, mask_credentials(delivery.url))
        return None, f"{type(exc).__name__}: {message}"
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"HTTP {response.status_code}"


def deliver_due(
    db: Database,
    *,
    timeout_s: float,
    max_attempts: int,
    backoff_base_s: int,
    backoff_max_s: int,
    batch: int = 20,
    per_tenant: int = 20,
    budget_s: float | None = None,
    guard: TargetGuard | None = None,
) -> tuple[int, int]:
    """Send due deliveries, fairly across tenants, for at most ``budget_s``; (succeeded, failed).

    Each claim is ordered round-robin across tenants (each one's first, then each one's
    second...) and takes at most ``per_tenant`` of one, so one tenant's backlog waits its
    turn behind nobody and ahead of nobody; a tenant alone gets a whole claim, not a
    fifth of one (a claim and its outcomes are two transactions, whatever their size).
    When an attempt to a subscription fails without an answer (timeout, refused), its
    other deliveries are put back untried for the rest of the call: a dead or dripping
    receiver costs one deadline per call, not one per event. After ``budget_s`` (default:
    three deadlines) the task returns and leaves the rest to the next one, so a worker
    process is soon free for analysis again.
    """
    ok = failed = 0
    stop_at = time.monotonic() + (budget_s if budget_s is not None else 3 * timeout_s)
    attempt = Attempt()
    unanswered: set[UUID] = set()  # subscriptions that did not answer during this call
    with delivery_client(attempt, timeout_s) as client:
        while time.monotonic() < stop_at:
            # Leases and outcomes need not wait for the disk: lost in a crash of Postgres,
            # the deliveries are due again and sent again, which receivers expect.
            with db.transaction(durable=False) as conn:
                # The lease covers every attempt of the claim running to its deadline.
                due = webhooks_store.claim_due_deliveries(
                    conn, batch, per_tenant, lease_s=timeout_s * (batch + 1)
                )
            if not due:
                break
            # Outcomes are written together, one transaction per claim rather than per
            # delivery: a commit per event cost about as much as sending it. Should the
            # worker die before writing them, the lease runs out and those events are sent
            # again, which receivers already expect (they dedupe by event id).
            outcomes: list[tuple[DueDelivery, int | None, str | None, float]] = []
            untried: list[UUID] = []
            for delivery in due:
                if delivery.subscription_id in unanswered or time.monotonic() >= stop_at:
                    untried.append(delivery.id)
                    continue
                started = time.perf_counter()
                status, error = send_one(client, attempt, delivery, timeout_s, guard)
                outcomes.append((delivery, status, error, (time.perf_counter() - started) * 1000))
                if error is not None and status is None:
                    unanswered.add(delivery.subscription_id)
            with db.transaction(durable=False) as conn:
                if untried:
                    # Due again after a pause, so the next claim serves other receivers first.
                    webhooks_store.release_untried(conn, untried, backoff_base_s)
                succeeded = [
                    (delivery.id, status or 0, duration_ms)
                    for delivery, status, error, duration_ms in outcomes
                    if error is None
                ]
                webhooks_store.record_successes(conn, succeeded)
                ok += len(succeeded)
                for delivery, status, error, duration_ms in outcomes:
                    if error is None:
                        continue
                    failed += 1
                    retry = (
                        retry_delay_s(delivery.attempts, backoff_base_s, backoff_max_s)
                        if delivery.attempts < max_attempts
                        else None
                    )
                    log.warning(
                        "delivery failed",
                        extra={
                            "delivery_id": str(delivery.id),
                            "attempts": delivery.attempts,
                            "error": error,
                            "dead": retry is None,
                        },
                    )
                    webhooks_store.record_failure(
                        conn, delivery.id, status, error, retry, duration_ms
                    )
    return ok, failed
