"""Webhook delivery: sign, send, and schedule retries or dead-letter."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
from celery.utils.time import get_exponential_backoff_interval

from store import webhooks as webhooks_store
from store.db import Conn, Database
from store.webhooks import DueDelivery
from workers.notifications import Batch, Notifier
from workers.ssrf import TargetGuard
from workers.webhook_http import Attempt, Outcome, delivery_client, post

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
    client: httpx.Client,
    attempt: Attempt,
    delivery: DueDelivery,
    timeout_s: float,
    guard: TargetGuard | None = None,
) -> Outcome:
    """POST one signed event to its subscription within ``timeout_s`` in all."""
    body = event_body(delivery)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature_header(delivery.secret, delivery.previous_secret, body),
        EVENT_ID_HEADER: str(delivery.event_id),
        EVENT_TYPE_HEADER: delivery.event_type,
        DELIVERY_ID_HEADER: str(delivery.id),
    }
    return post(client, attempt, delivery.url, body, headers, timeout_s, guard)


def _by_target(due: list[DueDelivery]) -> list[tuple[UUID, list[DueDelivery]]]:
    """The claim as groups to send, in claim order: one per webhook delivery, and one per
    notification channel holding all its deliveries (they become one message)."""
    groups: list[tuple[UUID, list[DueDelivery]]] = []
    channels: dict[UUID, list[DueDelivery]] = {}
    for delivery in due:
        if delivery.channel_id is None:
            assert delivery.subscription_id is not None
            groups.append((delivery.subscription_id, [delivery]))
        elif delivery.channel_id in channels:
            channels[delivery.channel_id].append(delivery)
        else:
            channels[delivery.channel_id] = [delivery]
            groups.append((delivery.channel_id, channels[delivery.channel_id]))
    return groups


def _record(
    conn: Conn,
    results: list[tuple[list[DueDelivery], Outcome, float]],
    max_attempts: int,
    backoff_base_s: int,
    backoff_max_s: int,
) -> tuple[int, int]:
    """Log each attempt on every delivery it carried; schedule retries or dead-letter.
    Returns (succeeded, failed) deliveries.

    The deliveries of one message retry together: one delay, from the most tried, and
    no sooner than the receiver's Retry-After (capped at the longest backoff).
    """
    succeeded = [
        (delivery.id, outcome.status or 0, duration_ms)
        for group, outcome, duration_ms in results
        if outcome.error is None
        for delivery in group
    ]
    webhooks_store.record_successes(conn, succeeded)
    failed = 0
    for group, outcome, duration_ms in results:
        if outcome.error is None:
            continue
        delay = retry_delay_s(max(d.attempts for d in group), backoff_base_s, backoff_max_s)
        if outcome.retry_after_s is not None:
            delay = max(delay, min(outcome.retry_after_s, float(backoff_max_s)))
        for delivery in group:
            failed += 1
            retry = delay if delivery.attempts < max_attempts else None
            log.warning(
                "delivery failed",
                extra={
                    "delivery_id": str(delivery.id),
                    "attempts": delivery.attempts,
                    "error": outcome.error,
                    "dead": retry is None,
                },
            )
            webhooks_store.record_failure(
                conn, delivery.id, outcome.status, outcome.error, retry, duration_ms
            )
    return len(succeeded), failed


# Sends in flight at once per delivery task, and to any one target (a subscription or a
# channel) once it has answered during the task; LANGNGHE_DELIVERY_CONCURRENCY and
# LANGNGHE_DELIVERY_PER_TARGET set them for the workers.
CONCURRENCY = 8
PER_TARGET = 4


@dataclass(frozen=True)
class _Sending:
    """A send in flight: what it carries and whose it is."""

    target: UUID
    tenant: UUID
    group: list[DueDelivery]


def _timed(send: Callable[[], Outcome]) -> tuple[Outcome, float]:
    """The send's outcome and how long it took in milliseconds, timed in its own thread."""
    started = time.perf_counter()
    outcome = send()
    return outcome, (time.perf_counter() - started) * 1000


