"""The complaint inbox: list, read, and work complaints; the tenant's flagging policy."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from api import complaints_service
from api.auth import Principal, PrincipalDep, TenantDep
from api.complaint_schemas import (
    AcknowledgeIn,
    ActionIn,
    AssignIn,
    ComplaintDetail,
    ComplaintMetrics,
    ComplaintOut,
    ComplaintPage,
    ComplaintStatus,
    NoteIn,
    PriorityName,
    ReopenIn,
    ResolveIn,
)
from api.cursor import decode_cursor, encode_cursor
from api.deps import DbDep, SettingsDep
from api.errors import ApiError
from api.schemas import Channel, StorableStr
from langnghe.config import Settings
from store import complaints as complaints_store
from store.db import Database
from workers.policy import FlagPolicy, load_policy
from workers.taxonomy import tenant_categories

router = APIRouter(prefix="/v1/complaints", tags=["complaints"])


def _act(
    db: Database,
    principal: Principal,
    settings: Settings,
    complaint_id: UUID,
    action: complaints_service.Action,
    body: ActionIn,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Carry out ``action``, recorded as done by the key (whatever ``actor`` the client typed)."""
    by = {"type": principal.kind, "key_id": principal.key_id, "key_name": principal.key_name}
    return complaints_service.act(
        db,
        principal.tenant.id,
        complaint_id,
        action,
        actor=body.actor,
        by=by,
        redact_pii=settings.pii_redaction,
        note=body.note,
        params=params,
    )


_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Not found"}}
_ACTION_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Not found"},
    409: {"description": "Not allowed from the complaint's status"},
}


@router.get("", response_model=ComplaintPage, responses={400: {"description": "Bad cursor"}})
def list_complaints(
    tenant: TenantDep,
    db: DbDep,
    status: Annotated[list[ComplaintStatus] | None, Query()] = None,
    priority: Annotated[list[PriorityName] | None, Query()] = None,
    category: Annotated[
        StorableStr | None, Query(max_length=64, description="One of the tenant's categories.")
    ] = None,
    channel: Channel | None = None,
    language: Annotated[str | None, Query(pattern=r"^(vi|en|mixed|other)$")] = None,
    assignee: Annotated[StorableStr | None, Query(max_length=200)] = None,
    overdue: bool | None = None,
    flagged_after: AwareDatetime | None = None,
    flagged_before: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ComplaintPage:
    """Your complaints, newest flagged first, filtered, in pages."""
    filters = complaints_store.ComplaintFilter(
        status=status,
        priority=priority,
        category=category,
        channel=channel,
        language=language,
        assignee=assignee,
        overdue=overdue,
        flagged_after=flagged_after,
        flagged_before=flagged_before,
    )
    before = decode_cursor(cursor) if cursor else None
    with db.transaction() as conn:
        known = tenant_categories(conn, tenant.id)
        if category is not None and category not in known:
            raise ApiError(
                422,
                "unknown_category",
                f"{category!r} is not one of your categories.",
                {"known": known},
            )
        rows = complaints_store.list_complaints(conn, tenant.id, filters, limit, before)
    next_cursor = (
        encode_cursor(rows[-1]["flagged_at"], rows[-1]["id"]) if len(rows) == limit else None
    )
    return ComplaintPage(items=[ComplaintOut(**r) for r in rows], next_cursor=next_cursor)


@router.get("/metrics", response_model=ComplaintMetrics)
def complaint_metrics(
    tenant: TenantDep,
    db: DbDep,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
) -> ComplaintMetrics:
    """Volume by category and priority, response and resolution times, SLA and reopen rates."""
    with db.transaction() as conn:
        m = complaints_store.metrics(conn, tenant.id, since, until)
    total = m["total"]
    return ComplaintMetrics(
        **m,
        sla_breach_rate=m["sla_breached"] / total if total else None,
        reopen_rate=m["reopened"] / m["ever_resolved"] if m["ever_resolved"] else None,
    )


@router.get("/policy", response_model=FlagPolicy)
def get_policy(tenant: TenantDep, db: DbDep) -> FlagPolicy:
    """Your flagging policy (the defaults until you set one)."""
    with db.transaction() as conn:
        return load_policy(complaints_store.get_policies(conn, [tenant.id]).get(tenant.id))


@router.put("/policy", response_model=FlagPolicy)
def put_policy(body: FlagPolicy, tenant: TenantDep, db: DbDep) -> FlagPolicy:
    """Replace your flagging policy; it applies to items analysed from now on."""
    with db.transaction() as conn:
        complaints_store.put_policy(conn, tenant.id, body.model_dump(mode="json"))
    return body


@router.get("/{complaint_id}", response_model=ComplaintDetail, responses=_NOT_FOUND)
def get_complaint(complaint_id: UUID, tenant: TenantDep, db: DbDep) -> dict[str, Any]:
    """One complaint with the item's text, its analysis and the history of changes."""
    return complaints_service.get(db, tenant.id, complaint_id)


@router.post("/{complaint_id}/assign", response_model=ComplaintDetail, responses=_ACTION_ERRORS)
def assign(
    complaint_id: UUID, body: AssignIn, principal: PrincipalDep, db: DbDep, settings: SettingsDep
) -> dict[str, Any]:
    """Assign the complaint to someone, or unassign it with ``null``."""
    return _act(db, principal, settings, complaint_id, "assign", body, {"assignee": body.assignee})


@router.post(
    "/{complaint_id}/acknowledge", response_model=ComplaintDetail, responses=_ACTION_ERRORS
)
def acknowledge(
    complaint_id: UUID,
    principal: PrincipalDep,
    db: DbDep,
    settings: SettingsDep,
    body: AcknowledgeIn | None = None,
) -> dict[str, Any]:
    """Acknowledge an open complaint (the first response, if none yet)."""
    body = body or AcknowledgeIn()
    return _act(db, principal, settings, complaint_id, "acknowledge", body)


@router.post("/{complaint_id}/notes", response_model=ComplaintDetail, responses=_ACTION_ERRORS)
def add_note(
    complaint_id: UUID, body: NoteIn, principal: PrincipalDep, db: DbDep, settings: SettingsDep
) -> dict[str, Any]:
    """Add a note."""
    return _act(db, principal, settings, complaint_id, "note", body)


@router.post("/{complaint_id}/resolve", response_model=ComplaintDetail, responses=_ACTION_ERRORS)
def resolve(
    complaint_id: UUID, body: ResolveIn, principal: PrincipalDep, db: DbDep, settings: SettingsDep
) -> dict[str, Any]:
    """Resolve with a resolution code."""
    return _act(
        db,
        principal,
        settings,
        complaint_id,
        "resolve",
        body,
        {"resolution_code": body.resolution_code},
    )


@router.post("/{complaint_id}/reopen", response_model=ComplaintDetail, responses=_ACTION_ERRORS)
def reopen(
    complaint_id: UUID,
    principal: PrincipalDep,
    db: DbDep,
    settings: SettingsDep,
    body: ReopenIn | None = None,
) -> dict[str, Any]:
    """Reopen a resolved complaint; its SLA clock starts again."""
    body = body or ReopenIn()
    return _act(db, principal, settings, complaint_id, "reopen", body)
