"""Creating connectors (credentials encrypted), running them now, and help-desk status back."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from celery import Celery

from api import complaints_service
from api.connectors.schemas import SECRET_FIELDS, ConnectorIn, ConnectorOut
from api.errors import ApiError
from langnghe.config import Settings
from langnghe.secrets import SecretBox, SecretKeyMissing, SecretUnreadable, mask
from store import complaints as complaints_store
from store import connectors as connectors_store
from store import helpdesk as helpdesk_store
from store.db import Database
from workers.connectors import PullContext, folder_path, open_secrets, run_connector
from workers.ssrf import UnsafeTarget, guard_for

ZENDESK_SIGNATURE = "X-Zendesk-Webhook-Signature"
ZENDESK_TIMESTAMP = "X-Zendesk-Webhook-Signature-Timestamp"
FRESHDESK_TOKEN = "X-Langnghe-Webhook-Token"
RESOLUTION_CODE = "helpdesk_solved"
REPLAY_WINDOW_S = 3600

# A ticket status that means the customer's issue is settled, or open again.
_SOLVED = {"solved", "closed", "resolved", "4", "5"}
_OPEN = {"new", "open", "pending", "hold", "2", "3"}


def to_out(row: dict[str, Any]) -> ConnectorOut:
    """The API view of a stored connector."""
    helpdesk = row["kind"] in connectors_store.HELPDESK_KINDS
    return ConnectorOut(
        **{k: v for k, v in row.items() if k not in ("secret_hints", "tickets")},
        secrets=row["secret_hints"],
        tickets=row["tickets"] if helpdesk else None,
        webhook_path=f"/v1/connectors/{row['id']}/webhook" if helpdesk else None,
    )


def _check_target(settings: Settings, body: ConnectorIn) -> None:
    guard = guard_for(settings.webhook_allow_private, settings.webhook_allowed_networks)
    config = body.config
    try:
        if body.kind == "imap":
            # The webhook guard's address rules, so a mailbox cannot reach into our network.
            guard.check_url(f"https://{body.config.host}:{body.config.port}/")
        elif body.kind in connectors_store.HELPDESK_KINDS:
            guard.check_url(str(getattr(config, "base_url", "")))
    except UnsafeTarget as exc:
        raise ApiError(422, "unsafe_target", str(exc)) from exc
    if body.kind == "folder":
        if settings.connector_folder_root is None:
            raise ApiError(
                409,
                "folder_root_missing",
                "LANGNGHE_CONNECTOR_FOLDER_ROOT is not set: drop-folder connectors read only "
                "under that directory; set it for the API and the workers.",
            )
        try:
            path = folder_path(settings.connector_folder_root, body.config.path)
        except ValueError as exc:
            raise ApiError(422, "invalid_folder", str(exc)) from exc
        try:
            exists = path.is_dir()
        except OSError:  # a name too long for the file system, say
            exists = False
        if not exists:
            raise ApiError(422, "invalid_folder", "The folder does not exist.")


def create(db: Database, settings: Settings, tenant_id: UUID, body: ConnectorIn) -> ConnectorOut:
    """Store a connector; its credentials encrypted, answered only as masked tails.

    A connector with credentials needs LANGNGHE_SECRET_KEY: without it the answer is a
    409 ``secret_key_missing`` naming the setting, and nothing is stored.
    """
    _check_target(settings, body)
    fields = SECRET_FIELDS[body.kind]
    config = body.config.model_dump(mode="json", exclude=set(fields))
    secrets = {f: str(getattr(body.config, f)) for f in fields}
    token: str | None = None
    if secrets:
        try:
            box = SecretBox(settings.secret_key)
        except SecretKeyMissing as exc:
            raise ApiError(409, "secret_key_missing", str(exc) + ".") from exc
        token = box.encrypt(json.dumps(secrets))
    hints = {f: mask(v) for f, v in secrets.items()}
    try:
        with db.transaction() as conn:
            row = connectors_store.create_connector(
                conn, tenant_id, body.kind, body.name, config, token, hints, body.interval_s
            )
    except psycopg.errors.UniqueViolation as exc:
        raise ApiError(409, "name_taken", "A connector with this name exists.") from exc
    return to_out(row)


def run_now(
    db: Database, settings: Settings, queue: Celery, tenant_id: UUID, connector_id: UUID
) -> dict[str, Any]:
    """Run a pull connector at once and answer its run; 409 while it is running."""
    with db.transaction() as conn:
        claimed = connectors_store.claim_one(conn, tenant_id, connector_id, lease_s=900)
        row = None if claimed else connectors_store.get_connector(conn, tenant_id, connector_id)
    if claimed is None:
        if row is None:
            raise ApiError(404, "not_found", "No connector with this id.")
        if row["kind"] not in connectors_store.PULL_KINDS and not row["config"].get("pull"):
            raise ApiError(
                409,
                "not_pullable",
                "This help-desk connector creates tickets and pulls nothing: its pull is off.",
            )
        raise ApiError(409, "already_running", "The connector is running now.")
    run = run_connector(PullContext(db, settings, queue), claimed)
    if run is None:
        raise ApiError(404, "not_found", "The connector was deleted while it ran.")
    return run


def _fresh(timestamp: str) -> bool:
    """Whether a signature timestamp (ISO 8601) is within REPLAY_WINDOW_S of now.

    An old, genuinely signed "solved" replayed after the ticket was reopened would
    resolve the complaint again; the window is wide enough for Zendesk's own retries.
    """
    try:
        signed = datetime.fromisoformat(timestamp)
    except ValueError:
        return False
    if signed.tzinfo is None:
        return False
    return abs((datetime.now(UTC) - signed).total_seconds()) <= REPLAY_WINDOW_S


def signature_ok(kind: str, secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """Whether a status webhook is genuine.

    Zendesk signs: base64(HMAC-SHA256(secret, timestamp + body)) in
    X-Zendesk-Webhook-Signature, the timestamp in X-Zendesk-Webhook-Signature-Timestamp
    (which must be within an hour of now).
    Freshdesk's automation webhooks cannot sign; they send the token chosen at creation
    in a custom header, X-Langnghe-Webhook-Token.
    """
    if kind == "zendesk":
        given = headers.get(ZENDESK_SIGNATURE, "")
        timestamp = headers.get(ZENDESK_TIMESTAMP, "")
        if not given or not timestamp or not _fresh(timestamp):
            return False
        digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
        return hmac.compare_digest(base64.b64encode(digest).decode("ascii"), given)
    return hmac.compare_digest(headers.get(FRESHDESK_TOKEN, "").encode(), secret.encode())


def ticket_status(kind: str, payload: Any) -> tuple[str, str]:
    """(ticket id, status) from a status webhook's JSON, or a 422.

    Zendesk: an event webhook (``detail.id``, ``event.current``) or a trigger whose body is
    ``{"ticket_id": "{{ticket.id}}", "status": "{{ticket.status}}"}``. Freshdesk: the
    automation rule's ``{"freshdesk_webhook": {"ticket_id": ..., "ticket_status": ...}}``
    or the same flat form.
    """
    if not isinstance(payload, dict):
        payload = {}
    ticket_id: Any = None
    status: Any = None
    if kind == "zendesk" and isinstance(payload.get("detail"), dict):
        detail = payload["detail"]
        event = payload.get("event") if isinstance(payload.get("event"), dict) else {}
        ticket_id, status = detail.get("id"), (event or {}).get("current") or detail.get("status")
    elif kind == "freshdesk" and isinstance(payload.get("freshdesk_webhook"), dict):
        inner = payload["freshdesk_webhook"]
        ticket_id, status = inner.get("ticket_id"), inner.get("ticket_status")
    else:
        ticket_id, status = payload.get("ticket_id"), payload.get("status")
    if ticket_id in (None, "") or status in (None, ""):
        raise ApiError(422, "validation_error", "The webhook names no ticket id and status.", None)
    return str(ticket_id), str(status).strip().lower()


def receive_status(
    db: Database, settings: Settings, connector_id: UUID, headers: Mapping[str, str], body: bytes
) -> dict[str, Any]:
    """Apply a help desk's status webhook: a solved ticket resolves its complaint.

    A ticket opened again reopens a resolved complaint. A status that changes nothing
    (already resolved, say, when the help desk repeats itself) is answered 200 with no
    action, so the help desk does not retry it.
    """
    with db.transaction() as conn:
        connector = connectors_store.get_helpdesk(conn, connector_id)
    if connector is None:
        raise ApiError(404, "not_found", "No help-desk connector with this id.")
    try:
        secret = open_secrets(settings, connector.secrets)["webhook_secret"]
    except (SecretKeyMissing, SecretUnreadable) as exc:
        raise ApiError(503, "secret_unavailable", str(exc)) from exc
    if not signature_ok(connector.kind, secret, headers, body):
        raise ApiError(401, "invalid_signature", "The webhook's signature does not match.")
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ApiError(400, "invalid_json", "The body is not valid JSON.") from exc
    ticket_id, status = ticket_status(connector.kind, payload)
    with db.transaction() as conn:
        link = helpdesk_store.find_by_ticket(conn, connector.id, ticket_id)
        if link is None:
            raise ApiError(404, "unknown_ticket", "No complaint has this ticket.")
        helpdesk_store.set_ticket_status(conn, link["complaint_id"], status)
        complaint = complaints_store.get_complaint(conn, link["tenant_id"], link["complaint_id"])
    assert complaint is not None
    action: str | None = None
    if status in _SOLVED and complaint["status"] != "resolved":
        action = "resolve"
    elif status in _OPEN and complaint["status"] == "resolved":
        action = "reopen"
    if action is not None:
        try:
            complaints_service.act(
                db,
                link["tenant_id"],
                link["complaint_id"],
                "resolve" if action == "resolve" else "reopen",
                actor=connector.kind,
                note=f"{connector.kind} ticket {ticket_id} is {status}",
                params={"resolution_code": RESOLUTION_CODE} if action == "resolve" else {},
                by={"kind": "connector", "connector_id": str(connector.id)},
                redact_pii=settings.pii_redaction,
            )
        except ApiError as exc:
            if exc.status != 409:  # a concurrent change got there first: nothing to do
                raise
            action = None
    return {
        "complaint_id": link["complaint_id"],
        "ticket_id": ticket_id,
        "ticket_status": status,
        "action": action,
    }
