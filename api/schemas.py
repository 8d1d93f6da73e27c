"""Request and response bodies of the public API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from nlp.types import CHANNELS

Channel = Literal["review", "email", "social", "call_transcript", "survey"]
assert set(Channel.__args__) == set(CHANNELS)  # type: ignore[attr-defined]


def _storable(value: str) -> str:
    # Postgres text cannot hold NUL, and lone surrogates (valid JSON escapes)
    # cannot be encoded as UTF-8: both must be refused here, not fail at insert.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode (no lone surrogates)") from exc
    return value


def _storable_json(value: Any) -> Any:
    if isinstance(value, str):
        _storable(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key)
            _storable_json(item)
    elif isinstance(value, list):
        for item in value:
            _storable_json(item)
    return value


StorableStr = Annotated[str, AfterValidator(_storable)]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must contain non-whitespace text")
    return value


class FeedbackIn(BaseModel):
    """One piece of customer feedback."""

    model_config = ConfigDict(extra="forbid")

    text: Annotated[StorableStr, AfterValidator(_not_blank)] = Field(
        description="The feedback as written. Size limit: LANGNGHE_MAX_TEXT_BYTES (UTF-8)."
    )
    channel: Channel
    source: StorableStr = Field(
        default="api", min_length=1, max_length=100, description="The system it came from."
    )
    external_id: StorableStr | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The source's id; re-posting the same (source, external_id) is a no-op.",
    )
    customer_ref: StorableStr | None = Field(default=None, max_length=200)
    rating: float | None = Field(default=None, ge=1, le=5, description="Star rating, 1-5.")
    survey_score: int | None = Field(default=None, ge=0, le=10, description="NPS answer, 0-10.")
    occurred_at: AwareDatetime | None = None
    language: Literal["vi", "en"] | None = Field(default=None, description="Known language.")
    metadata: Annotated[dict[str, Any], AfterValidator(_storable_json)] = Field(
        default_factory=dict
    )


class FeedbackBatchIn(BaseModel):
    """Many items in one request, accepted or refused together."""

    model_config = ConfigDict(extra="forbid")

    items: list[FeedbackIn] = Field(min_length=1)


class AcceptedItem(BaseModel):
    """The id given to one posted item."""

    id: UUID
    external_id: str | None
    duplicate: bool = Field(description="True when the item was already stored.")


class AcceptedResponse(BaseModel):
    """Answer to a POST of feedback: every item is committed."""

    items: list[AcceptedItem]
    accepted: int
    duplicates: int


class FeedbackOut(BaseModel):
    """A stored item, with its analysis once status is done."""

    id: UUID
    source: str
    channel: Channel
    external_id: str | None
    text: str
    language: str | None
    customer_ref: str | None
    rating: float | None
    survey_score: int | None
    occurred_at: datetime | None
    received_at: datetime
    status: Literal["pending", "processing", "done", "failed"]
    attempts: int
    last_error: str | None
    metadata: dict[str, Any]
    analysis: dict[str, Any] | None
    corrections: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='Corrected fields beside the model\'s answer: {"value", "by", "at"} each '
        "(single-item reads only).",
    )


class FeedbackPage(BaseModel):
    """One page of feedback, newest first."""

    items: list[FeedbackOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")


class EventOut(BaseModel):
    """One outbox event."""

    id: UUID
    seq: int
    type: str
    data: dict[str, Any]
    created_at: datetime


class EventPage(BaseModel):
    """Events after a cursor, oldest first."""

    events: list[EventOut]
    next_after: int = Field(description="Pass as ?after= to continue from here.")


class WebhookIn(BaseModel):
    """A webhook subscription request."""

    model_config = ConfigDict(extra="forbid")

    url: StorableStr = Field(min_length=1, max_length=2000, description="http(s) URL to POST to.")
    event_types: list[StorableStr] = Field(
        min_length=1, description="Event types to receive, or ['*'] for all."
    )
    secret: StorableStr | None = Field(
        default=None,
        min_length=16,
        max_length=200,
        description="HMAC secret; generated and returned once when omitted.",
    )
    min_priority: Literal["p1", "p2", "p3", "p4"] | None = Field(
        default=None,
        description="Only events of this priority or more urgent (p1 is the most urgent); "
        "events without a priority are not filtered.",
    )


class WebhookOut(BaseModel):
    """A webhook subscription (the secret is never shown again)."""

    id: UUID
    url: str
    event_types: list[str]
    min_priority: str | None = None
    created_at: datetime
    previous_secret_expires_at: datetime | None = Field(
        default=None, description="While set, deliveries are signed with the old secret too."
    )


class WebhookCreated(WebhookOut):
    """A new subscription, with its secret shown this once."""

    secret: str
