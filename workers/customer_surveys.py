"""Ask at the right moment, not too often: ``survey.suggested`` after an interaction.

When new interactions are stored, each one of a type the tenant's survey policy names
(a delivery, a support contact, an order) may suggest a survey to the tenant's messaging
system, through the outbox in the same transaction as the interactions. It does when:

- it is fresh: it occurred at most ``max_age_hours`` ago (a back-filled year of orders
  asks nobody anything);
- the customer has given no feedback (no feedback item, no survey answer) in the
  ``quiet_days`` before it: a customer who just spoke needs no asking;
- the customer has not been suggested a survey, nor been sent one (``survey_sent``), in
  the last ``cap_days``: the frequency cap;
- it falls in the sample: a stable hash of the interaction's id below ``sampling_rate``,
  so a retried batch makes the same choice. A bad experience (a late delivery, a long
  wait) is always asked about when ``always_after_bad_experience`` is set: it is the
  moment a CSAT is worth most.

Within one batch the cap holds too: at most one suggestion per customer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from store import customers as customers_store
from store.db import Conn
from store.events import NewEvent
from workers.customer_risk import InteractionFact, bad_experience
from workers.events import SURVEY_SUGGESTED

SurveyChannel = Literal["zalo", "sms", "email"]
# What a customer does that a survey may follow (not cancellations, nor surveys themselves).
SURVEYED_TYPES = ("order", "delivery", "support_contact", "app_session")


def _default_channels() -> list[SurveyChannel]:
    return ["email"]


class SurveyPolicy(BaseModel):
    """A tenant's survey suggestion policy (part of the customer settings)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=False, description="Emit survey.suggested at all.")
    sampling_rate: float = Field(
        default=0.2, ge=0, le=1, description="Share of eligible interactions that ask."
    )
    cap_days: int = Field(
        default=30, ge=0, le=3650, description="At most one suggestion per customer per this."
    )
    quiet_days: int = Field(
        default=30,
        ge=0,
        le=3650,
        description="Ask only customers who gave no feedback in this many days before.",
    )
    max_age_hours: int = Field(
        default=72, ge=1, le=24 * 90, description="Ask only about interactions this recent."
    )
    channels: list[SurveyChannel] = Field(
        default_factory=_default_channels,
        min_length=1,
        max_length=3,
        description="Preferred channels, first choice first: zalo, sms, email.",
    )
    surveys: dict[str, Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=lambda: {"delivery": "csat_delivery", "support_contact": "csat_support"},
        description="Which survey to suggest after which interaction type; other types ask "
        "nothing.",
    )
    always_after_bad_experience: bool = Field(
        default=True, description="A bad experience is asked about whatever the sample."
    )

    @field_validator("surveys")
    @classmethod
    def _surveyed_types(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(SURVEYED_TYPES))
        if unknown:
            raise ValueError(f"surveys after {unknown}: only after {list(SURVEYED_TYPES)}")
        return value


def sampled(interaction_id: UUID, rate: float) -> bool:
    """Whether this interaction falls in the sample (stable across retries)."""
    digest = hashlib.sha256(str(interaction_id).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def suggest_surveys(
    conn: Conn,
    tenant_id: UUID,
    policy: SurveyPolicy,
    fresh: Sequence[tuple[UUID, InteractionFact, str]],
    now: datetime,
) -> list[NewEvent]:
    """Record and return the ``survey.suggested`` events these new interactions call for.

    ``fresh`` holds (interaction id, the interaction, customer_ref) of the rows this
    transaction inserted (duplicates left out).
    """
    if not policy.enabled:
        return []
    candidates = [
        (iid, fact, ref)
        for iid, fact, ref in fresh
        if fact.type in policy.surveys
        and now - timedelta(hours=policy.max_age_hours) <= fact.at <= now + timedelta(hours=1)
    ]
    if not candidates:
        return []
    refs = sorted({ref for _, _, ref in candidates})
    contact = customers_store.survey_contacts(conn, tenant_id, refs)
    chosen: dict[str, tuple[UUID, InteractionFact, str | None]] = {}
    for iid, fact, ref in sorted(candidates, key=lambda c: (c[1].at, str(c[0]))):
        if ref in chosen:
            continue
        last_feedback, last_asked = contact.get(ref, (None, None))
        if last_feedback is not None and last_feedback >= fact.at - timedelta(
            days=policy.quiet_days
        ):
            continue
        if last_asked is not None and last_asked > now - timedelta(days=policy.cap_days):
            continue
        why = bad_experience(fact, now)
        if not (
            (why is not None and policy.always_after_bad_experience)
            or sampled(iid, policy.sampling_rate)
        ):
            continue
        chosen[ref] = (iid, fact, why)
    if not chosen:
        return []
    suggestions = [
        customers_store.SurveySuggestion(
            ref=ref,
            interaction_id=iid,
            survey=policy.surveys[fact.type],
            channel=policy.channels[0],
        )
        for ref, (iid, fact, _) in sorted(chosen.items())
    ]
    recorded = customers_store.record_survey_suggestions(conn, tenant_id, suggestions, now)
    events = []
    for s in suggestions:
        if s.interaction_id not in recorded:
            continue
        iid, fact, why = chosen[s.ref]
        what = why or f"a {fact.type.replace('_', ' ')}"
        events.append(
            NewEvent(
                SURVEY_SUGGESTED,
                {
                    "customer_ref": s.ref,
                    "interaction_id": str(iid),
                    "interaction_type": fact.type,
                    "occurred_at": fact.at.isoformat(),
                    "survey": s.survey,
                    "channel": s.channel,
                    "fallback_channels": policy.channels[1:],
                    "reason": f"{what}, and no feedback in the {policy.quiet_days} days before",
                    "bad_experience": why is not None,
                    "suggested_at": now.isoformat(),
                },
            )
        )
    return events
