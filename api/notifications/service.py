"""Notification channels: checking, encrypting and showing them; the test-send."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from api.errors import ApiError
from api.notifications.schemas import ChannelIn, ChannelPatch, SmtpIn
from api.routes.webhooks import check_target
from langnghe.config import Settings
from langnghe.secrets import SecretBox, SecretKeyMissing, mask
from store import notifications as notifications_store
from store.db import Database
from workers.notifications import Notifier, test_alert
from workers.ssrf import UnsafeTarget, guard_for
from workers.webhook_http import Attempt, Outcome, delivery_client


def _box(settings: Settings) -> SecretBox:
    try:
        return SecretBox(settings.secret_key)
    except SecretKeyMissing as exc:
        # The operator's setting, named: the client cannot store a secret until it is set.
        raise ApiError(422, "secret_key_missing", str(exc)) from exc


def _secret_fields(secret: str, settings: Settings) -> dict[str, Any]:
    return {"secret_enc": _box(settings).encrypt(secret), "secret_hint": mask(secret)}


def _smtp_fields(smtp: SmtpIn, settings: Settings) -> dict[str, Any]:
    if smtp.username and smtp.security == "none":
        raise ApiError(
            422, "insecure_smtp", "Credentials are sent only over TLS: use starttls or tls."
        )
    if not ((smtp.username or "").isascii() and (smtp.password or "").isascii()):
        # Python's smtplib sends AUTH credentials as ASCII only.
        raise ApiError(422, "invalid_credentials", "The SMTP username and password must be ASCII.")
    try:
        guard_for(settings.webhook_allow_private, settings.webhook_allowed_networks).check_host(
            smtp.host, smtp.port
        )
    except UnsafeTarget as exc:
        message = f"The SMTP host is not an allowed target: {exc}."
        raise ApiError(422, "unsafe_host", message) from exc
    fields: dict[str, Any] = {"config": smtp.model_dump(exclude={"password"})}
    if smtp.password:
        fields.update(_secret_fields(smtp.password, settings))
    return fields


def _target_fields(
    kind: str, url: str | None, smtp: SmtpIn | None, settings: Settings
) -> dict[str, Any]:
    if kind == "email":
        if smtp is None or url is not None:
            raise ApiError(422, "invalid_channel", "An e-mail channel takes smtp, not webhook_url.")
        return _smtp_fields(smtp, settings)
    if url is None or smtp is not None:
        raise ApiError(422, "invalid_channel", f"A {kind} channel takes webhook_url, not smtp.")
    check_target(url, settings)
    return _secret_fields(url, settings)


def _routing(values: dict[str, Any]) -> dict[str, Any]:
    """Routing as columns: quiet hours become their two columns."""
    fields = {k: v for k, v in values.items() if k != "quiet_hours"}
    if "quiet_hours" in values:
        quiet = values["quiet_hours"]
        fields["quiet_start"] = quiet["start"] if quiet else None
        fields["quiet_end"] = quiet["end"] if quiet else None
    if fields.get("categories"):
        fields["categories"] = sorted(set(fields["categories"]))
    for listed in ("event_types", "digest_audiences"):
        if fields.get(listed):
            fields[listed] = sorted(set(fields[listed]))
    if fields.get("digest"):
        # The first digest goes out at the next slot, not at once for a slot already past.
        fields["digest_last_at"] = datetime.now(UTC)
    return fields


def create_fields(body: ChannelIn, settings: Settings) -> dict[str, Any]:
    """The columns of a new channel, its secret encrypted; 422 on a bad or unsafe target."""
    fields = _target_fields(body.kind, body.webhook_url, body.smtp, settings)
    fields.update(_routing(body.model_dump(exclude={"webhook_url", "smtp"})))
    return fields


def patch_fields(body: ChannelPatch, kind: str, settings: Settings) -> dict[str, Any]:
    """The columns a patch changes; a new URL or SMTP server is checked like at creation."""
    given = body.model_dump(include=body.model_fields_set)
    fields: dict[str, Any] = {}
    if "webhook_url" in given or "smtp" in given:
        if kind == "email":
            fields = _target_fields(kind, None, body.smtp, settings)
        else:
            fields = _target_fields(kind, body.webhook_url, None, settings)
    for required in (
        "name",
        "language",
        "enabled",
        "event_types",
        "max_per_minute",
        "digest_hour",
        "digest_audiences",
    ):
        if required in given and given[required] is None:
            raise ApiError(422, "invalid_channel", f"{required} cannot be null.")
    fields.update(_routing({k: v for k, v in given.items() if k not in ("webhook_url", "smtp")}))
    return fields


def channel_out(row: dict[str, Any]) -> dict[str, Any]:
    """A stored channel as the API shows it."""
    quiet = {"start": row["quiet_start"], "end": row["quiet_end"]} if row["quiet_start"] else None
    smtp = row["config"] if row["kind"] == "email" else None
    return {**row, "smtp": smtp, "quiet_hours": quiet}


def check_time_zone(name: str) -> str:
    """The IANA zone name if Python's zone database knows it; 422 otherwise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ApiError(
            422, "unknown_time_zone", f"{name!r} is not an IANA time zone (e.g. Asia/Ho_Chi_Minh)."
        ) from exc
    return name


def test_send(db: Database, settings: Settings, tenant_id: UUID, channel_id: UUID) -> Outcome:
    """Send the test message to a channel now, as its deliveries are sent; 404 if unknown."""
    with db.transaction() as conn:
        if notifications_store.get_channel(conn, tenant_id, channel_id) is None:
            raise ApiError(404, "not_found", "No notification channel with this id.")
        channel = notifications_store.channel_for_sending(conn, channel_id)
    assert channel is not None
    notifier = Notifier.from_settings(settings)
    attempt = Attempt()
    guard = guard_for(settings.webhook_allow_private, settings.webhook_allowed_networks)
    with delivery_client(attempt, settings.delivery_timeout_s) as client:
        return notifier.send(
            client,
            attempt,
            channel,
            [test_alert(channel["language"])],
            settings.delivery_timeout_s,
            guard,
        )
