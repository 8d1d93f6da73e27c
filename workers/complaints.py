"""Flag complaints inside the analysis transaction, by each tenant's policy."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from nlp.types import Analysis
from store import complaints as complaints_store
from store.db import Conn
from store.events import NewEvent
from workers.events import COMPLAINT_FLAGGED, analysis_payload
from workers.policy import ItemFacts, decide, load_policy, sla_due


@dataclass(frozen=True)
class AnalysedItem:
    """One item of the batch being written: its ids, stored fields and analysis."""

    feedback_id: UUID
    tenant_id: UUID
    context: dict[str, Any]
    analysis: Analysis


def flag_complaints(conn: Conn, items: Sequence[AnalysedItem]) -> dict[UUID, list[NewEvent]]:
    """Insert the complaints the tenants' policies flag; return their events per tenant.

    Runs on the analysis transaction's connection, so a complaint and its
    ``complaint.flagged`` event exist if and only if the analysis does.
    """
    if not items:
        return {}
    documents = complaints_store.get_policies(conn, sorted({i.tenant_id for i in items}))
    policies = {t: load_policy(documents.get(t)) for t in {i.tenant_id for i in items}}
    facts = complaints_store.feedback_facts(conn, [i.feedback_id for i in items])
    now = datetime.now(UTC)
    new: list[complaints_store.NewComplaint] = []
    decisions = {}
    for item in items:
        policy = policies[item.tenant_id]
        row = facts[item.feedback_id]
        a = item.analysis
        decision = decide(
            policy,
            ItemFacts(
                channel=item.context["channel"],
                sentiment=a.sentiment,
                complaint_score=a.complaint_score,
                severity=a.severity,
                churn_risk=a.churn_risk,
                rating=row["rating"],
                survey_score=row["survey_score"],
                metadata=row["metadata"] or {},
            ),
        )
        if not decision.flagged:
            continue
        decisions[item.feedback_id] = decision
        new.append(
            complaints_store.NewComplaint(
                tenant_id=item.tenant_id,
                feedback_id=item.feedback_id,
                priority=decision.priority,
                priority_score=decision.score,
                reasons=decision.reasons,
                # The category head only speaks for items it calls complaints.
                category=a.complaint_category or "other",
                channel=item.context["channel"],
                language=a.language,
                severity=a.severity,
                churn_risk=a.churn_risk,
                complaint_score=a.complaint_score,
                customer_value=decision.customer_value,
                flagged_at=now,
                sla_due_at=sla_due(policy, decision.priority, now),
            )
        )
    inserted = complaints_store.insert_complaints(conn, new)
    events: dict[UUID, list[NewEvent]] = defaultdict(list)
    by_feedback = {c.feedback_id: c for c in new}
    for item in items:
        complaint_id = inserted.get(item.feedback_id)
        if complaint_id is None:
            continue
        c = by_feedback[item.feedback_id]
        payload = analysis_payload(item.feedback_id, item.context, item.analysis)
        payload.update(
            complaint_id=str(complaint_id),
            status="open",
            priority=c.priority,
            reasons=list(c.reasons),
            category=c.category,
            customer_value=c.customer_value,
            flagged_at=c.flagged_at.isoformat(),
            sla_due_at=c.sla_due_at.isoformat(),
        )
        events[item.tenant_id].append(NewEvent(COMPLAINT_FLAGGED, payload))
    return events
