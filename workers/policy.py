"""The flagging policy: which analysed items become complaints, and how urgent they are.

Pure functions over plain data (no database), so the policy is tested without a
server and the API can validate a tenant's policy document with the same model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

Priority = Literal["p1", "p2", "p3", "p4"]
PRIORITIES: tuple[Priority, ...] = ("p1", "p2", "p3", "p4")
SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def _default_channel_weight() -> dict[ChannelName, float]:
    # Public posts are seen by other customers, so they rank above private mail.
    return {"social": 2.0, "review": 1.0, "call_transcript": 0.5, "survey": 0.0, "email": 0.0}


def _utf8(value: str) -> str:
    value.encode("utf-8")  # lone surrogates raise here, as a validation error
    return value


# Stored as jsonb, which holds neither NUL nor lone surrogates: refuse them at validation.
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00]+$"),
    AfterValidator(_utf8),
]
ChannelName = Literal["review", "email", "social", "call_transcript", "survey"]


class SlaHours(BaseModel):
    """Hours from flagging to the SLA due time, per priority."""

    model_config = ConfigDict(extra="forbid")

    p1: float = Field(default=4, gt=0, le=24 * 365)
    p2: float = Field(default=24, gt=0, le=24 * 365)
    p3: float = Field(default=72, gt=0, le=24 * 365)
    p4: float = Field(default=168, gt=0, le=24 * 365)


class FlagPolicy(BaseModel):
    """A tenant's flagging policy. Every field has a default, so ``{}`` is a valid policy."""

    model_config = ConfigDict(extra="forbid")

    complaint_threshold: float = Field(
        default=0.5, ge=0, le=1, description="Flag when the complaint head's score reaches this."
    )
    low_rating_max: float = Field(
        default=3, ge=1, le=5, description="Stars at or below this, with negative text, flag."
    )
    low_csat_max: float = Field(
        default=3,
        ge=1,
        le=5,
        description="A CSAT answer (metadata key `csat`, 1-5) at or below this, with negative "
        "text, flags.",
    )
    detractor_nps_max: int = Field(
        default=6, ge=0, le=10, description="An NPS answer at or below this, with negative text."
    )
    flag_churn_risk: bool = Field(default=True, description="Churn-risk cues flag on their own.")
    flag_min_severity: Literal["medium", "high", "critical"] | None = Field(
        default="high", description="Severity at or above this flags on its own; null: never."
    )
    value_key: Name = Field(
        default="customer_value",
        description="Metadata key holding the customer's value (a number).",
    )
    high_value_min: float = Field(
        default=1000,
        ge=0,
        le=1e15,
        description="Customer value at or above this raises the priority.",
    )
    vip_tiers: list[Name] = Field(
        default_factory=lambda: ["vip", "gold", "platinum"],
        max_length=50,
        description="Values of metadata `tier` that count as high-value customers.",
    )
    channel_weight: dict[ChannelName, Annotated[float, Field(ge=-10, le=10)]] = Field(
        default_factory=_default_channel_weight,
        description="Priority points per channel.",
    )
    sla_hours: SlaHours = Field(default_factory=SlaHours)


@dataclass(frozen=True)
class ItemFacts:
    """What the policy looks at for one analysed item."""

    channel: str
    sentiment: str
    complaint_score: float
    severity: str
    churn_risk: bool
    rating: float | None
    survey_score: int | None
    metadata: dict[str, Any]


@dataclass(frozen=True)
class Decision:
    """The policy's verdict: flagged or not, why, and how urgent."""

    flagged: bool
    reasons: tuple[str, ...]
    priority: Priority
    score: float
    customer_value: float | None


# Beyond this a metadata number is not a usable value (and would overflow a real column).
_NUMBER_MAX = 1e15


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value) if isinstance(value, int | float | str) else None
    except (ValueError, OverflowError):  # "abc"; an int too large for a float
        return None
    if number is None or not math.isfinite(number) or abs(number) > _NUMBER_MAX:
        return None  # NaN, Infinity, 1e308: stored before the API bounded them
    return number


def customer_value(policy: FlagPolicy, metadata: dict[str, Any]) -> float | None:
    """The customer's value from metadata, when given as a number."""
    return _number(metadata.get(policy.value_key))


def flag_reasons(policy: FlagPolicy, item: ItemFacts) -> list[str]:
    """Every rule of the policy the item meets; empty when it is not a complaint."""
    reasons: list[str] = []
    negative = item.sentiment == "negative"
    if item.complaint_score >= policy.complaint_threshold:
        reasons.append("complaint_model")
    if negative and item.rating is not None and item.rating <= policy.low_rating_max:
        reasons.append("low_rating")
    csat = _number(item.metadata.get("csat"))
    if negative and csat is not None and csat <= policy.low_csat_max:
        reasons.append("low_csat")
    if negative and item.survey_score is not None and item.survey_score <= policy.detractor_nps_max:
        reasons.append("nps_detractor")
    if policy.flag_churn_risk and item.churn_risk:
        reasons.append("churn_risk")
    if (
        policy.flag_min_severity is not None
        and SEVERITY_RANK.get(item.severity, 0) >= SEVERITY_RANK[policy.flag_min_severity]
    ):
        reasons.append("severity")
    return reasons


def priority_score(policy: FlagPolicy, item: ItemFacts) -> tuple[float, float | None]:
    """Points for urgency (severity, churn, customer value, channel) and the value found."""
    score = float(SEVERITY_RANK.get(item.severity, 0)) * 1.5
    if item.churn_risk:
        score += 2.0
    value = customer_value(policy, item.metadata)
    tier = item.metadata.get("tier")
    vip = isinstance(tier, str) and tier.lower() in {t.lower() for t in policy.vip_tiers}
    if vip or (value is not None and value >= policy.high_value_min):
        score += 2.0
    score += policy.channel_weight.get(item.channel, 0.0)  # type: ignore[call-overload]
    if item.complaint_score >= 0.9:
        score += 0.5
    return score, value


def priority_for(score: float) -> Priority:
    """p1 from 6 points, p2 from 4, p3 from 2, else p4."""
    if score >= 6:
        return "p1"
    if score >= 4:
        return "p2"
    if score >= 2:
        return "p3"
    return "p4"


def decide(policy: FlagPolicy, item: ItemFacts) -> Decision:
    """Apply the policy to one item."""
    reasons = flag_reasons(policy, item)
    score, value = priority_score(policy, item)
    return Decision(
        flagged=bool(reasons),
        reasons=tuple(reasons),
        priority=priority_for(score),
        score=score,
        customer_value=value,
    )


def sla_due(policy: FlagPolicy, priority: Priority, flagged_at: datetime) -> datetime:
    """When a complaint of this priority must be resolved."""
    hours: float = getattr(policy.sla_hours, priority)
    return flagged_at + timedelta(hours=hours)


def load_policy(document: dict[str, Any] | None) -> FlagPolicy:
    """A stored policy document, or the defaults when the tenant has none."""
    return FlagPolicy.model_validate(document or {})
