"""Webhook subscriptions."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from fastapi import APIRouter, Response

from api.auth import TenantDep
from api.deps import DbDep
from api.errors import ApiError
from api.schemas import WebhookCreated, WebhookIn, WebhookOut
from store import webhooks as webhooks_store
from workers.events import EVENT_TYPES

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def _check_subscription(body: WebhookIn) -> None:
    parts = urlsplit(body.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(422, "invalid_url", "The URL must be an absolute http(s) URL.")
    unknown = sorted(set(body.event_types) - {*EVENT_TYPES, "*"})
    if unknown:
        raise ApiError(
            422,
            "unknown_event_type",
            "Unknown event types.",
            {"unknown": unknown, "known": [*EVENT_TYPES, "*"]},
        )


@router.post("", status_code=201, response_model=WebhookCreated)
def create_webhook(body: WebhookIn, tenant: TenantDep, db: DbDep) -> dict[str, Any]:
    """Subscribe a URL; the secret is returned this once."""
    _check_subscription(body)
    secret = body.secret or secrets.token_urlsafe(32)
    with db.transaction() as conn:
        row = webhooks_store.create_subscription(
            conn, tenant.id, body.url, sorted(set(body.event_types)), secret
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
