"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import Scope

from api.audit import routes as audit_routes
from api.audit.service import install_audit
from api.connectors import routes as connectors_routes
from api.corrections import routes as corrections_routes
from api.customers import routes as customers_routes
from api.dashboard import connectors as connector_pages
from api.dashboard import customers as customer_pages
from api.dashboard import inbox
from api.dashboard import notifications as notification_pages
from api.dashboard import taxonomy as taxonomy_pages
from api.dashboard.router import ShellAuth
from api.dashboard.router import router as dashboard_router
from api.errors import ErrorBody, install_error_handlers
from api.keys import routes as keys_routes
from api.metrics import build_registry
from api.middleware import BodyLimit, RequestContext, SecurityHeaders
from api.notifications import routes as notifications_routes
from api.privacy import routes as privacy_routes
from api.routes import (
    complaints,
    deliveries,
    events,
    feedback,
    health,
    signals,
    themes,
    topics,
    webhooks,
)
from api.schemas import FeedbackBatchIn, FeedbackIn
from api.taxonomy import routes as taxonomy_routes
from langnghe import __version__
from langnghe.config import Settings
from store.db import Database
from workers.celery_app import create_celery


def body_limit(scope: Scope, settings: Settings) -> int:
    """The body limit of a request: feedback batches may be large, everything else is small.

    Bodies other than feedback are parsed by FastAPI on the event loop, so a small limit
    also bounds the time one request can hold it.
    """
    if scope.get("method") == "POST" and scope.get("path") == "/v1/feedback":
        return settings.max_request_bytes
    return min(settings.max_request_bytes, settings.max_other_request_bytes)


def complete_openapi(app: FastAPI) -> None:
    """Publish a schema whose every reference resolves and every 401 is documented.

    ``POST /v1/feedback`` reads its body itself (one item or a batch, parsed off the event
    loop), so FastAPI does not add those models to the components: they are added here,
    with the error shape that the 401s (and every other error) point to.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (FeedbackIn, FeedbackBatchIn, ErrorBody):
            model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in model_schema.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components.setdefault(model.__name__, model_schema)
        unauthorised = {
            "description": "Missing or invalid API key",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        }
        for path_item in schema["paths"].values():
            for operation in path_item.values():
                if operation.get("security"):
                    operation.setdefault("responses", {}).setdefault("401", unauthorised)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def app_from_environment() -> FastAPI:
    """:func:`create_app` over settings read from the environment: what each process of
    ``langnghe api --workers N`` builds (uvicorn imports it as a factory in every worker)."""
    from langnghe.logs import configure_logging

    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings)


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
    # Middleware added later runs earlier. The body limit sits inside the audit middleware:
    # Starlette's BaseHTTPMiddleware reads the body through a task group, which would wrap
    # the limit's exception; from here every route still sees it before reading a byte.
    app.add_middleware(BodyLimit, limit_for=lambda scope: body_limit(scope, settings))
    install_audit(app)
    # The request id wraps everything.
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestContext)

    for router in (
        health.router,
        feedback.router,
        events.router,
        webhooks.router,
        topics.router,
        topics.reports_router,
        themes.router,
        themes.topic_theme_router,
        dashboard_router,
    ):
        app.include_router(router)
    app.include_router(complaints.router)
    app.include_router(deliveries.router)
    app.include_router(signals.router)
    app.include_router(customers_routes.interactions_router)
    app.include_router(customers_routes.router)
    app.include_router(taxonomy_routes.router)
    app.include_router(corrections_routes.router)
    app.include_router(corrections_routes.models_router)
    # Before the inbox: its /inbox/{id}/{action} would otherwise take /inbox/{id}/correct.
    app.include_router(taxonomy_pages.build_router(ShellAuth()))
    app.include_router(connector_pages.build_router(ShellAuth()))
    # The inbox and signals pages, behind the shell's login, session and CSRF check.
    app.include_router(inbox.build_router(ShellAuth()))
    app.include_router(notification_pages.build_router(ShellAuth()))
    app.include_router(customer_pages.build_router(ShellAuth()))
    app.include_router(keys_routes.router)
    app.include_router(notifications_routes.router)
    app.include_router(audit_routes.router)
    app.include_router(privacy_routes.router)
    app.include_router(connectors_routes.router)
    complete_openapi(app)
    return app
