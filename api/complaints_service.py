"""Working a complaint: the actions, their allowed transitions and their outbox events.

Shared by the JSON API and the dashboard pages, so both change a complaint the
same way: one transaction locks the row, applies the change, records the history
and appends the event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from api.errors import ApiError
from nlp.components.pii import redact
from store import complaints as complaints_store
from store import corrections as corrections_store
from store import events as events_store
from store.db import Database
from workers.events import COMPLAINT_RESOLVED, COMPLAINT_UPDATED
from workers.policy import load_policy, sla_due

Action = Literal["assign", "acknowledge", "note", "resolve", "reopen"]

# Which statuses each action may start from; anything else is a 409.
_ALLOWED_FROM: dict[str, set[str]] = {
    "assign": {"open", "acknowledged"},
    "acknowledge": {"open"},
    "note": {"open", "acknowledged", "resolved"},
    "resolve": {"open", "acknowledged"},
    "reopen": {"resolved"},
}


def complaint_event_data(row: dict[str, Any], action: str, actor: str | None) -> dict[str, Any]:
    """The payload of ``complaint.updated`` / ``complaint.resolved``: the complaint as it is now."""

    def iso(value: Any) -> Any:
        return value.isoformat() if isinstance(value, datetime) else value

    return {
        "complaint_id": str(row["id"]),
        "feedback_id": str(row["feedback_id"]) if row["feedback_id"] else None,
        "kind": row["kind"],
        "action": action,
        "actor": actor,
        "status": row["status"],
        "priority": row["priority"],
        "category": row["category"],
        "channel": row["channel"],
        "language": row["language"],
        "assignee": row["assignee"],
        "flagged_at": iso(row["flagged_at"]),
        "sla_due_at": iso(row["sla_due_at"]),
        "first_response_at": iso(row["first_response_at"]),
        "resolved_at": iso(row["resolved_at"]),
        "resolution_code": row["resolution_code"],
        "reopen_count": row["reopen_count"],
    }


def _changes(
    db_row: dict[str, Any], action: Action, params: dict[str, Any], now: datetime, policy: Any
) -> dict[str, Any]:
    first_response = {} if db_row["first_response_at"] else {"first_response_at": now}
    if action == "assign":
        return {"assignee": params.get("assignee")}
    if action == "acknowledge":
        return {"status": "acknowledged", **first_response}
    if action == "note":
        return dict(first_response)
    if action == "resolve":
        return {
            "status": "resolved",
            "resolved_at": now,
            "resolution_code": params["resolution_code"],
            **first_response,
        }
    # reopen: a fresh SLA clock, since the customer is waiting again from now.
    return {
        "status": "open",
        "resolved_at": None,
        "resolution_code": None,
        "reopen_count": db_row["reopen_count"] + 1,
        "sla_due_at": sla_due(policy, db_row["priority"], now),
    }


def _redacted(value: str | None) -> str | None:
    return None if value is None else redact(value).text


def act(
    db: Database,
    tenant_id: UUID,
    complaint_id: UUID,
    action: Action,
    *,
    actor: str | None = None,
    note: str | None = None,
    params: dict[str, Any] | None = None,
    by: dict[str, Any] | None = None,
    redact_pii: bool = True,
) -> dict[str, Any]:
    """Apply one action to a complaint and emit its event; return the complaint after it.

    ``actor`` is what the client typed; ``by`` is who really acted (the key, or the
    dashboard user by their key), recorded beside it in the history and the event.
    Free text (actor, note, assignee) has its personal data redacted before it is
    stored or emitted, like feedback text.
    """
    params = dict(params or {})
    if redact_pii:
        actor, note = _redacted(actor), _redacted(note)
        if params.get("assignee") is not None:
            params["assignee"] = _redacted(params["assignee"])
    if by is not None:
        params["by"] = by
    with db.transaction() as conn:
        row = complaints_store.get_complaint(conn, tenant_id, complaint_id, for_update=True)
        if row is None:
            raise ApiError(404, "not_found", "No complaint with this id.")
        if row["status"] not in _ALLOWED_FROM[action]:
            raise ApiError(
                409,
                "invalid_transition",
                f"Cannot {action} a complaint that is {row['status']}.",
                {"status": row["status"], "action": action},
            )
        policy = load_policy(complaints_store.get_policies(conn, [tenant_id]).get(tenant_id))
        changes = _changes(row, action, params, datetime.now(UTC), policy)
        complaints_store.apply_change(
            conn, tenant_id, complaint_id, action, changes, actor, note, params
        )
        after = complaints_store.get_complaint(conn, tenant_id, complaint_id)
        assert after is not None
        event_type = COMPLAINT_RESOLVED if action == "resolve" else COMPLAINT_UPDATED
        data = complaint_event_data(after, action, actor)
        if by is not None:
            data["by"] = by
        if note:
            data["note"] = note
        events_store.append_events(conn, tenant_id, [events_store.NewEvent(event_type, data)])
        after["history"] = complaints_store.history(conn, complaint_id)
    return after


def get(db: Database, tenant_id: UUID, complaint_id: UUID) -> dict[str, Any]:
    """A complaint with its text, analysis and history, or 404."""
    with db.transaction() as conn:
        row = complaints_store.get_complaint(conn, tenant_id, complaint_id)
        if row is None:
            raise ApiError(404, "not_found", "No complaint with this id.")
        row["history"] = complaints_store.history(conn, complaint_id)
        row["corrections"] = corrections_store.merged(
            corrections_store.list_for_item(conn, tenant_id, row["feedback_id"])
        )
    return row
