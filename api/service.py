"""Accepting feedback: shared by the HTTP endpoint and `langnghe ingest`."""

from __future__ import annotations

from collections.abc import Sequence

from api.schemas import FeedbackIn
from nlp.components.pii import redact
from store import feedback as feedback_store
from store.db import Database
from store.tenants import Tenant


def text_too_large(item: FeedbackIn, max_text_bytes: int) -> bool:
    """Whether the item's text is over the configured UTF-8 byte limit."""
    return len(item.text.encode("utf-8")) > max_text_bytes


def to_new_feedback(item: FeedbackIn, redact_pii: bool) -> feedback_store.NewFeedback:
    """The row to store for a validated item, with PII redacted when configured."""
    return feedback_store.NewFeedback(
        source=item.source,
        channel=item.channel,
        text=redact(item.text).text if redact_pii else item.text,
        external_id=item.external_id,
        customer_ref=item.customer_ref,
        rating=item.rating,
        survey_score=item.survey_score,
        occurred_at=item.occurred_at,
        language=item.language,
        metadata=item.metadata,
    )


def store_feedback(
    db: Database, tenant: Tenant, items: Sequence[FeedbackIn], redact_pii: bool
) -> list[feedback_store.Inserted]:
    """Insert the items in one transaction; returns only after commit."""
    rows = [to_new_feedback(item, redact_pii) for item in items]
    with db.transaction() as conn:
        return feedback_store.insert_feedback(conn, tenant.id, rows)
