"""Webhook subscriptions."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from fastapi import APIRouter, Response

from api.auth import TenantDep
from api.deps import DbDep, SettingsDep
from api.errors import ApiError
from api.schemas import WebhookCreated, WebhookIn, WebhookOut
from langnghe.config import Settings
from store import webhooks as webhooks_store
from workers.events import EVENT_TYPES
from workers.ssrf import UnsafeTarget, guard_for

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def check_target(url: str, settings: Settings) -> None:
    """422 unless the URL is http(s) and its host is a target the SSRF guard allows."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(422, "invalid_url", "The URL must be an absolute http(s) URL.")
    try:
        guard_for(settings.webhook_allow_private, settings.webhook_allowed_networks).check_url(url)
    except UnsafeTarget as exc:
        raise ApiError(422, "unsafe_url", f"The URL is not an allowed target: {exc}.") from exc


def _check_subscription(body: WebhookIn, settings: Settings) -> None:
    check_target(body.url, settings)
    unknown = sorted(set(body.event_types) - {*EVENT_TYPES, "*"})
    if unknown:
        raise ApiError(
            422,
            "unknown_event_type",
            "Unknown event types.",
            {"unknown": unknown, "known": [*EVENT_TYPES, "*"]},
        )


@router.post("", status_code=201, response_model=WebhookCreated)
def create_webhook(
    body: WebhookIn, tenant: TenantDep, db: DbDep, settings: SettingsDep
) -> dict[str, Any]:
    """Subscribe a URL; the secret is returned this once."""
    _check_subscription(body, settings)
    secret = body.secret or secrets.token_urlsafe(32)
    with db.transaction() as conn:
        row = webhooks_store.create_subscription(
            conn, tenant.id, body.url, sorted(set(body.event_types)), secret, body.min_priority
        )
    return {**row, "secret": secret}


@router.get("", response_model=list[WebhookOut])
def list_webhooks(tenant: TenantDep, db: DbDep) -> list[dict[str, Any]]:
    """Your subscriptions."""
    with db.transaction() as conn:
        return webhooks_store.list_subscriptions(conn, tenant.id)


@router.delete("/{webhook_id}", status_code=204, responses={404: {"description": "Not found"}})
def delete_webhook(webhook_id: UUID, tenant: TenantDep, db: DbDep) -> Response:
    """Remove a subscription; undelivered events to it are dropped."""
    with db.transaction() as conn:
        deleted = webhooks_store.delete_subscription(conn, tenant.id, webhook_id)
    if not deleted:
        raise ApiError(404, "not_found", "No webhook with this id.")
    return Response(status_code=204)
