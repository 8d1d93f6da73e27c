"""Dashboard pages for customers: who is at risk and why, one customer's story, the loop lists.

Like the inbox (api/dashboard/inbox.py), the pages use the dashboard shell's login through
``build_router(auth)`` and read through the same service as the JSON API
(api.customers.service), so what they show is what ``/v1/customers`` answers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from api.customers import service
from api.customers.schemas import LoopList, RiskBand, Segment
from api.dashboard.pages import DashboardAuth, SessionLike
from api.dashboard.pages import database as _db
from api.dashboard.pages import page as _page
from api.errors import ApiError
from store import customers as customers_store
from store.db import Database

PAGE = 50
LOOP_SEGMENT = {"detractors": "detractor", "passives": "passive", "promoters": "promoter"}
TREND_DAYS = 30


def _next_url(request: Request, cursor: str | None) -> str | None:
    """This page's URL with its filters and the next page's cursor."""
    if cursor is None:
        return None
    return f"{request.url.path}?{urlencode({**request.query_params, 'cursor': cursor})}"


def _loop_counts(db: Database, session: SessionLike) -> dict[str, Any]:
    """The silent detractors' count and each loop list's count and 30-day entries."""
    with db.transaction() as conn:
        counts = {
            name: customers_store.count_customers(conn, session.tenant_id, f)
            for name, f in service.LOOPS.items()
        }
        silent = customers_store.count_customers(conn, session.tenant_id, service.SILENT_DETRACTORS)
        entered = customers_store.segment_entries(
            conn, session.tenant_id, datetime.now(UTC) - timedelta(days=TREND_DAYS)
        )
    return {
        "silent": silent,
        "loops": [
            {"name": n, "count": counts[n], "entered": entered.get(LOOP_SEGMENT[n], 0)}
            for n in service.LOOPS
        ],
        "trend_days": TREND_DAYS,
    }


def build_router(auth: DashboardAuth) -> APIRouter:
    """The customer pages behind the given login."""
    router = APIRouter(prefix="/dashboard", include_in_schema=False)

    @router.get("/customers", response_class=HTMLResponse)
    def customers_page(
        request: Request,
        risk_band: Annotated[RiskBand | Literal[""], Query()] = "",
        segment: Annotated[Segment | Literal[""], Query()] = "",
        silent: Annotated[Literal["", "yes"], Query()] = "",
        cursor: Annotated[str | None, Query(max_length=500)] = None,
    ) -> Response:
        """Customers, most at risk first, with their top reasons and the loop lists' counts."""
        session = auth.session(request)
        if session is None:
            return auth.login_redirect(request)
        filters = customers_store.CustomerFilter(
            risk_band=risk_band or None,
            segment=segment or None,
            silent=True if silent else None,
            cancelled=False,
        )
        db = _db(request)
        page = service.customer_page(db, session.tenant_id, filters, PAGE, cursor)
        return _page(
            request,
            "customers/list.html",
            session,
            page=page,
            next_url=_next_url(request, page.next_cursor),
            bands=get_args(RiskBand),
            segments=get_args(Segment),
            chosen={"risk_band": risk_band, "segment": segment, "silent": silent},
            **_loop_counts(db, session),
        )

    @router.get("/customers/lists/{name}", response_class=HTMLResponse)
    def loop_page(
        request: Request,
        name: LoopList,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
    ) -> Response:
        """One loop list (detractors to recover, passives to lift, promoters to ask)."""
        session = auth.session(request)
        if session is None:
            return auth.login_redirect(request)
        db = _db(request)
        page = service.loop_page(db, session.tenant_id, name, PAGE, cursor)
        return _page(
            request,
            "customers/loop.html",
            session,
            page=page,
            next_url=_next_url(request, page.next_cursor),
            **_loop_counts(db, session),
        )

    @router.get("/customers/{ref:path}", response_class=HTMLResponse)
    async def customer_page(request: Request, ref: str) -> Response:
        """One customer: the risk and its reasons, the timeline, the segment history."""
        session = auth.session(request)
        if session is None:
            return auth.login_redirect(request)
        try:
            if "\x00" in ref:
                raise ApiError(404, "not_found", "No customer with this ref.")
            detail = await run_in_threadpool(
                service.customer_detail, _db(request), session.tenant_id, ref
            )
        except ApiError as exc:
            if exc.status != 404:
                raise
            missing = _page(request, "customers/missing.html", session, ref=ref)
            missing.status_code = 404
            return missing
        return _page(request, "customers/detail.html", session, c=detail)

    return router
