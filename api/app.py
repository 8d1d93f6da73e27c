"""The FastAPI application factory."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from api.corrections import routes as corrections_routes
from api.dashboard import inbox
from api.dashboard import taxonomy as taxonomy_pages
from api.dashboard.router import ShellAuth
from api.dashboard.router import router as dashboard_router
from api.errors import error_response, install_error_handlers
from api.metrics import build_registry
from api.routes import (
    complaints,
    deliveries,
    events,
    feedback,
    health,
    signals,
    topics,
    webhooks,
)
from api.taxonomy import routes as taxonomy_routes
from langnghe import __version__
from langnghe.config import Settings
from langnghe.logs import request_id_var
from store.db import Database
from workers.celery_app import create_celery

log = logging.getLogger("langnghe.api")


def create_app(settings: Settings) -> FastAPI:
    """Build the API for these settings; the database pool opens at startup."""
    if not settings.database_url:
        raise RuntimeError("LANGNGHE_DATABASE_URL must be set for the API")
    db = Database(settings.database_url, settings.db_pool_min, settings.db_pool_max)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        db.open()
        try:
            yield
        finally:
            db.close()

    app = FastAPI(
        title="langnghe",
        version=__version__,
        description="Customer feedback analytics for Vietnamese and English.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.queue = create_celery(settings)
    app.state.metrics = build_registry(db)
    install_error_handlers(app)

    @app.middleware("http")
    async def request_context(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        token = request_id_var.set(request_id[:100])
        started = time.perf_counter()
        try:
            length = request.headers.get("content-length")
            if length and length.isdigit() and int(length) > settings.max_request_bytes:
                response: Response = error_response(
                    413, "request_too_large", "The request body is too large."
                )
            else:
                response = await call_next(request)
            response.headers["X-Request-Id"] = request_id[:100]
            log.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.url.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            return response
        finally:
            request_id_var.reset(token)

    for router in (
        health.router,
        feedback.router,
        events.router,
        webhooks.router,
        topics.router,
        topics.reports_router,
        dashboard_router,
    ):
        app.include_router(router)
    app.include_router(complaints.router)
    app.include_router(deliveries.router)
    app.include_router(signals.router)
    app.include_router(taxonomy_routes.router)
    app.include_router(corrections_routes.router)
    app.include_router(corrections_routes.models_router)
    # Before the inbox: its /inbox/{id}/{action} would otherwise take /inbox/{id}/correct.
    app.include_router(taxonomy_pages.build_router(ShellAuth()))
    # The inbox and signals pages, behind the shell's login, session and CSRF check.
    app.include_router(inbox.build_router(ShellAuth()))
    return app
