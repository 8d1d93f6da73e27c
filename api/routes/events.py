"""The outbox as a cursor-paged feed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import TenantDep
from api.deps import DbDep
from api.errors import ApiError
from api.schemas import EventOut, EventPage
from store import events as events_store

router = APIRouter(prefix="/v1/events", tags=["events"])


@router.get("", response_model=EventPage)
def list_events(
    tenant: TenantDep,
    db: DbDep,
    after: Annotated[int, Query(ge=0, le=2**62, description="Last seq you have seen.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    type: Annotated[list[str] | None, Query(description="Only these event types.")] = None,
) -> EventPage:
    """Your events with ``seq > after``, oldest first; resume from ``next_after``."""
    if type and any("\x00" in t for t in type):
        # Postgres text cannot hold NUL: refuse it here rather than fail in the query.
        raise ApiError(422, "validation_error", "type must not contain NUL characters")
    with db.transaction() as conn:
        rows = events_store.list_events(conn, tenant.id, after, limit, type)
    return EventPage(
        events=[EventOut(**r) for r in rows], next_after=rows[-1]["seq"] if rows else after
    )
