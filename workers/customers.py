"""Customer profiles kept current: refresh from the rows, rescore, and emit what changed.

``update_profiles`` runs inside the analysis transaction (workers.analysis), so a profile
and its events change together with the analysis. Interactions mark their customers
dirty in the POST's transaction; ``refresh_dirty`` (queued after the POST and on the beat)
refreshes them. ``rescore_all`` runs on the beat because silence grows with time alone.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from celery import shared_task
from pydantic import BaseModel, ConfigDict, Field

from store import complaints as complaints_store
from store import customers as customers_store
from store import events as events_store
from store import interactions as interactions_store
from store.db import Conn, Database
from store.events import NewEvent
from workers.celery_app import CUSTOMERS_REFRESH_TASK, CUSTOMERS_RESCORE_TASK
from workers.customer_model import ChurnModel, churn_label, train_and_compare
from workers.customer_risk import (
    HIGH_BAND,
    MEDIUM_BAND,
    Assessment,
    FeedbackFact,
    InteractionFact,
    assess,
)
from workers.customer_surveys import SurveyPolicy
from workers.events import COMPLAINT_FLAGGED, CUSTOMER_AT_RISK, CUSTOMER_SEGMENT_CHANGED
from workers.policy import Priority, load_policy, sla_due


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


def _assess_all(
    refs: Sequence[str],
    feedback: dict[str, list[dict[str, Any]]],
    interactions: dict[str, list[dict[str, Any]]],
    now: datetime,
) -> dict[str, Assessment]:
    """The scorer's view of these customers from their stored rows (by ref)."""
    return {
        ref: assess(
            [feedback_fact(r) for r in feedback[ref]],
            [interaction_fact(r) for r in interactions[ref]],
            now,
        )
        for ref in refs
    }


class CustomerSettings(BaseModel):
    """A tenant's customer settings. Every field has a default, so ``{}`` is valid."""

    model_config = ConfigDict(extra="forbid")

    recovery_cases: Literal["off", "silent_detractors", "detractors"] = Field(
        default="off",
        description="Open a recovery case in the complaint inbox for customers at high risk "
        "who never complained ('silent_detractors'), also for every detractor, real or "
        "inferred ('detractors'), or never ('off').",
    )
    recovery_priority: Priority = Field(default="p2", description="Priority of recovery cases.")
    surveys: SurveyPolicy = Field(
        default_factory=SurveyPolicy,
        description="When to suggest a survey after an interaction (survey.suggested).",
    )


def load_settings(document: dict[str, Any] | None) -> CustomerSettings:
    """The tenant's settings, or the defaults."""
    return CustomerSettings.model_validate(document or {})


# The suggested next step for a recovery case, by its heaviest reason.
NEXT_STEP = {
    "silence_after_bad_experience": "Call to apologise for the bad experience and offer a "
    "goodwill gesture; they have not been back since.",
    "bad_experiences": "Apologise for the recent problems and check the next order arrives well.",
    "frequency_drop": "Send a win-back offer on what they usually buy.",
    "unresolved_complaint": "Resolve their open complaint first, then follow up.",
    "reopened_complaint": "Escalate the reopened complaint to a senior agent.",
    "churn_cue": "Call within a day: they wrote that they may leave.",
    "severe_feedback": "Call about the severe issue they reported.",
    "negative_trend": "Ask what changed: their feedback is getting worse.",
    "detractor_answer": "Close the loop on their survey answer: ask what went wrong.",
}


def _recovery_cases(
    conn: Conn,
    tenant_id: UUID,
    scores: Sequence[customers_store.Score],
    before: dict[str, dict[str, Any]],
    now: datetime,
    settings: CustomerSettings,
) -> list[NewEvent]:
    """Open recovery cases where the tenant's settings ask for them; their events."""
    if settings.recovery_cases == "off":
        return []
    wanted = []
    for s in scores:
        profile = before.get(s.ref, {})
        if profile.get("cancelled_at") is not None:
            continue
        silent = s.risk_band == "high" and profile.get("complaint_count", 0) == 0
        detractor = settings.recovery_cases == "detractors" and s.segment == "detractor"
        if silent or detractor:
            top = s.reasons[0]["code"] if s.reasons else None
            step = NEXT_STEP.get(top or "", "Reach out and ask how we can do better.")
            wanted.append((s, step))
    if not wanted:
        return []
    policy = load_policy(complaints_store.get_policies(conn, [tenant_id]).get(tenant_id))
    due = sla_due(policy, settings.recovery_priority, now)
    opened = customers_store.open_recovery_cases(
        conn,
        tenant_id,
        [
            customers_store.RecoveryCase(
                ref=s.ref,
                priority=settings.recovery_priority,
                risk=s.risk_score,
                reasons=[r["code"] for r in s.reasons],
                suggested_action=step,
                flagged_at=now,
                sla_due_at=due,
            )
            for s, step in wanted
        ],
    )
    by_ref = {s.ref: (s, step) for s, step in wanted}
    return [
        NewEvent(
            COMPLAINT_FLAGGED,
            {
                "complaint_id": str(case_id),
                "kind": "recovery",
                "feedback_id": None,
                "customer_ref": ref,
                "status": "open",
                "priority": settings.recovery_priority,
                "reasons": by_ref[ref][0].reasons,
                "risk_score": by_ref[ref][0].risk_score,
                "segment": by_ref[ref][0].segment,
                "suggested_action": by_ref[ref][1],
                "flagged_at": now.isoformat(),
                "sla_due_at": due.isoformat(),
            },
        )
        for ref, case_id in opened.items()
    ]


def _band(risk: float) -> str:
    return "high" if risk >= HIGH_BAND else "medium" if risk >= MEDIUM_BAND else "low"


def rescore(
    conn: Conn,
    tenant_id: UUID,
    refs: Sequence[str],
    now: datetime,
    refresh: bool = False,
) -> list[NewEvent]:
    """Score these customers, store the scores, and return the events of what changed.

    With ``refresh``, their profiles' aggregates are recomputed first, in the same round
    trip as the reads the scoring needs (store.customers.scoring_inputs).

    The risk is the transparent score, or the tenant's trained model where
    ``langnghe train --churn`` found it better; the reasons are always the transparent
    score's. ``customer.at_risk`` when a customer enters the high band (not after a
    cancellation), ``customer.segment_changed`` when the NPS segment changes.
    """
    if not refs:
        return []
    inputs = customers_store.scoring_inputs(conn, tenant_id, refs, refresh)
    before = inputs.profiles
    assessed = _assess_all(refs, inputs.feedback, inputs.interactions, now)
    stored = inputs.model
    model = ChurnModel.from_json(stored) if stored else None
    risks = (
        {
            ref: 1.0 if "cancelled" in {r.code for r in a.reasons} else model.predict(a)
            for ref, a in assessed.items()
        }
        if model
        else {ref: a.risk for ref, a in assessed.items()}
    )
    scores = [
        customers_store.Score(
            ref=ref,
            risk_score=round(risks[ref], 4),
            risk_band=_band(risks[ref]),
            reasons=[r.as_json() for r in a.reasons],
            csat_trend=a.csat_trend,
            segment=a.segment,
            segment_source=a.segment_source,
        )
        for ref, a in assessed.items()
    ]
    customers_store.save_scores(conn, tenant_id, scores, now)
    events = _recovery_cases(conn, tenant_id, scores, before, now, load_settings(inputs.settings))
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
        events[tenant_id] = rescore(conn, tenant_id, refs, now, refresh=True)
    return events


def refresh_dirty(
    db: Database, limit: int = 1000, now: datetime | None = None, until: float | None = None
) -> int:
    """Refresh and rescore profiles that new interactions marked dirty; return how many.

    ``until`` (a ``time.monotonic()`` instant): stop after the batch that passes it, leaving
    the rest marked dirty for the next call.
    """
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
        if len(batch) < limit or (until is not None and time.monotonic() >= until):
            return done


RescoreCursor = tuple[UUID, str | None]
"""Where a rescoring pass stands: the tenant, and the last customer ref done (None: none)."""


