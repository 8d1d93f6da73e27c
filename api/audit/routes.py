"""GET /v1/audit (admin scope): the audit log, filtered and cursor-paged, and a CSV export."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BaseModel

from api.auth import TenantDep
from api.deps import DbDep
from api.errors import ApiError
from api.schemas import StorableStr
from store import audit as audit_store

router = APIRouter(prefix="/v1/audit", tags=["audit"])
ActorType = Literal["key", "dashboard", "cli", "system"]
_CSV_COLUMNS = (
    "id",
    "created_at",
    "actor_type",
    "actor_id",
    "actor_name",
    "action",
    "target_type",
    "target_id",
    "client_ip",
    "status",
    "details",
)


class AuditOut(BaseModel):
    """One recorded change."""

    id: int
    created_at: datetime
    actor_type: ActorType
    actor_id: str | None
    actor_name: str | None
    action: str
    target_type: str | None
    target_id: str | None
    client_ip: str | None
    status: int | None
    details: dict[str, Any]


class AuditPage(BaseModel):
    """A page of the audit log, newest first."""

    items: list[AuditOut]
    next_cursor: str | None


def _cell(value: Any) -> Any:
    # A cell starting with = + - @ is a formula to a spreadsheet: key names are typed by
    # clients, so quote them rather than let an export run code on an auditor's machine.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _encode(at: datetime, entry_id: int) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{entry_id}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, entry_id = raw.partition("|")
        parsed = datetime.fromisoformat(at)
        if parsed.tzinfo is None:
            raise ValueError("naive timestamp")
        return parsed, int(entry_id)
    except ValueError as exc:
        raise ApiError(400, "invalid_cursor", "The cursor is not valid.") from exc


Text = Annotated[StorableStr | None, Query(max_length=300)]


def _filter(
    actor_type: ActorType | None = None,
    actor_id: Text = None,
    action: Text = None,
    target_type: Text = None,
    target_id: Text = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
) -> audit_store.AuditFilter:
    """The query's filter, shared by the list and the export."""
    if since and until and since >= until:
        raise ApiError(422, "invalid_range", "'since' must be before 'until'.")
    return audit_store.AuditFilter(
        actor_type, actor_id, action, target_type, target_id, since, until
    )


FilterDep = Annotated[audit_store.AuditFilter, Depends(_filter)]


@router.get("", response_model=AuditPage, responses={400: {"description": "Bad cursor"}})
def list_audit(
    tenant: TenantDep,
    db: DbDep,
    flt: FilterDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> AuditPage:
    """Who changed what in your tenant, newest first; ``action`` is e.g. ``POST /v1/keys``."""
    before = _decode(cursor) if cursor else None
    with db.transaction() as conn:
        rows = audit_store.list_entries(conn, tenant.id, flt, limit, before)
    next_cursor = _encode(rows[-1]["created_at"], rows[-1]["id"]) if len(rows) == limit else None
    return AuditPage(items=[AuditOut(**r) for r in rows], next_cursor=next_cursor)


@router.get("/export.csv", response_class=StreamingResponse)
def export_audit(
    tenant: TenantDep,
    db: DbDep,
    flt: FilterDep,
) -> StreamingResponse:
    """The same entries as CSV, oldest first, streamed (``details`` as JSON)."""

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(_CSV_COLUMNS)
        with db.transaction() as conn:
            for n, entry in enumerate(audit_store.iter_entries(conn, tenant.id, flt)):
                values = {**entry, "created_at": entry["created_at"].isoformat()}
                values["details"] = json.dumps(entry["details"], ensure_ascii=False)
                writer.writerow([_cell(values[c]) for c in _CSV_COLUMNS])
                if n % 500 == 0:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )
