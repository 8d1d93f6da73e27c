"""Request and response bodies of the complaint inbox API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import StorableStr

ComplaintStatus = Literal["open", "acknowledged", "resolved"]
PriorityName = Literal["p1", "p2", "p3", "p4"]
Category = Literal[
    "delivery",
    "product_quality",
    "price_billing",
    "staff_attitude",
    "support_responsiveness",
    "app_website",
    "refund_return",
    "other",
]


class ComplaintOut(BaseModel):
    """A flagged complaint as the inbox lists it."""

    id: UUID
    feedback_id: UUID | None = Field(description="None for a recovery case (about a customer).")
    kind: Literal["complaint", "recovery"] = "complaint"
    suggested_action: str | None = None
    status: ComplaintStatus
    priority: PriorityName
    priority_score: float
    reasons: list[str] = Field(description="The policy rules the item met.")
    category: str | None
    channel: str
    language: str | None
    severity: str
    churn_risk: bool
    complaint_score: float
    customer_value: float | None
    assignee: str | None
    flagged_at: datetime
    sla_due_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    resolution_code: str | None
    reopen_count: int
    updated_at: datetime
    excerpt: str | None = Field(default=None, description="The start of the text (lists only).")


class HistoryEntry(BaseModel):
    """One change to a complaint."""

    id: int
    action: str
    actor: str | None
    note: str | None
    data: dict[str, Any]
    created_at: datetime


class ComplaintDetail(ComplaintOut):
    """A complaint with the item's text, its analysis and the history of changes."""

    text: str
    source: str
    external_id: str | None
    customer_ref: str | None
    rating: float | None
    survey_score: int | None
    metadata: dict[str, Any]
    received_at: datetime
    analysis: dict[str, Any] | None
    corrections: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='Corrected fields beside the model\'s answer: {"value", "by", "at"} each.',
    )
    history: list[HistoryEntry]


class ComplaintPage(BaseModel):
    """One page of the inbox, newest flagged first."""

    items: list[ComplaintOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")


class ActionIn(BaseModel):
    """What every complaint action's body may carry."""

    model_config = ConfigDict(extra="forbid")

    actor: StorableStr | None = Field(
        default=None, max_length=200, description="Who acts (shown in the history)."
    )
    note: StorableStr | None = Field(default=None, max_length=10_000)


class AssignIn(ActionIn):
    """Assign to someone (null: unassign)."""

    assignee: StorableStr | None = Field(max_length=200)


class AcknowledgeIn(ActionIn):
    """Acknowledge: someone is on it. Counts as the first response."""


class NoteIn(ActionIn):
    """A note on the complaint."""

    note: StorableStr = Field(min_length=1, max_length=10_000)  # type: ignore[assignment]


class ResolveIn(ActionIn):
    """Resolve with a code such as ``refunded``, ``replaced``, ``explained``, ``no_action``."""

    resolution_code: str = Field(pattern=r"^[a-z0-9_]{1,50}$")


class ReopenIn(ActionIn):
    """Reopen a resolved complaint; the SLA clock starts again."""


class ComplaintMetrics(BaseModel):
    """Inbox figures for complaints flagged in the window."""

    total: int
    open: int
    acknowledged: int
    resolved: int
    by_category: dict[str, int]
    by_priority: dict[str, int]
    first_response_p50_s: float | None
    first_response_p90_s: float | None
    first_response_mean_s: float | None
    resolution_p50_s: float | None
    resolution_p90_s: float | None
    resolution_mean_s: float | None
    sla_breached: int
    sla_breach_rate: float | None = Field(description="Breached / total (open ones past due too).")
    reopened: int
    reopen_rate: float | None = Field(description="Reopened / ever resolved.")
