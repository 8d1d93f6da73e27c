"""What every dashboard page module shares: the templates, the session it is given, reading a
posted form (with the shell's checks), rendering a page, and the form-error message.

Each domain's pages (inbox, taxonomy, notifications, connectors, customers) live in their
own module and build their router on a :class:`DashboardAuth`; they read forms and render
through here, so every form is decoded and length-checked the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from api.dashboard import i18n
from api.dashboard.charts import sparkline
from api.dashboard.session import read_form
from store.db import Database

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.globals["sparkline"] = sparkline
i18n.install(templates.env)


class SessionLike(Protocol):
    """What the pages read from the shell's session."""

    @property
    def tenant_id(self) -> UUID: ...

    @property
    def tenant_name(self) -> str: ...

    @property
    def csrf(self) -> str: ...


class DashboardAuth(Protocol):
    """The shell's login, as the pages need it."""

    def session(self, request: Request) -> SessionLike | None:
        """The logged-in session, or None."""
        ...

    def login_redirect(self, request: Request) -> Response:
        """Where to send a visitor without a session."""
        ...

    def check_post(self, request: Request, session: SessionLike, form: dict[str, str]) -> None:
        """Raise (403) unless the form carries the session's CSRF token from our own origin."""
        ...


def database(request: Request) -> Database:
    """The app's database."""
    db: Database = request.app.state.db
    return db


async def form_of(request: Request) -> dict[str, str]:
    """The posted form, decoded and checked as every dashboard form is (UTF-8, no NUL)."""
    return read_form(await request.body())


def page(request: Request, name: str, session: SessionLike, **context: Any) -> HTMLResponse:
    """Render template ``name`` for the session (its CSRF token included)."""
    return templates.TemplateResponse(
        request, name, {"session": session, "csrf": session.csrf, **context}
    )


async def read_post(
    auth: DashboardAuth, request: Request
) -> tuple[SessionLike, dict[str, str]] | Response:
    """The session and the checked form of a POST, or the login redirect without a session."""
    session = auth.session(request)
    if session is None:
        return auth.login_redirect(request)
    form = await form_of(request)
    auth.check_post(request, session, form)
    return session, form


def invalid_message(exc: ValidationError) -> str:
    """A form's validation errors in one line: ``field: message; ...``."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
