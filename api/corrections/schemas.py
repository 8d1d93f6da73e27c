"""Request and response bodies of corrections and tenant models."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import StorableStr


class CorrectionIn(BaseModel):
    """What a person says the analysis should have been; omit what was right."""

    model_config = ConfigDict(extra="forbid")

    sentiment: Literal["negative", "neutral", "positive"] | None = None
    complaint: bool | None = None
    category: StorableStr | None = Field(
        default=None, max_length=64, description="One of the tenant's categories in force."
    )
    churn_risk: bool | None = None
    severity: Literal["low", "medium", "high", "critical"] | None = None
    note: StorableStr | None = Field(default=None, max_length=2000)


class CorrectionOut(BaseModel):
    """A stored correction: the corrected fields, who made it and when."""

    id: UUID
    feedback_id: UUID
    sentiment: str | None
    complaint: bool | None
    category: str | None
    churn_risk: bool | None
    severity: str | None
    note: str | None
    actor: str
    created_at: datetime


class CorrectionList(BaseModel):
    """An item's corrections, oldest first, and the latest value of each corrected field."""

    items: list[CorrectionOut]
    merged: dict[str, dict[str, Any]] = Field(
        description='Per field: {"value", "by", "at"} of the latest correction.'
    )


class TenantModelOut(BaseModel):
    """A head refitted on the tenant's corrections, with its held-out figures."""

    id: UUID
    head: str
    version: str
    status: Literal["active", "rejected", "retired"]
    classes: list[str]
    n_train: int
    n_heldout: int
    metric: str
    score_candidate: float = Field(description="The refitted head on held-out corrections.")
    score_current: float = Field(description="The heads in force then, on the same rows.")
    created_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None


class TrainingRunOut(BaseModel):
    """One training run of the tenant (``langnghe train --tenant`` or the schedule)."""

    id: UUID
    trigger: str
    corrections: int
    started_at: datetime
    finished_at: datetime | None
    summary: dict[str, Any]


class ModelsOut(BaseModel):
    """The models that analyse the tenant's feedback now, and the history of its own."""

    shipped: dict[str, str] = Field(description="Component -> version of the shipped models.")
    active: list[TenantModelOut] = Field(description="The tenant's heads in force.")
    history: list[TenantModelOut]
    runs: list[TrainingRunOut]
    taxonomy: dict[str, Any] | None = Field(description="Mode and version of its own taxonomy.")
