"""Dashboard page: the tenant's connectors, their last runs and errors, and a run-now button.

Behind the dashboard shell's login like the inbox (``build_router(auth)``); running goes
through the same service as ``POST /v1/connectors/{id}/run``. Credentials and
configuration are not shown here: the JSON API (admin scope) shows them, masked.
"""

from __future__ import annotations

from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.connectors import service as connectors_service
from api.dashboard.pages import DashboardAuth
from api.dashboard.pages import database as _db
from api.dashboard.pages import form_of as _form
from api.dashboard.pages import page as _page
from api.errors import ApiError
from store import connectors as connectors_store


def build_router(auth: DashboardAuth) -> APIRouter:
    """The connectors page behind the given login."""
    router = APIRouter(prefix="/dashboard", include_in_schema=False)

    @router.get("/connectors", response_class=HTMLResponse)
    def connectors_page(request: Request, error: str = "") -> Response:
        """Every connector with its state, last run, totals, tickets and last error."""
        session = auth.session(request)
        if session is None:
            return auth.login_redirect(request)
        with _db(request).transaction() as conn:
            rows = connectors_store.list_connectors(conn, session.tenant_id)
        return _page(request, "connectors.html", session, connectors=rows, error=error)

    @router.post("/connectors/{connector_id}/run")
    async def run_now(request: Request, connector_id: UUID) -> Response:
        """Run a pull connector now; back to the page, with the refusal if there is one."""
        session = auth.session(request)
        if session is None:
            return auth.login_redirect(request)
        auth.check_post(request, session, await _form(request))
        target = "/dashboard/connectors"
        try:
            await run_in_threadpool(
                connectors_service.run_now,
                _db(request),
                request.app.state.settings,
                request.app.state.queue,
                session.tenant_id,
                connector_id,
            )
        except ApiError as exc:
            target += "?" + urlencode({"error": str(exc)[:300]})
        return RedirectResponse(target, status_code=303)

    return router
