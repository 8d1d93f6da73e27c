"""Request and response bodies of /v1/privacy."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, Field, model_validator

from api.schemas import StorableStr
from store.privacy import RetentionMode, SubjectKind

Identifier = Annotated[StorableStr, Field(min_length=1, max_length=320)]


class ErasureIn(BaseModel):
    """Exactly one way to name the data subject."""

    customer_ref: Identifier | None = None
    email: Identifier | None = None
    phone: Identifier | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ErasureIn:
        given = [k for k in ("customer_ref", "email", "phone") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of customer_ref, email, phone")
        return self

    def subject(self) -> tuple[SubjectKind, str]:
        """The kind of identifier and its value."""
        for kind in ("customer_ref", "email", "phone"):
            value = getattr(self, kind)
            if value is not None:
                return kind, value  # type: ignore[return-value]
        raise AssertionError("validated to have one")


class ReceiptOut(BaseModel):
    """What was erased, when, at whose request; the identifier only as a SHA-256."""

    id: UUID
    created_at: datetime
    subject_kind: SubjectKind
    subject_sha256: str
    requested_by: str | None
    counts: dict[str, int]


class ReceiptPage(BaseModel):
    """A page of receipts, newest first."""

    items: list[ReceiptOut]
    next_cursor: str | None


class RetentionIn(BaseModel):
    """Delete or anonymise items received more than ``days`` ago."""

    days: int = Field(ge=1, le=36500)
    mode: RetentionMode


class RetentionPolicyOut(RetentionIn):
    """The policy in force."""

    updated_at: datetime


class RetentionRunOut(BaseModel):
    """One pass of the scheduled job for this tenant."""

    id: int
    ran_at: datetime
    days: int
    mode: RetentionMode
    cutoff: datetime
    counts: dict[str, Any]


class RetentionReport(BaseModel):
    """The policy (null: everything is kept) and the latest runs of the job."""

    policy: RetentionPolicyOut | None
    runs: list[RetentionRunOut]
