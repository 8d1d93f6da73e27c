"""Request and response bodies of the customers API: interactions, profiles, settings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from api.schemas import NUMBER_MAX, StorableStr, _storable_json

Segment = Literal["detractor", "passive", "promoter"]
RiskBand = Literal["low", "medium", "high"]
StorableJson = Annotated[dict[str, Any], AfterValidator(_storable_json)]


class _Attributes(BaseModel):
    """Type-specific attributes; keys beyond the named ones are kept as given."""

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="after")
    def _extra_storable(self) -> _Attributes:
        # __pydantic_extra__ rather than the model_extra property: this runs once per
        # interaction, and the property costs more than the check on a batch of 1,000.
        if self.__pydantic_extra__:
            _storable_json(self.__pydantic_extra__)
        return self


class OrderAttributes(_Attributes):
    """An order; its amount goes in ``value``."""


class DeliveryAttributes(_Attributes):
    """A delivery: when it was promised and when it arrived (null: not yet)."""

    promised_at: AwareDatetime
    delivered_at: AwareDatetime | None = None


class SupportContactAttributes(_Attributes):
    """A contact with support: how long the customer waited and whether it was resolved."""

    wait_seconds: float | None = Field(default=None, ge=0, le=10**8, allow_inf_nan=False)
    resolved: bool | None = None


class SurveySentAttributes(_Attributes):
    """A survey invitation: which survey, on which channel."""

    survey: StorableStr | None = Field(default=None, max_length=100)
    channel: StorableStr | None = Field(default=None, max_length=50)


class SurveyAnsweredAttributes(_Attributes):
    """A survey answer: NPS 0-10 and/or CSAT 1-5."""

    nps: int | None = Field(default=None, ge=0, le=10)
    csat: int | None = Field(default=None, ge=1, le=5)

    @model_validator(mode="after")
    def _some_answer(self) -> SurveyAnsweredAttributes:
        if self.nps is None and self.csat is None:
            raise ValueError("a survey answer needs nps (0-10) or csat (1-5)")
        return self


class _InteractionBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_ref: StorableStr = Field(min_length=1, max_length=200)
    occurred_at: AwareDatetime
    source: StorableStr = Field(
        default="api", min_length=1, max_length=100, description="The system it came from."
    )
    external_id: StorableStr | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The source's id; re-posting the same (source, external_id) is a no-op.",
    )
    value: float | None = Field(
        default=None,
        ge=-NUMBER_MAX,
        le=NUMBER_MAX,
        allow_inf_nan=False,
        description="An amount, e.g. the order's revenue.",
    )


class OrderIn(_InteractionBase):
    """An order."""

    type: Literal["order"]
    value: float | None = Field(default=None, ge=0, le=NUMBER_MAX, allow_inf_nan=False)
    attributes: OrderAttributes = Field(default_factory=OrderAttributes)


class DeliveryIn(_InteractionBase):
    """A delivery (``attributes.promised_at`` required)."""

    type: Literal["delivery"]
    attributes: DeliveryAttributes


class SupportContactIn(_InteractionBase):
    """A support contact."""

    type: Literal["support_contact"]
    attributes: SupportContactAttributes = Field(default_factory=SupportContactAttributes)


class AppSessionIn(_InteractionBase):
    """A session in the app or on the website."""

    type: Literal["app_session"]
    attributes: StorableJson = Field(default_factory=dict)


class CancellationIn(_InteractionBase):
    """A cancellation: the customer left (an outcome for `langnghe train --churn`)."""

    type: Literal["cancellation"]
    attributes: StorableJson = Field(default_factory=dict)


class SurveySentIn(_InteractionBase):
    """A survey invitation sent."""

    type: Literal["survey_sent"]
    attributes: SurveySentAttributes = Field(default_factory=SurveySentAttributes)


class SurveyAnsweredIn(_InteractionBase):
    """A survey answered (``attributes.nps`` and/or ``attributes.csat``)."""

    type: Literal["survey_answered"]
    attributes: SurveyAnsweredAttributes


InteractionIn = Annotated[
    OrderIn
    | DeliveryIn
    | SupportContactIn
    | AppSessionIn
    | CancellationIn
    | SurveySentIn
    | SurveyAnsweredIn,
    Field(discriminator="type"),
]


class InteractionBatchIn(BaseModel):
    """Many interactions in one request, accepted or refused together."""

    model_config = ConfigDict(extra="forbid")

    items: list[InteractionIn] = Field(min_length=1)


class Reason(BaseModel):
    """One reason behind a risk, with the rows that show it."""

    code: str
    weight: float = Field(description="This reason's share: risk = 1 - prod(1 - weight).")
    message: str
    feedback_ids: list[UUID]
    interaction_ids: list[UUID]


class CustomerOut(BaseModel):
    """A customer's profile."""

    ref: str
    first_contact_at: datetime | None
    last_contact_at: datetime | None
    last_feedback_at: datetime | None
    feedback_count: int
    negative_count: int
    channels: list[str]
    csat_inferred: float | None = Field(description="Mean inferred CSAT of the last 10 items.")
    csat_inferred_interval: tuple[float, float] | None = Field(
        description="95% interval of that mean (normal approximation; needs 2+ items)."
    )
    csat_trend: float | None = Field(description="Last 3 items' mean minus the 7 before.")
    csat_real: float | None = Field(description="The latest real CSAT: stars or a survey answer.")
    nps_real: int | None = Field(description="The latest real NPS answer (0-10).")
    segment: Segment | None
    segment_source: Literal["survey", "feedback", "behaviour"] | None
    interaction_count: int
    order_count: int
    revenue: float
    complaint_count: int = Field(description="Complaints ever flagged (recovery cases excluded).")
    silent: bool = Field(description="No complaint was ever flagged for this customer.")
    cancelled_at: datetime | None
    risk_score: float | None
    risk_band: RiskBand | None
    reasons: list[Reason]
    scored_at: datetime | None


