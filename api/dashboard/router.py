"""Dashboard pages: login, topics, themes, drivers; edits through CSRF-safe forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import plotly
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from api import topic_reports
from api.audit.service import client_ip
from api.auth import Principal, allows
from api.dashboard import i18n
from api.dashboard.i18n import tr
from api.dashboard.pages import SessionLike, templates
from api.dashboard.pages import database as _db
from api.dashboard.pages import form_of as _form
from api.dashboard.session import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Session,
    SessionSigner,
    check_length,
    check_origin,
    check_token,
    new_token,
)
from api.errors import ApiError
from api.ratelimit import LoginThrottle
from langnghe.config import Settings
from store import keys as keys_store
from store import sessions as sessions_store
from store import tenants as tenants_store
from store import themes as themes_store
from store import topics as topics_store
from store.topic_reports import ReportFilter
from workers.enqueue import enqueue_topic_refit

HERE = Path(__file__).parent
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
STATIC = {
    "plotly.min.js": (PLOTLY_JS, "text/javascript"),
    "dashboard.css": (HERE / "static" / "dashboard.css", "text/css"),
}
PERIODS = {"7d": 7, "30d": 30, "90d": 90, "365d": 365, "all": None}
CHANNELS = ("review", "email", "social", "call_transcript", "survey")
LANGUAGES = ("vi", "en", "mixed", "other")

router = APIRouter(prefix="/dashboard", include_in_schema=False)


def _signer(request: Request) -> SessionSigner:
    state = request.app.state
    if not hasattr(state, "dashboard_signer"):
        settings: Settings = state.settings
        state.dashboard_signer = SessionSigner(
            settings.dashboard_secret, settings.dashboard_session_max_age_s
        )
    signer: SessionSigner = state.dashboard_signer
    return signer


def _session(request: Request) -> Session | None:
    """The request's valid session, re-checking that its key is still active.

    Sets the request's principal (the dashboard user, by the key they logged in with)
    for the audit log and the scope check of forms.
    """
    session = _signer(request).loads(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return None
    with _db(request).transaction() as conn:
        found = keys_store.lookup(conn, bytes.fromhex(session.key_hash))
        # The session's CSRF token doubles as its server-side id: logout deletes the row.
        is_open = sessions_store.session_is_open(conn, session.csrf, session.tenant_id)
    if (
        found is None
        or found[1].state != "active"
        or found[0].id != session.tenant_id
        or not is_open
    ):
        return None
    tenant, record = found
    request.state.principal = Principal(
        "dashboard", tenant, str(record.id), record.name, record.scopes
    )
    return session


def require_admin(request: Request) -> None:
    """Refuse a dashboard change from a session whose key lacks the admin scope."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None or not allows(principal.scopes, "admin"):
        raise ApiError(
            403,
            "insufficient_scope",
            "Changes need a key with the 'admin' scope.",
            {"required": "admin"},
        )


def _throttle(request: Request) -> LoginThrottle:
    state = request.app.state
    if not hasattr(state, "login_throttle"):
        settings: Settings = state.settings
        state.login_throttle = LoginThrottle(settings.login_max_failures, settings.login_lockout_s)
    throttle: LoginThrottle = state.login_throttle
    return throttle


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"/dashboard/login?next={_safe_next(target)}", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/dashboard")
    return response


def _safe_next(target: str | None) -> str:
    # Only our own pages: no open redirect through ?next=.
    if target and target.startswith("/dashboard/") and "//" not in target and "\\" not in target:
        return target
    return "/dashboard/topics"


def _filter(period: str, channel: str, language: str) -> ReportFilter:
    if period not in PERIODS or (channel and channel not in CHANNELS):
        raise ApiError(422, "validation_error", "Unknown period or channel.")
    if language and language not in LANGUAGES:
        raise ApiError(422, "validation_error", "Unknown language.")
    days = PERIODS[period]
    return ReportFilter(
        start=datetime.now(UTC) - timedelta(days=days) if days else None,
        channels=(channel,) if channel else None,
        languages=(language,) if language else None,
    )


