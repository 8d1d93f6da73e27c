"""Request and response bodies of the public API."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from nlp.types import CHANNELS
from workers.ssrf import mask_credentials

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


# Bounds on what a client may store. Each value here must be safe for every later reader:
# the reports bucket by occurred_at, the policy reads metadata numbers into real columns,
# and every read of an item parses its metadata again.
OCCURRED_AT_MIN = datetime(1970, 1, 1, tzinfo=UTC)
OCCURRED_AT_FUTURE = timedelta(days=1)
METADATA_MAX_DEPTH = 16
METADATA_MAX_BYTES = 64 * 1024
# Far inside Postgres real (3.4e38) and exact in a double up to 2^53 for integers.
NUMBER_MAX = 1e15


def _storable_json(value: Any, depth: int = 1) -> Any:
    if depth > METADATA_MAX_DEPTH:
        raise PydanticCustomError(
            "metadata_too_deep",
            "metadata may nest at most {limit} levels",
            {"limit": METADATA_MAX_DEPTH},
        )
    if isinstance(value, str):
        _storable(value)
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int | float):
        if not math.isfinite(value) or abs(value) > NUMBER_MAX:
            raise PydanticCustomError(
                "number_out_of_range",
                "numbers must be finite and at most {limit:g} in magnitude",
                {"limit": NUMBER_MAX},
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key)
            _storable_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _storable_json(item, depth + 1)
    return value


def _storable_metadata(value: dict[str, Any]) -> dict[str, Any]:
    _storable_json(value)
    if len(json.dumps(value, ensure_ascii=False).encode("utf-8")) > METADATA_MAX_BYTES:
        raise PydanticCustomError(
            "metadata_too_large",
            "metadata is limited to {limit} bytes of JSON",
            {"limit": METADATA_MAX_BYTES},
        )
    return value


def _plausible_time(value: datetime) -> datetime:
    # The year is checked first: converting year 1 at +14:00 to UTC would overflow.
    if value.year < OCCURRED_AT_MIN.year or value > datetime.now(UTC) + OCCURRED_AT_FUTURE:
        raise PydanticCustomError(
            "date_out_of_range",
            "occurred_at must lie between 1970-01-01 and one day from now "
            "(placeholders such as 9999-12-31 or 0001-01-01 are refused)",
        )
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
    occurred_at: Annotated[AwareDatetime, AfterValidator(_plausible_time)] | None = None
    language: Literal["vi", "en"] | None = Field(default=None, description="Known language.")
    metadata: Annotated[dict[str, Any], AfterValidator(_storable_metadata)] = Field(
        default_factory=dict,
        description=f"Any JSON object: at most {METADATA_MAX_DEPTH} levels deep, "
        f"{METADATA_MAX_BYTES} bytes, numbers finite and at most {NUMBER_MAX:g} in magnitude.",
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
    """A webhook subscription (the secret is never shown again, nor URL credentials)."""

    id: UUID
    url: Annotated[str, AfterValidator(mask_credentials)] = Field(
        description="The target; a user:password in it is shown as ***."
    )
    event_types: list[str]
    min_priority: str | None = None
    created_at: datetime
    previous_secret_expires_at: datetime | None = Field(
        default=None, description="While set, deliveries are signed with the old secret too."
    )


class WebhookCreated(WebhookOut):
    """A new subscription, with its secret shown this once."""

    secret: str
