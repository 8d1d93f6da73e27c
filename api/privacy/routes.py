"""/v1/privacy (admin scope): erase a data subject with a receipt; retention and its report."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from api.audit.service import note_audit
from api.auth import PrincipalDep, TenantDep
from api.cursor import decode_cursor, encode_cursor
from api.deps import DbDep
from api.errors import ApiError
from api.privacy.schemas import (
    ErasureIn,
    ReceiptOut,
    ReceiptPage,
    RetentionIn,
    RetentionPolicyOut,
    RetentionReport,
    RetentionRunOut,
)
from store import privacy as privacy_store

router = APIRouter(prefix="/v1/privacy", tags=["privacy"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Not found"}}


@router.post("/erasure", status_code=201, response_model=ReceiptOut)
def erase(body: ErasureIn, principal: PrincipalDep, db: DbDep, request: Request) -> ReceiptOut:
    """Erase everything about a data subject in your tenant, at once; returns the receipt."""
    kind, value = body.subject()
    requested_by = f"key:{principal.key_id}"
    with db.transaction() as conn:
        receipt = privacy_store.erase_subject(conn, principal.tenant.id, kind, value, requested_by)
    note_audit(request, target_type="erasure", target_id=receipt["id"], **receipt["counts"])
    return ReceiptOut(**receipt)


@router.get("/erasure", response_model=ReceiptPage)
def list_receipts(
    tenant: TenantDep,
    db: DbDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ReceiptPage:
    """Your erasure receipts, newest first."""
    before = decode_cursor(cursor) if cursor else None
    with db.transaction() as conn:
        rows = privacy_store.list_receipts(conn, tenant.id, limit, before)
    next_cursor = (
        encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if len(rows) == limit else None
    )
    return ReceiptPage(items=[ReceiptOut(**r) for r in rows], next_cursor=next_cursor)


@router.get("/erasure/{receipt_id}", response_model=ReceiptOut, responses=_NOT_FOUND)
def get_receipt(receipt_id: UUID, tenant: TenantDep, db: DbDep) -> ReceiptOut:
    """One erasure receipt."""
    with db.transaction() as conn:
        receipt = privacy_store.get_receipt(conn, tenant.id, receipt_id)
    if receipt is None:
        raise ApiError(404, "not_found", "No erasure receipt with this id.")
    return ReceiptOut(**receipt)


@router.get("/retention", response_model=RetentionReport)
def get_retention(
    tenant: TenantDep, db: DbDep, runs: Annotated[int, Query(ge=1, le=500)] = 20
) -> RetentionReport:
    """Your retention policy and the latest runs of the scheduled job, newest first."""
    with db.transaction() as conn:
        policy = privacy_store.get_retention(conn, tenant.id)
        recent = privacy_store.retention_runs(conn, tenant.id, runs)
    return RetentionReport(
        policy=RetentionPolicyOut(**policy) if policy else None,
        runs=[RetentionRunOut(**r) for r in recent],
    )


@router.put("/retention", response_model=RetentionPolicyOut)
def put_retention(
    body: RetentionIn, tenant: TenantDep, db: DbDep, request: Request
) -> RetentionPolicyOut:
    """Set your retention policy; the next run of the job applies it."""
    with db.transaction() as conn:
        policy = privacy_store.put_retention(conn, tenant.id, body.days, body.mode)
    note_audit(request, days=body.days, mode=body.mode)
    return RetentionPolicyOut(**policy)


@router.delete("/retention", status_code=204, responses=_NOT_FOUND)
def delete_retention(tenant: TenantDep, db: DbDep) -> Response:
    """Remove your retention policy: items are kept from now on."""
    with db.transaction() as conn:
        if not privacy_store.delete_retention(conn, tenant.id):
            raise ApiError(404, "not_found", "No retention policy is set.")
    return Response(status_code=204)
