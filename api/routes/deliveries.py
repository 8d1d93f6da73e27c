"""The delivery log, replays, and webhook secret rotation."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from api.auth import TenantDep
from api.cursor import decode_cursor, encode_cursor
from api.deps import DbDep, QueueDep
from api.errors import ApiError
from api.schemas import StorableStr, WebhookOut
from store import webhooks as webhooks_store
from workers.enqueue import nudge_delivery

router = APIRouter(tags=["webhooks"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Not found"}}


class DeliveryOut(BaseModel):
    """One event's delivery to one subscription or one notification channel."""

    id: UUID
    subscription_id: UUID | None
    channel_id: UUID | None = None
    event_id: UUID
    event_type: str
    event_seq: int
    status: Literal["pending", "succeeded", "dead"]
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


class AttemptOut(BaseModel):
    """One attempt to deliver."""

    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float | None


class DeliveryDetail(DeliveryOut):
    """A delivery with every attempt."""

    attempt_log: list[AttemptOut]


class DeliveryPage(BaseModel):
    """A page of the delivery log, newest first."""

    items: list[DeliveryOut]
    next_cursor: str | None


class ReplayIn(BaseModel):
    """Replay every matching event after a sequence number."""

    model_config = ConfigDict(extra="forbid")

    after: int = Field(ge=0, le=2**62, description="Replay events with seq > after.")
    limit: int = Field(default=10_000, ge=1, le=100_000)


class ReplayOut(BaseModel):
    """What a replay queued."""

    queued: int
    last_seq: int | None = Field(description="Continue with after=last_seq if queued == limit.")


class RotateIn(BaseModel):
    """Rotate a subscription's secret."""

    model_config = ConfigDict(extra="forbid")

    secret: StorableStr | None = Field(
        default=None, min_length=16, max_length=200, description="Generated when omitted."
    )
    grace_s: int = Field(
        default=86_400,
        ge=0,
        le=30 * 86_400,
        description="How long deliveries are signed with the old secret too.",
    )


class RotateOut(WebhookOut):
    """The subscription after rotation, with the new secret shown this once."""

    secret: str


@dataclass(frozen=True)
class DeliveryQuery:
    """What a delivery log is asked for: a status, a page size and where the page starts."""

    status: Literal["pending", "succeeded", "dead"] | None
    limit: int
    before: tuple[datetime, UUID] | None


def delivery_query(
    status: Literal["pending", "succeeded", "dead"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> DeliveryQuery:
    """The query parameters every delivery log takes (a bad cursor is a 400 here)."""
    return DeliveryQuery(status, limit, decode_cursor(cursor) if cursor else None)


DeliveryQueryDep = Annotated[DeliveryQuery, Depends(delivery_query)]


def delivery_page(rows: list[dict[str, Any]], limit: int) -> DeliveryPage:
    """One page of a delivery log, with the cursor of the next when the page is full."""
    next_cursor = (
        encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if len(rows) == limit else None
    )
    return DeliveryPage(items=[DeliveryOut(**r) for r in rows], next_cursor=next_cursor)


def _subscription_or_404(db: DbDep, tenant_id: UUID, webhook_id: UUID) -> None:
    with db.transaction() as conn:
        if webhooks_store.get_subscription(conn, tenant_id, webhook_id) is None:
            raise ApiError(404, "not_found", "No webhook with this id.")


@router.get(
    "/v1/webhooks/{webhook_id}/deliveries",
    response_model=DeliveryPage,
    responses={**_NOT_FOUND, 400: {"description": "Bad cursor"}},
)
def list_deliveries(
    webhook_id: UUID, tenant: TenantDep, db: DbDep, query: DeliveryQueryDep
) -> DeliveryPage:
    """The delivery log of one subscription, newest first."""
    _subscription_or_404(db, tenant.id, webhook_id)
    with db.transaction() as conn:
        rows = webhooks_store.list_deliveries(
            conn, tenant.id, webhook_id, query.status, query.limit, query.before
        )
    return delivery_page(rows, query.limit)


@router.get("/v1/deliveries/{delivery_id}", response_model=DeliveryDetail, responses=_NOT_FOUND)
def get_delivery(delivery_id: UUID, tenant: TenantDep, db: DbDep) -> dict[str, Any]:
    """One delivery, with each attempt's status code, error and duration."""
    with db.transaction() as conn:
        row = webhooks_store.get_delivery(conn, tenant.id, delivery_id)
    if row is None:
        raise ApiError(404, "not_found", "No delivery with this id.")
    return row


@router.post(
    "/v1/deliveries/{delivery_id}/replay",
    response_model=DeliveryDetail,
    responses={**_NOT_FOUND, 409: {"description": "Still pending"}},
)
async def replay_delivery(
    delivery_id: UUID, tenant: TenantDep, db: DbDep, queue: QueueDep
) -> dict[str, Any]:
    """Send a dead-lettered (or succeeded) delivery again, with a fresh attempt budget."""

    def replay() -> dict[str, Any]:
        with db.transaction() as conn:
            before = webhooks_store.replay_delivery(conn, tenant.id, delivery_id)
            if before is None:
                raise ApiError(404, "not_found", "No delivery with this id.")
            if before == "pending":
                raise ApiError(409, "still_pending", "The delivery is still being attempted.")
            row = webhooks_store.get_delivery(conn, tenant.id, delivery_id)
        assert row is not None
        return row

    row = await run_in_threadpool(replay)
    await run_in_threadpool(nudge_delivery, queue)
    return row


@router.post("/v1/webhooks/{webhook_id}/replay", response_model=ReplayOut, responses=_NOT_FOUND)
async def replay_since(
    webhook_id: UUID, body: ReplayIn, tenant: TenantDep, db: DbDep, queue: QueueDep
) -> ReplayOut:
    """Deliver again every event after ``after`` that this subscription matches."""

    def replay() -> tuple[int, int | None]:
        _subscription_or_404(db, tenant.id, webhook_id)
        with db.transaction() as conn:
            return webhooks_store.replay_since(conn, tenant.id, webhook_id, body.after, body.limit)

    queued, last = await run_in_threadpool(replay)
    if queued:
        await run_in_threadpool(nudge_delivery, queue)
    return ReplayOut(queued=queued, last_seq=last)


@router.post(
    "/v1/webhooks/{webhook_id}/rotate-secret", response_model=RotateOut, responses=_NOT_FOUND
)
def rotate_secret(
    webhook_id: UUID, tenant: TenantDep, db: DbDep, body: RotateIn | None = None
) -> dict[str, Any]:
    """A new secret, shown once; the old one signs too until ``grace_s`` runs out."""
    body = body or RotateIn()
    secret = body.secret or secrets.token_urlsafe(32)
    with db.transaction() as conn:
        row = webhooks_store.rotate_secret(conn, tenant.id, webhook_id, secret, body.grace_s)
    if row is None:
        raise ApiError(404, "not_found", "No webhook with this id.")
    return {**row, "secret": secret}
