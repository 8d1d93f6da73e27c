"""Dashboard pages for support leads: the complaint inbox and the CSAT/NPS signals.

The pages do not own a login: the dashboard shell (api/dashboard/router.py) does.
``build_router`` takes an adapter with three calls - who is logged in, where to
send someone who is not, and the CSRF/origin check of a POSTed form; api/app.py
mounts them with the shell's ``ShellAuth``, so they share its session cookie and login.
Every change goes through api.complaints_service, exactly as the JSON API does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import complaints_service
from api.cursor import decode_cursor, encode_cursor
from api.dashboard.i18n import tr
from api.dashboard.pages import DashboardAuth
from api.dashboard.pages import database as _db
from api.dashboard.pages import form_of as _form
from api.dashboard.pages import page as _page
from api.dashboard.session import check_length
from api.errors import ApiError
from api.topic_reports import Interval, partial
from store import complaints as complaints_store
from store import events as events_store
from store import signals as signals_store
from store import themes as themes_store
from store import topics as topics_store
from store.db import Conn
from workers.events import SIGNAL_CSAT_DROP
from workers.signals import segment_figures
from workers.taxonomy import tenant_categories

STATUSES = ("open", "acknowledged", "resolved")
PRIORITIES = ("p1", "p2", "p3", "p4")
CHANNELS = ("review", "email", "social", "call_transcript", "survey")
RESOLUTION_CODES = ("refunded", "replaced", "explained", "fixed", "no_action", "duplicate")
ACTIONS = ("assign", "acknowledge", "note", "resolve", "reopen")


def _topic_names(conn: Conn, tenant_id: UUID) -> dict[int, str]:
    return {t["id"]: t["name"] for t in topics_store.list_topics(conn, tenant_id)}


def _theme_names(conn: Conn, tenant_id: UUID) -> dict[int, str]:
    return {t["id"]: t["name"] for t in themes_store.list_themes(conn, tenant_id)}


# Signal splits whose segments are shown by name.
NAMED = {"topic": _topic_names, "theme": _theme_names}


def _segments(
    rows: list[dict[str, Any]], by: str, names: dict[int, str], period: Interval, now: datetime
) -> list[dict[str, Any]]:
    """The series split into one entry per segment, largest first: its name, total items,
    the points oldest first (for the chart) with the running period marked partial."""
    column = signals_store.DIMENSIONS[by][0] if by in signals_store.DIMENSIONS else by
    grouped: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        grouped.setdefault(r.get(column), []).append(r)
    segments = []
    for key, members in grouped.items():
        points = []
        for r in sorted(members, key=lambda r: r["period_start"]):
            figures = segment_figures(r)
            points.append(
                {
                    "period_start": r["period_start"],
                    # The chart helper's fields: its bars and its line.
                    "period": r["period_start"].date().isoformat(),
                    "count": figures["n"],
                    "csat_mean": figures["inferred_csat_pct"],
                    "partial": partial(r["period_start"].date(), period, now.date()),
                    **figures,
                }
            )
        # A topic or theme by its name; -1 (no topic or theme) and NULL show empty.
        name = names.get(key, "") if by in NAMED else ("" if key is None else str(key))
        chart = [{k: p[k] for k in ("period", "count", "csat_mean", "partial")} for p in points]
        total = sum(p["n"] for p in points)
        segments.append({"key": key, "name": name, "n": total, "points": points, "chart": chart})
    segments.sort(key=lambda s: (-s["n"], s["name"]))
    return segments


def _by(request: Request) -> dict[str, Any] | None:
    """Who acts: the dashboard user, by the key their session was opened with."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        return None
    return {"type": principal.kind, "key_id": principal.key_id, "key_name": principal.key_name}


def _choice(value: str, allowed: tuple[str, ...]) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise ApiError(422, "validation_error", f"Unknown value {value!r}.")
    return value


