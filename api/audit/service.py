"""Recording changes: one entry per successful state-changing request, after it committed.

Every route that changes something is covered without each remembering to log: the
middleware writes an entry for each POST, PUT, PATCH or DELETE that succeeded and
has a principal (an API key, or a dashboard session). The action is the route's
method and path template, the target its last path parameter; a route may name a
better target or add details through ``note_audit`` (a new key's id, counts).

The entry is written after the change committed and before the response is sent:
if the database fails in between, the change stands without its entry and the
client sees the error (503), which says so.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.auth import Principal
from api.errors import error_response
from store import audit as audit_store
from store.db import Database

log = logging.getLogger("langnghe.audit")
_CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def note_audit(
    request: Request,
    *,
    target_type: str | None = None,
    target_id: object = None,
    **details: Any,
) -> None:
    """Let a route name the target of its change or add details to its audit entry."""
    extra: dict[str, Any] = getattr(request.state, "audit", {})
    if target_type is not None:
        extra["target_type"] = target_type
    if target_id is not None:
        extra["target_id"] = str(target_id)
    extra.setdefault("details", {}).update(details)
    request.state.audit = extra


def client_ip(request: Request) -> str | None:
    """The peer address (a proxy in front must be trusted by uvicorn to forward the real one)."""
    return request.client.host if request.client else None


def entry_for(request: Request, status: int) -> audit_store.AuditEntry | None:
    """The audit entry of a finished request, or None when it changed nothing."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None or request.method not in _CHANGES or status >= 400:
        return None
    route = request.scope.get("route")
    template = getattr(route, "path", request.url.path)
    params: dict[str, Any] = request.scope.get("path_params") or {}
    last = list(params)[-1] if params else None
    # Without a path parameter the target is what the path names: /v1/complaints/policy.
    static = template.rstrip("/").rsplit("/", 1)[-1] or None
    extra: dict[str, Any] = getattr(request.state, "audit", {})
    return audit_store.AuditEntry(
        tenant_id=principal.tenant.id,
        actor_type=principal.kind,
        actor_id=principal.key_id,
        actor_name=principal.key_name,
        action=f"{request.method} {template}",
        target_type=extra.get("target_type") or (last.removesuffix("_id") if last else static),
        target_id=extra.get("target_id") or (str(params[last]) if last else None),
        client_ip=client_ip(request),
        status=status,
        details=extra.get("details") or {},
    )


def install_audit(app: FastAPI) -> None:
    """Record every successful change made through the API or the dashboard."""

    @app.middleware("http")
    async def audit(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        entry = entry_for(request, response.status_code)
        # A dashboard form that failed redirects back with ?error=: nothing changed.
        if entry is None or "error=" in response.headers.get("location", ""):
            return response
        db: Database = request.app.state.db

        def write() -> None:
            with db.transaction() as conn:
                audit_store.record(conn, entry)

        try:
            await run_in_threadpool(write)
        except Exception:
            log.exception("could not write the audit entry for %s", entry.action)
            return error_response(
                503,
                "audit_unavailable",
                "The change was made but its audit entry could not be written.",
            )
        return response