class _Sends:
    """One claim's sends over a thread pool, in claim order, within the caps.

    A target gets one send at a time until it answers (any HTTP status) during the task,
    then up to ``per_target`` at once: a dead or hanging receiver costs one deadline and
    one attempt per task, as when everything went one at a time, not ``per_target``. A
    tenant holds at most its share of the pool (the pool over the tenants with sends
    waiting or in flight), so one tenant's slow receivers leave the others their threads.
    """

    def __init__(self, pool: ThreadPoolExecutor, concurrency: int, per_target: int) -> None:
        self.pool = pool
        self.concurrency = concurrency
        self.per_target = per_target
        self.answered: set[UUID] = set()  # targets that answered during this task
        self.unanswered: set[UUID] = set()  # targets that did not

    def run(
        self,
        groups: list[tuple[UUID, list[DueDelivery]]],
        start: Callable[
            [UUID, list[DueDelivery]], tuple[list[DueDelivery], Callable[[], Outcome]] | None
        ],
        stop_at: float,
    ) -> tuple[list[tuple[list[DueDelivery], Outcome, float]], list[UUID]]:
        """Send every group; (results, ids given back untried).

        ``start`` prepares a group's send (None: nothing to send, the group was dealt
        with); it runs here, in the caller's thread, and only the send runs in the pool.
        Groups of a target that did not answer, and any not started by ``stop_at``, are
        given back untried; sends already in flight run to their own deadline.
        """
        waiting = list(groups)
        in_flight: dict[Future[tuple[Outcome, float]], _Sending] = {}
        by_target: Counter[UUID] = Counter()
        by_tenant: Counter[UUID] = Counter()
        results: list[tuple[list[DueDelivery], Outcome, float]] = []
        untried: list[UUID] = []
        while waiting or in_flight:
            tenants = {g[0].tenant_id for _, g in waiting} | {s.tenant for s in in_flight.values()}
            share = max(1, -(-self.concurrency // max(1, len(tenants))))
            n = 0
            while n < len(waiting) and len(in_flight) < self.concurrency:
                target, group = waiting[n]
                tenant = group[0].tenant_id
                if target in self.unanswered or time.monotonic() >= stop_at:
                    untried += [d.id for d in waiting.pop(n)[1]]
                    continue
                cap = self.per_target if target in self.answered else 1
                if by_target[target] >= cap or by_tenant[tenant] >= share:
                    n += 1
                    continue
                waiting.pop(n)
                prepared = start(target, group)
                if prepared is None:
                    continue
                sent, send = prepared
                in_flight[self.pool.submit(_timed, send)] = _Sending(target, tenant, sent)
                by_target[target] += 1
                by_tenant[tenant] += 1
            if not in_flight:
                continue  # what is left waits on nothing in flight: it goes, or is given back
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                sending = in_flight.pop(future)
                by_target[sending.target] -= 1
                by_tenant[sending.tenant] -= 1
                outcome, duration_ms = future.result()
                results.append((sending.group, outcome, duration_ms))
                if outcome.error is not None and outcome.status is None:
                    self.unanswered.add(sending.target)
                else:
                    self.answered.add(sending.target)
        return results, untried


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
    notifier: Notifier | None = None,
    concurrency: int = CONCURRENCY,
    per_target: int = PER_TARGET,
) -> tuple[int, int]:
    """Send due deliveries, fairly across tenants, for at most ``budget_s``; (succeeded, failed).

    Each claim is ordered round-robin across tenants (each one's first, then each one's
    second...) and takes at most ``per_tenant`` of one, so one tenant's backlog waits its
    turn behind nobody and ahead of nobody; a tenant alone gets a whole claim, not a
    fifth of one (a claim and its outcomes are two transactions, whatever their size).
    Up to ``concurrency`` sends are in flight at once, in claim order, at most
    ``per_target`` to one receiver and at most its share of them to one tenant (see
    ``_Sends``): a round trip to a receiver no longer waits for the one before.
    When an attempt to a target fails without an answer (timeout, refused), its other
    deliveries are put back untried for the rest of the call: a dead or dripping
    receiver costs one deadline per call, not one per event. After ``budget_s`` (default:
    three deadlines) no send starts and the task returns once those in flight are done
    (each within its deadline), leaving the rest to the next one, so a worker process is
    soon free for analysis again.

    A notification channel's deliveries go out as one message (``notifier`` renders and
    sends it; without one, a notifier without LANGNGHE_SECRET_KEY, whose sends fail);
    in the channel's quiet hours or over its rate limit they are put back untried until
    it may send again.
    """
    notifier = notifier or Notifier(box=None)
    ok = failed = 0
    stop_at = time.monotonic() + (budget_s if budget_s is not None else 3 * timeout_s)
    attempt = Attempt()  # per thread: each of the pool's threads has its own deadline
    lease_s = timeout_s * (batch + 1)

    def start(
        target: UUID, group: list[DueDelivery]
    ) -> tuple[list[DueDelivery], Callable[[], Outcome]] | None:
        if group[0].channel_id is None:
            delivery = group[0]
            return group, lambda: send_one(client, attempt, delivery, timeout_s, guard)
        with db.transaction() as conn:
            plan = notifier.plan(conn, target, group, lease_s)
            if not isinstance(plan, Batch):
                if plan is not None:  # quiet hours or rate limit: wait, untried
                    webhooks_store.release_untried(conn, [d.id for d in group], plan)
                return None
            # Claimed beyond one message's worth: due again now, untried.
            batched = {d.id for d in plan.deliveries}
            left = [d.id for d in group if d.id not in batched]
            if left:
                webhooks_store.release_untried(conn, left)
        planned = plan
        return planned.deliveries, lambda: notifier.send_batch(
            client, attempt, planned, timeout_s, guard
        )

    with (
        delivery_client(attempt, timeout_s) as client,
        ThreadPoolExecutor(concurrency, thread_name_prefix="deliver") as pool,
    ):
        sends = _Sends(pool, concurrency, per_target)
        while time.monotonic() < stop_at:
            # Leases and outcomes need not wait for the disk: lost in a crash of Postgres,
            # the deliveries are due again and sent again, which receivers expect.
            with db.transaction(durable=False) as conn:
                # The lease covers every attempt of the claim running to its deadline.
                due = webhooks_store.claim_due_deliveries(conn, batch, per_tenant, lease_s)
            if not due:
                break
            results, untried = sends.run(_by_target(due), start, stop_at)
            # Outcomes are written together, one transaction per claim rather than per
            # delivery: a commit per event cost about as much as sending it. Should the
            # worker die before writing them, the lease runs out and those events are sent
            # again, which receivers already expect (they dedupe by event id).
            with db.transaction(durable=False) as conn:
                if untried:
                    # Due again after a pause, so the next claim serves other receivers first.
                    webhooks_store.release_untried(conn, untried, backoff_base_s)
                sent, lost = _record(conn, results, max_attempts, backoff_base_s, backoff_max_s)
            ok += sent
            failed += lost
    return ok, failed
