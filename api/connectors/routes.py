"""/v1/connectors: list, create, delete and run connectors (admin); help-desk status webhooks."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from api.audit.service import note_audit
from api.auth import TenantDep
from api.connectors import service
from api.connectors.schemas import (
    ConnectorIn,
    ConnectorList,
    ConnectorOut,
    RunOut,
    StatusChangeOut,
    TicketList,
    TicketOut,
)
from api.deps import DbDep, QueueDep, SettingsDep
from api.errors import ApiError
from store import connectors as connectors_store
from store import helpdesk as helpdesk_store

router = APIRouter(prefix="/v1/connectors", tags=["connectors"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Not found"}}


@router.get("", response_model=ConnectorList)
def list_connectors(tenant: TenantDep, db: DbDep) -> ConnectorList:
    """Your connectors with their state, last run, totals and last error (never credentials)."""
    with db.transaction() as conn:
        rows = connectors_store.list_connectors(conn, tenant.id)
    return ConnectorList(items=[service.to_out(r) for r in rows])


@router.post(
    "",
    status_code=201,
    response_model=ConnectorOut,
    responses={
        409: {"description": "Name taken, or LANGNGHE_SECRET_KEY / the folder root not set"},
        422: {"description": "Invalid fields, unsafe target or folder"},
    },
)
def create_connector(
    body: ConnectorIn, tenant: TenantDep, db: DbDep, settings: SettingsDep, request: Request
) -> ConnectorOut:
    """A new connector, due to run at once; its credentials are stored encrypted."""
    created = service.create(db, settings, tenant.id, body)
    note_audit(request, target_type="connector", target_id=created.id, kind=created.kind)
    return created


@router.get("/{connector_id}", response_model=ConnectorOut, responses=_NOT_FOUND)
def get_connector(connector_id: UUID, tenant: TenantDep, db: DbDep) -> ConnectorOut:
    """One of your connectors."""
    with db.transaction() as conn:
        row = connectors_store.get_connector(conn, tenant.id, connector_id)
    if row is None:
        raise ApiError(404, "not_found", "No connector with this id.")
    return service.to_out(row)


@router.delete("/{connector_id}", status_code=204, responses=_NOT_FOUND)
def delete_connector(connector_id: UUID, tenant: TenantDep, db: DbDep) -> None:
    """Remove a connector, its runs and its ticket links (the feedback it brought stays)."""
    with db.transaction() as conn:
        if not connectors_store.delete_connector(conn, tenant.id, connector_id):
            raise ApiError(404, "not_found", "No connector with this id.")


@router.post(
    "/{connector_id}/run",
    response_model=RunOut,
    responses={**_NOT_FOUND, 409: {"description": "Running now, or not a pull connector"}},
)
def run_connector(
    connector_id: UUID, tenant: TenantDep, db: DbDep, settings: SettingsDep, queue: QueueDep
) -> dict[str, Any]:
    """Run a pull connector now and answer the run (its error, if it failed)."""
    return service.run_now(db, settings, queue, tenant.id, connector_id)


@router.get("/{connector_id}/tickets", response_model=TicketList, responses=_NOT_FOUND)
def list_tickets(connector_id: UUID, tenant: TenantDep, db: DbDep) -> TicketList:
    """A help-desk connector's tickets, newest first."""
    with db.transaction() as conn:
        if connectors_store.get_connector(conn, tenant.id, connector_id) is None:
            raise ApiError(404, "not_found", "No connector with this id.")
        rows = helpdesk_store.list_tickets(conn, tenant.id, connector_id)
    return TicketList(items=[TicketOut(**r) for r in rows])


@router.post(
    "/{connector_id}/webhook",
    response_model=StatusChangeOut,
    responses={
        401: {"description": "Bad signature"},
        404: {"description": "No such connector or ticket"},
    },
)
async def status_webhook(
    connector_id: UUID, request: Request, db: DbDep, settings: SettingsDep
) -> dict[str, Any]:
    """A help desk's ticket status (no API key: the signature authenticates it)."""
    body = await request.body()
    return await run_in_threadpool(
        service.receive_status, db, settings, connector_id, request.headers, body
    )
