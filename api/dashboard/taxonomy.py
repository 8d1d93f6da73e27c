"""Dashboard pages: the tenant's own categories, its models, and correcting a complaint.

Like the inbox (api/dashboard/inbox.py), the pages use the dashboard shell's login
through ``build_router(auth)``, and every change goes through the same services as
the JSON API (api.taxonomy.service, api.corrections.service).
"""

from __future__ import annotations

from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from api import complaints_service
from api.corrections import service as corrections_service
from api.corrections.schemas import CorrectionIn
from api.dashboard.i18n import tr
from api.dashboard.pages import DashboardAuth, read_post
from api.dashboard.pages import database as _db
from api.dashboard.pages import invalid_message as _invalid
from api.dashboard.pages import page as _page
from api.errors import ApiError
from api.taxonomy import service as taxonomy_service
from api.taxonomy.schemas import CategoryIn


def _back(target: str, error: str | None = None) -> RedirectResponse:
    return RedirectResponse(
        target + ("?" + urlencode({"error": error[:300]}) if error else ""), status_code=303
    )


def _bool(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


def build_router(auth: DashboardAuth) -> APIRouter:
    """The taxonomy, models and correction pages behind the given login."""
    router = APIRouter(prefix="/dashboard", include_in_schema=False)

    @router.get("/taxonomy", response_class=HTMLResponse)
    def taxonomy_page(request: Request, error: str = "") -> Response:
        """Categories in force, the tenant's own with examples, forms to change them."""
        session = auth.session(request)
        if session is None:
            return auth.login_redirect(request)
        overview = taxonomy_service.overview(_db(request), session.tenant_id)
        return _page(request, "taxonomy.html", session, t=overview, error=error[:300])

    @router.post("/taxonomy/mode")
    async def set_mode(request: Request) -> Response:
        """Replace or extend the default categories."""
        posted = await read_post(auth, request)
        if isinstance(posted, Response):
            return posted
        session, form = posted
        if form.get("mode") not in ("replace", "extend"):
            return _back("/dashboard/taxonomy", tr(request, "Choose replace or extend."))
        await run_in_threadpool(
            taxonomy_service.set_mode, _db(request), session.tenant_id, form["mode"]
        )
        return _back("/dashboard/taxonomy")

    @router.post("/taxonomy/categories")
    async def add_category(request: Request) -> Response:
        """Add a category from the form (examples one per line)."""
        posted = await read_post(auth, request)
        if isinstance(posted, Response):
            return posted
        session, form = posted
        try:
            body = CategoryIn(
                name=form.get("name", "").strip(),
                description=form.get("description", "").strip(),
                examples=[line for line in form.get("examples", "").splitlines() if line.strip()],
            )
            await run_in_threadpool(
                taxonomy_service.create_category, _db(request), session.tenant_id, body
            )
        except ValidationError as exc:
            return _back("/dashboard/taxonomy", _invalid(exc))
        except ApiError as exc:
            return _back("/dashboard/taxonomy", exc.message)
        return _back("/dashboard/taxonomy")

    @router.post("/taxonomy/categories/{name}/delete")
    async def remove_category(request: Request, name: str) -> Response:
        """Delete one of the tenant's categories."""
        posted = await read_post(auth, request)
        if isinstance(posted, Response):
            return posted
        session, _ = posted
        await run_in_threadpool(
            taxonomy_service.delete_category, _db(request), session.tenant_id, name
        )
        return _back("/dashboard/taxonomy")

    @router.post("/taxonomy/recategorize")
    async def recategorize(request: Request) -> Response:
        """Queue the re-categorisation of stored analyses."""
        posted = await read_post(auth, request)
        if isinstance(posted, Response):
            return posted
        session, _ = posted
        try:
            await run_in_threadpool(
                taxonomy_service.request_recategorize,
                _db(request),
                request.app.state.queue,
                session.tenant_id,
                f"dashboard:{session.tenant_name}",
            )
        except ApiError as exc:
            return _back("/dashboard/taxonomy", exc.message)
        return _back("/dashboard/taxonomy")

    @router.get("/models", response_class=HTMLResponse)
    def models_page(request: Request) -> Response:
        """Shipped versions, the tenant's heads in force, every candidate and run."""
        session = auth.session(request)
        if session is None:
            return auth.login_redirect(request)
        overview = corrections_service.models_overview(
            _db(request), session.tenant_id, request.app.state.settings.models_dir
        )
        return _page(request, "models.html", session, m=overview)

    @router.post("/inbox/{complaint_id}/correct")
    async def correct(request: Request, complaint_id: UUID) -> Response:
        """Correct the analysis of a complaint's item; blank fields stay as the model said."""
        posted = await read_post(auth, request)
        if isinstance(posted, Response):
            return posted
        session, form = posted
        db = _db(request)
        complaint = await run_in_threadpool(
            complaints_service.get, db, session.tenant_id, complaint_id
        )
        target = f"/dashboard/inbox/{complaint_id}"
        try:
            body = CorrectionIn.model_validate(
                {
                    "sentiment": form.get("sentiment") or None,
                    "complaint": _bool(form.get("complaint", "")),
                    "category": form.get("category") or None,
                    "churn_risk": _bool(form.get("churn_risk", "")),
                    "severity": form.get("severity") or None,
                    "note": form.get("note", "").strip() or None,
                }
            )
            await run_in_threadpool(
                corrections_service.correct,
                db,
                session.tenant_id,
                complaint["feedback_id"],
                body,
                f"dashboard:{session.tenant_name}",
            )
        except ValidationError as exc:
            return _back(target, _invalid(exc))
        except ApiError as exc:
            if exc.status == 404:
                raise
            return _back(target, exc.message)
        return _back(target)

    return router
