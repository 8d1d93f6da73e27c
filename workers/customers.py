"""Customer profiles kept current: refresh from the rows, rescore, and emit what changed.

``update_profiles`` runs inside the analysis transaction (workers.analysis), so a profile
and its events change together with the analysis. Interactions mark their customers
dirty in the POST's transaction; ``refresh_dirty`` (queued after the POST and on the beat)
refreshes them. ``rescore_all`` runs on the beat because silence grows with time alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from celery import shared_task

from store import customers as customers_store
from store import events as events_store
from store import interactions as interactions_store
from store.db import Conn, Database
from store.events import NewEvent
from workers.celery_app import CUSTOMERS_REFRESH_TASK, CUSTOMERS_RESCORE_TASK
from workers.customer_risk import Assessment, FeedbackFact, InteractionFact, assess
from workers.events import CUSTOMER_AT_RISK, CUSTOMER_SEGMENT_CHANGED


def feedback_fact(row: dict[str, Any]) -> FeedbackFact:
    """A stored item (store.customers.feedback_of) as the scorer reads it."""
    return FeedbackFact(
        id=str(row["id"]),
        at=row["at"],
        channel=row["channel"],
        sentiment=row["sentiment"],
        csat_expected=float(row["csat_expected"]),
        churn_cue=bool(row["churn_risk"]),
        severity=row["severity"],
        survey_score=row["survey_score"],
        rating=row["rating"],
        complaint_id=str(row["complaint_id"]) if row["complaint_id"] else None,
        complaint_status=row["complaint_status"],
        complaint_reopened=bool(row["complaint_reopen_count"]),
    )


def interaction_fact(row: dict[str, Any]) -> InteractionFact:
    """A stored interaction as the scorer reads it."""
    return InteractionFact(
        id=str(row["id"]),
        type=row["type"],
        at=row["occurred_at"],
        value=row["value"],
        attributes=dict(row["attributes"] or {}),
    )


def assess_stored(
    conn: Conn, tenant_id: UUID, refs: Sequence[str], now: datetime
) -> dict[str, Assessment]:
    """The scorer's view of these customers from their stored rows."""
    feedback = customers_store.feedback_of(conn, tenant_id, refs)
    interactions = interactions_store.interactions_of(conn, tenant_id, refs)
    return {
        ref: assess(
            [feedback_fact(r) for r in feedback[ref]],
            [interaction_fact(r) for r in interactions[ref]],
            now,
        )
        for ref in refs
    }


def rescore(conn: Conn, tenant_id: UUID, refs: Sequence[str], now: datetime) -> list[NewEvent]:
    """Score these customers, store the scores, and return the events of what changed.

    ``customer.at_risk`` when a customer enters the high band (not after a cancellation),
    ``customer.segment_changed`` when the NPS segment changes.
    """
    if not refs:
        return []
    before = customers_store.profiles(conn, tenant_id, refs)
    assessed = assess_stored(conn, tenant_id, refs, now)
    scores = [
        customers_store.Score(
            ref=ref,
            risk_score=round(a.risk, 4),
            risk_band=a.band,
            reasons=[r.as_json() for r in a.reasons],
            csat_trend=a.csat_trend,
            segment=a.segment,
            segment_source=a.segment_source,
        )
        for ref, a in assessed.items()
    ]
    customers_store.save_scores(conn, tenant_id, scores, now)
    events: list[NewEvent] = []
    for score in scores:
        old = before.get(score.ref, {})
        cancelled = old.get("cancelled_at") is not None
        base = {
            "customer_ref": score.ref,
            "risk_score": score.risk_score,
            "risk_band": score.risk_band,
            "segment": score.segment,
            "segment_source": score.segment_source,
            "silent": old.get("complaint_count", 0) == 0,
            "reasons": score.reasons,
        }
        if score.risk_band == "high" and old.get("risk_band") != "high" and not cancelled:
            events.append(NewEvent(CUSTOMER_AT_RISK, base))
        if score.segment != old.get("segment"):
            events.append(
                NewEvent(CUSTOMER_SEGMENT_CHANGED, {**base, "previous": old.get("segment")})
            )
    return events


def update_profiles(
    conn: Conn, customers: Iterable[tuple[UUID, str | None]], now: datetime | None = None
) -> dict[UUID, list[NewEvent]]:
    """Refresh and rescore these (tenant, customer_ref) on the caller's transaction.

    Returns the events per tenant for the caller to append with its own.
    """
    by_tenant: dict[UUID, set[str]] = defaultdict(set)
    for tenant_id, ref in customers:
        if ref:
            by_tenant[tenant_id].add(ref)
    now = now or datetime.now(UTC)
    events: dict[UUID, list[NewEvent]] = {}
    for tenant_id in sorted(by_tenant):
        refs = sorted(by_tenant[tenant_id])
        customers_store.refresh_profiles(conn, tenant_id, refs)
        events[tenant_id] = rescore(conn, tenant_id, refs, now)
    return events


def refresh_dirty(db: Database, limit: int = 1000, now: datetime | None = None) -> int:
    """Refresh and rescore profiles that new interactions marked dirty; return how many."""
    done = 0
    while True:
        with db.transaction() as conn:
            batch = customers_store.claim_dirty(conn, limit)
            if not batch:
                return done
            events = update_profiles(conn, batch, now)
            for tenant_id in sorted(events):
                events_store.append_events(conn, tenant_id, events[tenant_id])
        done += len(batch)
        if len(batch) < limit:
            return done


def rescore_all(db: Database, page: int = 500, now: datetime | None = None) -> int:
    """Rescore every profile of every tenant (silence grows with time); return how many."""
    now = now or datetime.now(UTC)
    with db.transaction() as conn:
        tenants = customers_store.tenants_with_customers(conn)
    total = 0
    for tenant_id in tenants:
        after: str | None = None
        while True:
            with db.transaction() as conn:
                refs = customers_store.scorable_refs(conn, tenant_id, after, page)
                if not refs:
                    break
                events_store.append_events(conn, tenant_id, rescore(conn, tenant_id, refs, now))
            total += len(refs)
            after = refs[-1]
    return total


@shared_task(name=CUSTOMERS_REFRESH_TASK, acks_late=True)
def refresh_task() -> int:
    """Refresh the profiles new interactions marked dirty."""
    from workers.runtime import get_runtime

    return refresh_dirty(get_runtime().db)


@shared_task(name=CUSTOMERS_RESCORE_TASK, acks_late=True)
def rescore_task() -> int:
    """Rescore every customer: silence grows with time, without any new row."""
    from workers.runtime import get_runtime

    return rescore_all(get_runtime().db)