def _page(request: Request, name: str, session: Session, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        name,
        {
            "session": session,
            "csrf": session.csrf,
            "channels": CHANNELS,
            "languages": LANGUAGES,
            "periods": list(PERIODS),
            **context,
        },
    )


PeriodQ = Annotated[str, Query()]


# --------------------------------------------------------------------------- static and login


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    """The chart library (from the installed plotly package) and the stylesheet."""
    if name not in STATIC:
        raise ApiError(404, "not_found", "No such file.")
    path, media_type = STATIC[name]
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "max-age=86400"})


@router.get("")
@router.get("/")
def home() -> RedirectResponse:
    """The topic list is the dashboard's front page."""
    return RedirectResponse("/dashboard/topics", status_code=303)


@router.get("/lang")
def choose_language(to: str, next: str = "/dashboard/topics") -> RedirectResponse:
    """Keep the chosen interface language in the ``lng_lang`` cookie, back to the page."""
    if to not in i18n.LANGS:
        raise ApiError(422, "validation_error", "Unknown language.", {"allowed": i18n.LANGS})
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        i18n.COOKIE, to, max_age=365 * 86400, httponly=True, samesite="lax", path="/dashboard"
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/dashboard/topics", error: str = "") -> Response:
    """The login form; sets the pre-session CSRF cookie it is checked against."""
    token = new_token()
    response = templates.TemplateResponse(
        request,
        "login.html",
        {"csrf": token, "next": _safe_next(next), "error": error, "session": None},
        status_code=401 if error else 200,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/dashboard"
    )
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the API key; on success start a session and go to the page asked for."""
    check_origin(request)
    form = await _form(request)
    check_token(request.cookies.get(LOGIN_CSRF_COOKIE), form.get("csrf"))
    key = form.get("api_key", "").strip()
    ip = client_ip(request) or "unknown"
    throttle = _throttle(request)
    # Refused before any database work, so a flood of guesses costs almost nothing.
    throttle.check(ip, [])
    with _db(request).transaction() as conn:
        found = keys_store.lookup(conn, tenants_store.hash_key(key)) if key else None
        suspects = [str(found[0].id)] if found else keys_store.tenants_with_prefix(conn, key[:12])
    tenant_ids = [str(t) for t in suspects]
    throttle.check(ip, tenant_ids)
    if found is None or found[1].state != "active":
        throttle.failed(ip, tenant_ids)
        return login_page(
            request, form.get("next", ""), error=tr(request, "That API key is not valid.")
        )
    tenant, record = found
    if not allows(record.scopes, "read"):
        return login_page(
            request,
            form.get("next", ""),
            error=tr(request, "That key may only send feedback (ingest)."),
        )
    request.state.principal = Principal(
        "dashboard", tenant, str(record.id), record.name, record.scopes
    )
    session = Session(tenant.id, tenant.name, tenants_store.hash_key(key).hex(), new_token())
    with _db(request).transaction() as conn:
        sessions_store.open_session(conn, session.csrf, tenant.id, _signer(request).max_age_s)
    response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        _signer(request).dumps(session),
        max_age=_signer(request).max_age_s,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/dashboard",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/dashboard")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session."""
    check_origin(request)
    session = _session(request)
    if session is not None:
        check_token(session.csrf, (await _form(request)).get("csrf"))
        with _db(request).transaction() as conn:
            sessions_store.close_session(conn, session.csrf)
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/dashboard")
    return response


# --------------------------------------------------------------------------- pages


