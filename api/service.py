"""Accepting feedback: shared by the HTTP endpoint and `langnghe ingest`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from api.ratelimit import too_many
from api.schemas import FeedbackIn
from nlp.components.pii import redact
from store import feedback as feedback_store
from store import usage as usage_store
from store.db import Conn, Database
from store.tenants import Tenant


def text_too_large(item: FeedbackIn, max_text_bytes: int) -> bool:
    """Whether the item's text is over the configured UTF-8 byte limit."""
    return len(item.text.encode("utf-8")) > max_text_bytes


def redact_json(value: Any) -> Any:
    """A JSON value with personal data redacted from every string in it (keys included)."""
    if isinstance(value, str):
        return redact(value).text
    if isinstance(value, dict):
        return {redact_json(k): redact_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_json(v) for v in value]
    return value


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
        # Metadata is free-form: a CRM puts names, e-mails and phones there as readily as
        # in the text, and it is stored and emitted just the same.
        metadata=redact_json(item.metadata) if redact_pii else item.metadata,
    )


@dataclass(frozen=True)
class Quota:
    """Items/day allowed for the ingesting key and its tenant (0: no limit)."""

    key_id: UUID
    key_items_per_day: int
    tenant_items_per_day: int


def _seconds_to_utc_midnight() -> float:
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - now).total_seconds()


def _check_quota(conn: Conn, tenant: Tenant, quota: Quota, fresh: int) -> None:
    usage = usage_store.add_items(conn, tenant.id, quota.key_id, fresh)
    for scope, used, limit in (
        ("key", usage.key_items, quota.key_items_per_day),
        ("tenant", usage.tenant_items, quota.tenant_items_per_day),
    ):
        if limit and used > limit:
            error = too_many(
                "quota_exceeded",
                f"This {scope} may send {limit} items per UTC day; the batch would make {used}.",
                _seconds_to_utc_midnight(),
            )
            error.details = {**error.details, "scope": scope, "limit": limit, "used": used - fresh}
            raise error


def store_feedback(
    db: Database,
    tenant: Tenant,
    items: Sequence[FeedbackIn],
    redact_pii: bool,
    quota: Quota | None = None,
    origin: str = "api",
) -> list[feedback_store.Inserted]:
    """Insert the items in one transaction; returns only after commit.

    With a quota, the new (not duplicate) items are counted in the same transaction;
    a batch that would pass the day's quota is refused whole (429) and stores nothing.
    """
    rows = [to_new_feedback(item, redact_pii) for item in items]
    with db.transaction() as conn:
        inserted = feedback_store.insert_feedback(conn, tenant.id, rows)
        fresh = sum(not i.duplicate for i in inserted)
        if quota is not None and fresh:
            _check_quota(conn, tenant, quota, fresh)
        channels = Counter(
            r.channel for r, i in zip(rows, inserted, strict=True) if not i.duplicate
        )
        usage_store.add_ingested(conn, tenant.id, origin, channels)
        return inserted