def rescore_slice(
    db: Database,
    start: RescoreCursor | None = None,
    page: int = 500,
    now: datetime | None = None,
    until: float | None = None,
) -> tuple[int, RescoreCursor | None]:
    """Rescore profiles from ``start`` (default: the first tenant's first customer) in pages
    of ``page``, tenant by tenant, until all are done or a page ends after the
    ``time.monotonic()`` instant ``until``; return how many, and the cursor to go on from
    (None: all done; a cursor at a tenant's last customer moves on to the next tenant)."""
    now = now or datetime.now(UTC)
    with db.transaction() as conn:
        tenants = customers_store.tenants_with_customers(conn)
    if start is not None:
        tenants = [t for t in tenants if t >= start[0]]
    total = 0
    for tenant_id in tenants:
        after = start[1] if start is not None and tenant_id == start[0] else None
        while True:
            with db.transaction() as conn:
                refs = customers_store.scorable_refs(conn, tenant_id, after, page)
                if not refs:
                    break
                events_store.append_events(conn, tenant_id, rescore(conn, tenant_id, refs, now))
            total += len(refs)
            after = refs[-1]
            # Checked after a page, so that every slice makes progress.
            if until is not None and time.monotonic() >= until:
                return total, (tenant_id, after)
    return total, None


def rescore_all(db: Database, page: int = 500, now: datetime | None = None) -> int:
    """Rescore every profile of every tenant (silence grows with time); return how many."""
    done, _ = rescore_slice(db, None, page, now)
    return done


def train_churn(
    db: Database, tenant_id: UUID, horizon_days: int = 30, now: datetime | None = None
) -> dict[str, Any]:
    """Fit the tenant's churn model on its cancellations and keep it only if it is better.

    See workers.customer_model for the framing: features as of ``now - horizon``, labels
    = a cancellation in the horizon; held-out customers by a hash of their ref.
    """
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=horizon_days)
    assessed: dict[str, Assessment] = {}
    labels: dict[str, int] = {}
    after: str | None = None
    with db.transaction() as conn:
        while refs := customers_store.scorable_refs(conn, tenant_id, after, 500):
            after = refs[-1]
            interactions = interactions_store.interactions_of(conn, tenant_id, refs)
            feedback = customers_store.feedback_of(conn, tenant_id, refs)
            for ref in refs:
                rows = [interaction_fact(r) for r in interactions[ref]]
                facts = [feedback_fact(r) for r in feedback[ref]]
                seen = [r.at for r in rows if r.at <= cutoff]
                seen += [f.at for f in facts if f.at <= cutoff]
                cancels = [r.at for r in rows if r.type == "cancellation"]
                if not seen or any(at <= cutoff for at in cancels):
                    continue
                assessed[ref] = assess(facts, rows, cutoff)
                labels[ref] = churn_label(facts, rows, cutoff, now)
    model, report = train_and_compare(assessed, labels)
    report["horizon_days"] = horizon_days
    if model is not None:
        with db.transaction() as conn:
            customers_store.put_churn_model(
                conn, tenant_id, {**model.as_json(), "report": report}, bool(report["use_model"])
            )
    return report


# One task holds a worker process for at most this long: a tenant that just sent a
# million interactions, or has a million profiles to rescore, then takes turns with every
# tenant's analysis (the rest of the work goes to the back of the queue as a new task)
# instead of holding both processes of a 2-core worker for minutes.
TASK_SLICE_S = 5.0


@shared_task(name=CUSTOMERS_REFRESH_TASK, acks_late=True)
def refresh_task() -> int:
    """Refresh the profiles new interactions marked dirty, for one slice of time."""
    from workers.runtime import get_runtime

    until = time.monotonic() + TASK_SLICE_S
    done = refresh_dirty(get_runtime().db, until=until)
    if time.monotonic() >= until:  # stopped by the clock: more may be dirty
        refresh_task.delay()
    return done


@shared_task(name=CUSTOMERS_RESCORE_TASK, acks_late=True)
def rescore_task(tenant_id: str | None = None, after: str | None = None) -> int:
    """Rescore every customer (silence grows with time, without any new row), one slice of
    time per task, from the cursor a previous slice left."""
    from workers.runtime import get_runtime

    start = (UUID(tenant_id), after) if tenant_id else None
    done, cursor = rescore_slice(get_runtime().db, start, until=time.monotonic() + TASK_SLICE_S)
    if cursor is not None:
        rescore_task.delay(str(cursor[0]), cursor[1])
    return done
