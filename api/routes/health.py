"""Liveness, readiness and metrics."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import DbDep, SettingsDep
from api.errors import ApiError
from api.metrics import render
from store.migrate import pending_migrations

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready"}})
def readyz(db: DbDep) -> dict[str, Any]:
    """The database answers and every migration is applied."""
    try:
        db.ping()
        pending = pending_migrations(db.url)
    except Exception as exc:
        raise ApiError(503, "not_ready", "The database is not reachable.") from exc
    if pending:
        raise ApiError(503, "not_ready", "Migrations are pending.", {"pending": pending})
    return {"status": "ready", "database": "ok", "migrations": "current"}


@router.get(
    "/metrics",
    response_class=Response,
    responses={401: {"description": "LANGNGHE_METRICS_TOKEN is set and was not sent"}},
)
async def metrics(request: Request, settings: SettingsDep) -> Response:
    """Prometheus metrics (figures over every tenant: keep them to the operator)."""
    if not settings.metrics_enabled:
        raise ApiError(404, "not_found", "No such resource.")
    if settings.metrics_token:
        sent = request.headers.get("authorization", "")
        expected = f"Bearer {settings.metrics_token}"
        if not hmac.compare_digest(sent.encode(), expected.encode()):
            raise ApiError(
                401,
                "invalid_metrics_token",
                "Send 'Authorization: Bearer <LANGNGHE_METRICS_TOKEN>'.",
                headers={"WWW-Authenticate": "Bearer"},
            )
    body = await run_in_threadpool(render, request.app.state.metrics)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)