class CustomerPage(BaseModel):
    """One page of customers, highest risk first."""

    items: list[CustomerOut]
    count: int = Field(description="How many customers match the filters in all.")
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")


class TimelineEntry(BaseModel):
    """One thing the customer wrote or did."""

    kind: Literal["feedback", "interaction"]
    id: UUID
    at: datetime
    type: str = Field(description="The channel of feedback, the type of an interaction.")
    source: str
    external_id: str | None
    summary: dict[str, Any]


class CaseOut(BaseModel):
    """A complaint or recovery case of the customer."""

    id: UUID
    kind: Literal["complaint", "recovery"]
    feedback_id: UUID | None
    status: str
    priority: str
    category: str | None
    reasons: list[str]
    flagged_at: datetime
    resolved_at: datetime | None
    resolution_code: str | None
    reopen_count: int
    suggested_action: str | None


class SegmentChange(BaseModel):
    """One change of the customer's NPS segment."""

    segment: Segment | None
    previous: Segment | None
    source: str | None
    risk_score: float | None
    changed_at: datetime


class CustomerDetail(CustomerOut):
    """A profile with its timeline across channels, cases and segment history."""

    timeline: list[TimelineEntry] = Field(description="Newest first.")
    cases: list[CaseOut]
    segment_history: list[SegmentChange]


class Reconciliation(BaseModel):
    """Profiles checked against their rows."""

    checked: int
    pending: list[str] = Field(description="Profiles whose refresh is queued.")
    mismatches: list[dict[str, Any]]


LoopList = Literal["detractors", "passives", "promoters"]


class LoopEntry(CustomerOut):
    """A customer on a loop list."""

    topics: list[str] = Field(
        description="Passives: the topics of their neutral or negative feedback (what would "
        "lift them); empty on the other lists."
    )


class LoopPage(BaseModel):
    """One page of a loop list, highest risk first."""

    name: LoopList
    items: list[LoopEntry]
    count: int
    next_cursor: str | None


class LoyaltyRow(BaseModel):
    """One class's customers in one period, and what they bought."""

    name: str = Field(description="The NPS class or CSAT band; 'unknown': no answer yet.")
    customers: int = Field(description="Customers with any interaction in the period.")
    buyers: int = Field(description="Of them, those with at least one order.")
    repeat_purchase_rate: float | None = Field(description="Buyers with two or more orders.")
    revenue: float = Field(description="The value of their orders in the period.")
    revenue_per_customer: float | None = Field(description="revenue / customers.")
    churn_rate: float | None = Field(description="Customers who cancelled in the period.")
    lapse_rate: float | None = Field(
        description="Customers with no interaction in the next period (null until it is over)."
    )


class LoyaltyPeriod(BaseModel):
    """One period (UTC) of the loyalty report."""

    start: datetime
    end: datetime
    customers: int
    nps_class: list[LoyaltyRow] = Field(description="promoter, passive, detractor, unknown.")
    csat_band: list[LoyaltyRow] = Field(
        description="high (CSAT 4-5), neutral (3), low (1-2), unknown."
    )


class LoyaltyReport(BaseModel):
    """Repeat purchases, revenue and churn by NPS class and CSAT band, per period."""

    period: Literal["week", "month", "quarter"]
    periods: list[LoyaltyPeriod] = Field(description="Oldest first.")
