"""Webhook delivery: sign, send, and schedule retries or dead-letter."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any

import httpx
from celery.utils.time import get_exponential_backoff_interval

from store import webhooks as webhooks_store
from store.db import Database
from store.webhooks import DueDelivery
from workers.ssrf import TargetGuard, UnsafeTarget

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


def send_one(
    client: httpx.Client, delivery: DueDelivery, guard: TargetGuard | None = None
) -> tuple[int | None, str | None]:
    """POST one event; return (status code, error) where error is None on a 2xx answer.

    With a guard, the target's addresses are checked again now: DNS may have changed
    since the subscription was made.
    """
    if guard is not None:
        try:
            guard.check_url(delivery.url)
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
    try:
        response = client.post(delivery.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"
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
    batch: int = 50,
    guard: TargetGuard | None = None,
) -> tuple[int, int]:
    """Send every due delivery; return (succeeded, failed) attempts."""
    ok = failed = 0
    with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
        while True:
            with db.transaction() as conn:
                due = webhooks_store.claim_due_deliveries(conn, batch, lease_s=timeout_s * 3)
            if not due:
                return ok, failed
            for delivery in due:
                started = time.perf_counter()
                status, error = send_one(client, delivery, guard)
                duration_ms = (time.perf_counter() - started) * 1000
                with db.transaction() as conn:
                    if error is None:
                        webhooks_store.record_success(conn, delivery.id, status or 0, duration_ms)
                        ok += 1
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
