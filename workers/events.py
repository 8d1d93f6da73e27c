"""The outbox events an analysis implies."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from nlp.types import Analysis
from store.events import NewEvent

FEEDBACK_ANALYZED = "feedback.analyzed"
COMPLAINT_FLAGGED = "complaint.flagged"
TOPIC_EMERGING = "topic.emerging"
EVENT_TYPES = (FEEDBACK_ANALYZED, COMPLAINT_FLAGGED, TOPIC_EMERGING)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def events_for(feedback_id: UUID, context: dict[str, Any], analysis: Analysis) -> list[NewEvent]:
    """``feedback.analyzed`` always; ``complaint.flagged`` when the item is a complaint."""
    item = {
        "feedback_id": str(feedback_id),
        "source": context["source"],
        "external_id": context["external_id"],
        "channel": context["channel"],
        "customer_ref": context["customer_ref"],
        "rating": context["rating"],
        "received_at": _jsonable(context["received_at"]),
    }
    result = {
        "language": analysis.language,
        "sentiment": {
            "label": analysis.sentiment,
            "score": analysis.sentiment_score,
            "probabilities": analysis.sentiment_probs,
        },
        "complaint": {
            "flag": analysis.complaint,
            "score": analysis.complaint_score,
            "category": analysis.complaint_category,
            "severity": analysis.severity,
            "churn_risk": analysis.churn_risk,
        },
        "csat": {
            "distribution": list(analysis.csat_distribution),
            "expected": analysis.csat_expected,
            "nps_class": analysis.nps_class,
        },
        "model_versions": analysis.model_versions,
    }
    events = [NewEvent(FEEDBACK_ANALYZED, {**item, **result})]
    if analysis.complaint:
        events.append(NewEvent(COMPLAINT_FLAGGED, {**item, **result}))
    return events
