"""Dashboard page: the tenant's notification channels, a test-send button on each.

Like the other pages (api/dashboard/taxonomy.py), it uses the shell's login and CSRF
check through ``build_router(auth)``, and every change goes through the same service
as the JSON API (api.notifications.service), so the same checks and errors apply.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from api.dashboard.i18n import tr
from api.dashboard.pages import DashboardAuth, read_post
from api.dashboard.pages import database as _db
from api.dashboard.pages import invalid_message as _invalid
from api.dashboard.pages import page as _page
from api.errors import ApiError
from api.notifications import service
from api.notifications.schemas import ChannelIn
from langnghe.config import Settings
from store import notifications as notifications_store
from workers.notifications import NOTIFIABLE

PAGE = "/dashboard/notifications"


def _back(**query: str) -> RedirectResponse:
    shown = {k: v[:300] for k, v in query.items() if v}
    return RedirectResponse(PAGE + ("?" + urlencode(shown) if shown else ""), status_code=303)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _split(value: str) -> list[str] | None:
    parts = [p.strip() for p in value.replace("\n", ",").split(",") if p.strip()]
    return parts or None


def channel_from_form(form: dict[str, str]) -> ChannelIn:
    """The API's ChannelIn from the add-channel form (ValidationError on bad input).

    Each event type is its own checkbox, ``event:<type>``.
    """
    event_types = [t for t in NOTIFIABLE if form.get(f"event:{t}")]
    body: dict[str, Any] = {
        "kind": form.get("kind", ""),
        "name": form.get("name", "").strip(),
        "language": form.get("language", "en"),
        "event_types": event_types,
        "min_priority": form.get("min_priority") or None,
        "categories": _split(form.get("categories", "")),
        "languages": _split(form.get("languages", "")),
        "max_per_minute": form.get("max_per_minute") or 6,
        "digest": form.get("digest") or None,
        "digest_hour": form.get("digest_hour") or 8,
    }
    if form.get("quiet_start") or form.get("quiet_end"):
        body["quiet_hours"] = {"start": form.get("quiet_start"), "end": form.get("quiet_end")}
    if body["kind"] == "email":
        body["smtp"] = {
            "host": form.get("smtp_host", "").strip(),
            "port": form.get("smtp_port") or 587,
            "security": form.get("smtp_security", "starttls"),
            "username": form.get("smtp_username") or None,
            "password": form.get("smtp_password") or None,
            "from_address": form.get("smtp_from", "").strip(),
            "to": _split(form.get("smtp_to", "")) or [],
        }
    else:
        body["webhook_url"] = form.get("webhook_url", "").strip() or None
    return ChannelIn.model_validate(body)


def build_router(auth: DashboardAuth) -> APIRouter:
    """The notifications page and its forms behind the given login."""
    router = APIRouter(prefix="/dashboard", include_in_schema=False)

    @router.get("/notifications", response_class=HTMLResponse)
    def notifications_page(request: Request, error: str = "", result: str = "") -> Response:
        """The channels, their routing, a test-send button each, and the add form."""
        session = auth.session(request)
        if session is None:
            return auth.login_redirect(request)
        with _db(request).transaction() as conn:
            channels = [
                service.channel_out(r)
                for r in notifications_store.list_channels(conn, session.tenant_id)
            ]
            zone = notifications_store.get_time_zone(conn, session.tenant_id)
        return _page(
            request,
            "notifications.html",
            session,
            channels=channels,
            time_zone=zone,
            event_types=NOTIFIABLE,
            error=error[:300],
            result=result[:300],
        )

    @router.post("/notifications")
    async def add_channel(request: Request) -> Response:
        """Add a channel from the form."""
        posted = await read_post(auth, request)
        if isinstance(posted, Response):
            return posted
        session, form = posted
        try:
            body = channel_from_form(form)
            fields = service.create_fields(body, _settings(request))
        except ValidationError as exc:
            return _back(error=_invalid(exc))
        except ApiError as exc:
            return _back(error=exc.message)
        with _db(request).transaction() as conn:
            notifications_store.create_channel(conn, session.tenant_id, fields)
        return _back(result=tr(request, "Added %(name)s.") % {"name": body.name})

    @router.post("/notifications/{channel_id}/test")
    async def test_channel(request: Request, channel_id: UUID) -> Response:
        """Send the test message and show how it went."""
        posted = await read_post(auth, request)
        if isinstance(posted, Response):
            return posted
        session, _ = posted
        outcome = await run_in_threadpool(
            service.test_send, _db(request), _settings(request), session.tenant_id, channel_id
        )
        if outcome.error is None:
            return _back(
                result=tr(request, "Test message sent (answer %(status)s).")
                % {"status": outcome.status}
            )
        return _back(error=tr(request, "Test message failed: %(error)s") % {"error": outcome.error})

    @router.post("/notifications/{channel_id}/delete")
    async def delete_channel(request: Request, channel_id: UUID) -> Response:
        """Remove a channel."""
        posted = await read_post(auth, request)
        if isinstance(posted, Response):
            return posted
        session, _ = posted
        with _db(request).transaction() as conn:
            notifications_store.delete_channel(conn, session.tenant_id, channel_id)
        return _back(result=tr(request, "Channel removed."))

    @router.post("/notifications/time-zone")
    async def set_time_zone(request: Request) -> Response:
        """Set the tenant's time zone (quiet hours are read in it)."""
        posted = await read_post(auth, request)
        if isinstance(posted, Response):
            return posted
        session, form = posted
        try:
            zone = service.check_time_zone(form.get("time_zone", "").strip())
        except ApiError as exc:
            return _back(error=exc.message)
        with _db(request).transaction() as conn:
            notifications_store.set_time_zone(conn, session.tenant_id, zone)
        return _back(result=tr(request, "Time zone set to %(zone)s.") % {"zone": zone})

    return router
