"""Notification channels (Slack, Teams, e-mail): CRUD, test-send, delivery log, time zone."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response

from api.auth import TenantDep
from api.deps import DbDep, SettingsDep
from api.errors import ApiError
from api.notifications import service
from api.notifications.schemas import (
    ChannelIn,
    ChannelOut,
    ChannelPatch,
    NotificationSettings,
    TestSendOut,
)
from api.routes.deliveries import DeliveryPage, DeliveryQueryDep, delivery_page
from store import notifications as notifications_store
from store import webhooks as webhooks_store

router = APIRouter(prefix="/v1/notifications", tags=["notifications"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Not found"}}
_NO_CHANNEL = "No notification channel with this id."


@router.post("/channels", status_code=201, response_model=ChannelOut)
def create_channel(
    body: ChannelIn, tenant: TenantDep, db: DbDep, settings: SettingsDep
) -> dict[str, Any]:
    """Add a channel; its webhook URL or SMTP password is stored encrypted, never shown."""
    fields = service.create_fields(body, settings)
    with db.transaction() as conn:
        row = notifications_store.create_channel(conn, tenant.id, fields)
    return service.channel_out(row)


@router.get("/channels", response_model=list[ChannelOut])
def list_channels(tenant: TenantDep, db: DbDep) -> list[dict[str, Any]]:
    """Your channels, oldest first."""
    with db.transaction() as conn:
        rows = notifications_store.list_channels(conn, tenant.id)
    return [service.channel_out(r) for r in rows]


@router.get("/channels/{channel_id}", response_model=ChannelOut, responses=_NOT_FOUND)
def get_channel(channel_id: UUID, tenant: TenantDep, db: DbDep) -> dict[str, Any]:
    """One channel."""
    with db.transaction() as conn:
        row = notifications_store.get_channel(conn, tenant.id, channel_id)
    if row is None:
        raise ApiError(404, "not_found", _NO_CHANNEL)
    return service.channel_out(row)


@router.patch("/channels/{channel_id}", response_model=ChannelOut, responses=_NOT_FOUND)
def update_channel(
    channel_id: UUID, body: ChannelPatch, tenant: TenantDep, db: DbDep, settings: SettingsDep
) -> dict[str, Any]:
    """Change a channel's routing, language, name, or target (checked as at creation)."""
    with db.transaction() as conn:
        row = notifications_store.get_channel(conn, tenant.id, channel_id)
        if row is None:
            raise ApiError(404, "not_found", _NO_CHANNEL)
        fields = service.patch_fields(body, row["kind"], settings)
        row = notifications_store.update_channel(conn, tenant.id, channel_id, fields)
    assert row is not None
    return service.channel_out(row)


@router.delete("/channels/{channel_id}", status_code=204, responses=_NOT_FOUND)
def delete_channel(channel_id: UUID, tenant: TenantDep, db: DbDep) -> Response:
    """Remove a channel; its undelivered messages are dropped."""
    with db.transaction() as conn:
        deleted = notifications_store.delete_channel(conn, tenant.id, channel_id)
    if not deleted:
        raise ApiError(404, "not_found", _NO_CHANNEL)
    return Response(status_code=204)


@router.post("/channels/{channel_id}/test", response_model=TestSendOut, responses=_NOT_FOUND)
def test_channel(
    channel_id: UUID, tenant: TenantDep, db: DbDep, settings: SettingsDep
) -> TestSendOut:
    """Send a test message now and say how it went (200 either way: see ``ok``)."""
    outcome = service.test_send(db, settings, tenant.id, channel_id)
    return TestSendOut(ok=outcome.error is None, status_code=outcome.status, error=outcome.error)


@router.get(
    "/channels/{channel_id}/deliveries",
    response_model=DeliveryPage,
    responses={**_NOT_FOUND, 400: {"description": "Bad cursor"}},
)
def list_deliveries(
    channel_id: UUID, tenant: TenantDep, db: DbDep, query: DeliveryQueryDep
) -> DeliveryPage:
    """The channel's delivery log, newest first (replay one with /v1/deliveries/{id}/replay)."""
    with db.transaction() as conn:
        if notifications_store.get_channel(conn, tenant.id, channel_id) is None:
            raise ApiError(404, "not_found", _NO_CHANNEL)
        rows = webhooks_store.list_deliveries(
            conn, tenant.id, None, query.status, query.limit, query.before, channel_id=channel_id
        )
    return delivery_page(rows, query.limit)


@router.get("/settings", response_model=NotificationSettings)
def get_settings(tenant: TenantDep, db: DbDep) -> NotificationSettings:
    """The tenant's time zone, in which quiet hours are read."""
    with db.transaction() as conn:
        return NotificationSettings(time_zone=notifications_store.get_time_zone(conn, tenant.id))


@router.put("/settings", response_model=NotificationSettings)
def put_settings(body: NotificationSettings, tenant: TenantDep, db: DbDep) -> NotificationSettings:
    """Set the tenant's time zone (an IANA name such as Asia/Ho_Chi_Minh)."""
    zone = service.check_time_zone(body.time_zone)
    with db.transaction() as conn:
        notifications_store.set_time_zone(conn, tenant.id, zone)
    return NotificationSettings(time_zone=zone)