def build_router(auth: DashboardAuth) -> APIRouter:
    """The inbox and signals pages behind the given login."""
    router = APIRouter(prefix="/dashboard", include_in_schema=False)

    @router.get("/inbox", response_class=HTMLResponse)
    def inbox(
        request: Request,
        status: str = "",
        priority: str = "",
        channel: str = "",
        category: str = "",
        overdue: str = "",
        cursor: Annotated[str, Query(max_length=200)] = "",
    ) -> Response:
        """The complaint list, most recently flagged first, with filters and paging."""
        session = auth.session(request)
        if session is None:
            return auth.login_redirect(request)
        st = _choice(status, STATUSES)
        pr = _choice(priority, PRIORITIES)
        with _db(request).transaction() as conn:
            # The tenant's own taxonomy where it has one, else the default eight.
            categories = tuple(tenant_categories(conn, session.tenant_id))
        filters = complaints_store.ComplaintFilter(
            status=[st] if st else None,
            priority=[pr] if pr else None,
            channel=_choice(channel, CHANNELS),
            category=_choice(category, categories),
            overdue=True if overdue == "1" else None,
        )
        limit = 50
        with _db(request).transaction() as conn:
            rows = complaints_store.list_complaints(
                conn,
                session.tenant_id,
                filters,
                limit,
                decode_cursor(cursor) if cursor else None,
            )
        chosen = {
            "status": status,
            "priority": priority,
            "channel": channel,
            "category": category,
            "overdue": overdue,
        }
        next_url = None
        if len(rows) == limit:
            query = {k: v for k, v in chosen.items() if v}
            query["cursor"] = encode_cursor(rows[-1]["flagged_at"], rows[-1]["id"])
            next_url = "/dashboard/inbox?" + urlencode(query)
        return _page(
            request,
            "inbox/list.html",
            session,
            rows=rows,
            chosen=chosen,
            now=datetime.now(UTC),
            next_url=next_url,
            statuses=STATUSES,
            priorities=PRIORITIES,
            channels=CHANNELS,
            categories=categories,
        )

    @router.get("/inbox/{complaint_id}", response_class=HTMLResponse)
    def detail(request: Request, complaint_id: UUID, error: str = "") -> Response:
        """One complaint: the text, the analysis, the history, and the actions."""
        session = auth.session(request)
        if session is None:
            return auth.login_redirect(request)
        row = complaints_service.get(_db(request), session.tenant_id, complaint_id)
        with _db(request).transaction() as conn:
            categories = tenant_categories(conn, session.tenant_id)
        return _page(
            request,
            "inbox/detail.html",
            session,
            c=row,
            now=datetime.now(UTC),
            error=error[:200],
            codes=RESOLUTION_CODES,
            categories=categories,
        )

    @router.post("/inbox/{complaint_id}/{action}")
    async def act(request: Request, complaint_id: UUID, action: str) -> Response:
        """Apply a button's action, then show the complaint again."""
        session = auth.session(request)
        if session is None:
            return auth.login_redirect(request)
        form = await _form(request)
        auth.check_post(request, session, form)
        if action not in ACTIONS:
            raise ApiError(404, "not_found", "No such action.")
        note = form.get("note", "").strip() or None
        check_length("note", note, 10_000)  # the API's limits for the same fields
        params: dict[str, Any] = {}
        if action == "assign":
            params["assignee"] = form.get("assignee", "").strip() or None
            check_length("assignee", params["assignee"], 200)
        if action == "resolve":
            code = form.get("resolution_code", "")
            if code not in RESOLUTION_CODES:
                raise ApiError(422, "validation_error", "Unknown resolution code.")
            params["resolution_code"] = code
        if action == "note" and not note:
            return RedirectResponse(
                f"/dashboard/inbox/{complaint_id}?"
                + urlencode({"error": tr(request, "Write a note first.")}),
                status_code=303,
            )
        target = f"/dashboard/inbox/{complaint_id}"
        try:
            await run_in_threadpool(
                complaints_service.act,
                _db(request),
                session.tenant_id,
                complaint_id,
                action,  # type: ignore[arg-type]
                actor=f"dashboard:{session.tenant_name}",
                note=note,
                params=params,
                by=_by(request),
                redact_pii=request.app.state.settings.pii_redaction,
            )
        except ApiError as exc:
            if exc.status != 409:
                raise
            target += "?" + urlencode({"error": exc.message})
        return RedirectResponse(target, status_code=303)

    @router.get("/signals", response_class=HTMLResponse)
    def signals(
        request: Request,
        period: str = "week",
        by: str = "channel",
        weeks: Annotated[int, Query(ge=4, le=104)] = 12,
    ) -> Response:
        """Inferred CSAT/NPS beside real scores: a chart and a table per segment; recent drops."""
        session = auth.session(request)
        if session is None:
            return auth.login_redirect(request)
        if period not in ("day", "week") or by not in ("channel", "language", *NAMED, "none"):
            raise ApiError(422, "validation_error", "Unknown period or split.")
        now = datetime.now(UTC)
        since = now - timedelta(weeks=weeks)
        dims = [] if by == "none" else [by]
        with _db(request).transaction() as conn:
            rows = signals_store.series(conn, session.tenant_id, period, since, None, dims)
            drops = events_store.list_events(conn, session.tenant_id, 0, 1000, [SIGNAL_CSAT_DROP])
            names = NAMED[by](conn, session.tenant_id) if by in NAMED else {}
        return _page(
            request,
            "inbox/signals.html",
            session,
            segments=_segments(rows, by, names, "day" if period == "day" else "week", now),
            drops=list(reversed(drops))[:20],
            period=period,
            by=by,
            weeks=weeks,
        )

    return router
