"""The outbox events an analysis implies."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from nlp.types import Analysis
from store.events import NewEvent

FEEDBACK_ANALYZED = "feedback.analyzed"
COMPLAINT_FLAGGED = "complaint.flagged"
COMPLAINT_UPDATED = "complaint.updated"
COMPLAINT_RESOLVED = "complaint.resolved"
SIGNAL_CSAT_DROP = "signal.csat_drop"
TOPIC_EMERGING = "topic.emerging"
CUSTOMER_AT_RISK = "customer.at_risk"
CUSTOMER_SEGMENT_CHANGED = "customer.segment_changed"
FEEDBACK_CORRECTED = "feedback.corrected"
# A notification channel's scheduled summary (queued for that channel only).
DIGEST_SUPPORT = "digest.support"
DIGEST_ANALYST = "digest.analyst"
SURVEY_SUGGESTED = "survey.suggested"
EVENT_TYPES = (
    FEEDBACK_ANALYZED,
    COMPLAINT_FLAGGED,
    COMPLAINT_UPDATED,
    COMPLAINT_RESOLVED,
    SIGNAL_CSAT_DROP,
    TOPIC_EMERGING,
    CUSTOMER_AT_RISK,
    CUSTOMER_SEGMENT_CHANGED,
    FEEDBACK_CORRECTED,
    DIGEST_SUPPORT,
    DIGEST_ANALYST,
    SURVEY_SUGGESTED,
)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def aspects_json(analysis: Analysis) -> list[dict[str, Any]]:
    """The analysis's aspects as JSON objects, span included."""
    return [
        {
            "aspect": a.aspect,
            "polarity": a.polarity,
            "score": round(a.score, 4),
            "span": {"start": a.span.start, "end": a.span.end, "text": a.span.text},
        }
        for a in analysis.aspects
    ]


def analysis_payload(
    feedback_id: UUID, context: dict[str, Any], analysis: Analysis
) -> dict[str, Any]:
    """The item and its analysis, as carried by ``feedback.analyzed`` and ``complaint.flagged``."""
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
        "aspects": aspects_json(analysis),
        "model_versions": analysis.model_versions,
    }
    return {**item, **result}


def events_for(feedback_id: UUID, context: dict[str, Any], analysis: Analysis) -> list[NewEvent]:
    """``feedback.analyzed`` for every item.

    ``complaint.flagged`` is no longer implied by the complaint head alone: the
    tenant's flagging policy decides (workers.complaints), in the same transaction.
    """
    return [NewEvent(FEEDBACK_ANALYZED, analysis_payload(feedback_id, context, analysis))]