@router.get("/topics", response_class=HTMLResponse)
async def topics_page(
    request: Request, period: str = "90d", channel: str = "", language: str = ""
) -> Response:
    """Every topic with its sparkline, share, sentiment, CSAT; the CSAT/NPS trend above."""
    session = _session(request)
    if session is None:
        return _to_login(request)
    flt = _filter(period, channel, language)
    db = _db(request)
    report = await run_in_threadpool(
        topic_reports.topic_report, db, session.tenant_id, flt, False, "week"
    )
    trend = await run_in_threadpool(topic_reports.csat_trend, db, session.tenant_id, flt, "week")
    promoters = [p for p in trend if p["nps"] is not None]
    return _page(
        request,
        "topics.html",
        session,
        report=report,
        trend=trend,
        nps=promoters[-1]["nps"] if promoters else None,
        filters={"period": period, "channel": channel, "language": language},
    )


@router.get("/topics/{topic_id}", response_class=HTMLResponse)
async def topic_page(
    request: Request, topic_id: int, period: str = "90d", channel: str = "", language: str = ""
) -> Response:
    """One topic: figures, weekly trend with CSAT, quotes, and the edit forms."""
    session = _session(request)
    if session is None:
        return _to_login(request)
    if not 0 <= topic_id < 2**31:
        raise ApiError(404, "not_found", "No such topic.")
    flt = _filter(period, channel, language)
    db = _db(request)
    detail = await run_in_threadpool(
        topic_reports.topic_detail, db, session.tenant_id, topic_id, flt, 12
    )
    if detail is None:
        raise ApiError(404, "not_found", "No such topic.")
    report = await run_in_threadpool(topic_reports.topic_report, db, session.tenant_id, flt)
    others = [t for t in report.topics if t["id"] != detail["id"]]
    with db.transaction() as conn:
        themes = [t for t in themes_store.list_themes(conn, session.tenant_id) if t["active"]]
    return _page(
        request,
        "topic.html",
        session,
        topic=detail,
        others=others,
        themes=themes,
        theme=next((t for t in themes if t["id"] == detail["theme_id"]), None),
        filters={"period": period, "channel": channel, "language": language},
    )


@router.get("/themes", response_class=HTMLResponse)
async def themes_page(
    request: Request, period: str = "90d", channel: str = "", language: str = ""
) -> Response:
    """Every theme with its sparkline, figures and topics."""
    session = _session(request)
    if session is None:
        return _to_login(request)
    flt = _filter(period, channel, language)
    report = await run_in_threadpool(
        topic_reports.theme_report, _db(request), session.tenant_id, flt, "week"
    )
    return _page(
        request,
        "themes.html",
        session,
        report=report,
        filters={"period": period, "channel": channel, "language": language},
    )


@router.get("/themes/{theme_id}", response_class=HTMLResponse)
async def theme_page(
    request: Request, theme_id: int, period: str = "90d", channel: str = "", language: str = ""
) -> Response:
    """One theme: figures, weekly trend, its topics, quotes from them, and the rename form."""
    session = _session(request)
    if session is None:
        return _to_login(request)
    if not 0 <= theme_id < 2**31:
        raise ApiError(404, "not_found", "No such theme.")
    flt = _filter(period, channel, language)
    detail = await run_in_threadpool(
        topic_reports.theme_detail, _db(request), session.tenant_id, theme_id, flt, 12
    )
    if detail is None:
        raise ApiError(404, "not_found", "No such theme.")
    return _page(
        request,
        "theme.html",
        session,
        theme=detail,
        filters={"period": period, "channel": channel, "language": language},
    )


@router.get("/drivers", response_class=HTMLResponse)
async def drivers_page(
    request: Request, period: str = "90d", channel: str = "", language: str = ""
) -> Response:
    """Topics ranked by how much they move overall inferred CSAT."""
    session = _session(request)
    if session is None:
        return _to_login(request)
    flt = _filter(period, channel, language)
    report = await run_in_threadpool(
        topic_reports.topic_report, _db(request), session.tenant_id, flt
    )
    return _page(
        request,
        "drivers.html",
        session,
        report=report,
        drivers=topic_reports.drivers(report.topics, report.overall_csat),
        filters={"period": period, "channel": channel, "language": language},
    )


# --------------------------------------------------------------------------- edits


async def _edit_session(request: Request) -> tuple[Session, dict[str, str]] | Response:
    check_origin(request)
    session = _session(request)
    if session is None:
        return _to_login(request)
    require_admin(request)
    form = await _form(request)
    check_token(session.csrf, form.get("csrf"))
    return session, form


@router.post("/topics/{topic_id}/edit")
async def edit_topic(request: Request, topic_id: int) -> Response:
    """Rename (an empty name resets to the keywords), mark as noise or not, or merge."""
    checked = await _edit_session(request)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    action = form.get("action")
    with _db(request).transaction() as conn:
        if topics_store.get_topic(conn, session.tenant_id, topic_id) is None:
            raise ApiError(404, "not_found", "No such topic.")
        if action == "rename":
            label = form.get("label", "").strip()
            check_length("label", label, 200)
            topics_store.edit_topic(
                conn, session.tenant_id, topic_id, label=label or None, clear_label=not label
            )
        elif action in ("noise", "not_noise"):
            topics_store.edit_topic(conn, session.tenant_id, topic_id, is_noise=action == "noise")
        elif action == "merge":
            try:
                target = int(form.get("into", ""))
                topics_store.merge_topics(conn, session.tenant_id, topic_id, target)
            except (ValueError, LookupError, topics_store.MergeError) as exc:
                raise ApiError(422, "invalid_merge", "Choose another existing topic.") from exc
        elif action == "unmerge":
            topics_store.unmerge_topic(conn, session.tenant_id, topic_id)
        elif action == "move":
            # An empty choice takes the topic out of the theme it was put in.
            try:
                raw = form.get("theme", "")
                theme_id = int(raw) if raw else None
                themes_store.move_topic(conn, session.tenant_id, topic_id, theme_id)
            except (ValueError, LookupError) as exc:
                raise ApiError(422, "invalid_move", "Choose an existing theme.") from exc
        else:
            raise ApiError(422, "validation_error", "Unknown action.")
    return RedirectResponse(f"/dashboard/topics/{topic_id}", status_code=303)


@router.post("/themes/{theme_id}/edit")
async def edit_theme(request: Request, theme_id: int) -> Response:
    """Rename a theme (an empty name resets it to the one made from its topics)."""
    checked = await _edit_session(request)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    if form.get("action") != "rename":
        raise ApiError(422, "validation_error", "Unknown action.")
    label = form.get("label", "").strip()
    check_length("label", label, 200)
    with _db(request).transaction() as conn:
        if not themes_store.rename_theme(conn, session.tenant_id, theme_id, label or None):
            raise ApiError(404, "not_found", "No such theme.")
    return RedirectResponse(f"/dashboard/themes/{theme_id}", status_code=303)


@router.post("/refit")
async def refit(request: Request) -> Response:
    """Queue a refit of this tenant's topics."""
    checked = await _edit_session(request)
    if isinstance(checked, Response):
        return checked
    session, _ = checked
    if not enqueue_topic_refit(request.app.state.queue, session.tenant_id):
        raise ApiError(503, "queue_unavailable", "The task queue is not reachable; retry later.")
    return RedirectResponse("/dashboard/topics?refit=queued", status_code=303)


class ShellAuth:
    """The shell's login for pages built elsewhere (``build_router(auth)`` style).

    Other dashboard pages (the complaint inbox, signals) take who is logged in,
    where to send a visitor, and the CSRF/origin check of a form from here, so
    every page shares one session cookie and one login.
    """

    def session(self, request: Request) -> Session | None:
        """The logged-in session, or None."""
        return _session(request)

    def login_redirect(self, request: Request) -> Response:
        """Send a visitor without a session to the login page, and back afterwards."""
        return _to_login(request)

    def check_post(self, request: Request, session: SessionLike, form: dict[str, str]) -> None:
        """Raise 403 unless the form carries the session's CSRF token from our own origin."""
        check_origin(request)
        check_token(session.csrf, form.get("csrf"))
        require_admin(request)
