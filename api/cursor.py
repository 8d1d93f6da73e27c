"""Opaque cursors for keyset paging."""

from __future__ import annotations

import base64
from datetime import datetime
from uuid import UUID

from api.errors import ApiError


def encode_cursor(received_at: datetime, item_id: UUID) -> str:
    """A cursor pointing just after this row."""
    raw = f"{received_at.isoformat()}|{item_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """The (received_at, id) inside a cursor, or 400 if it was not made by us."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, item_id = raw.partition("|")
        parsed = datetime.fromisoformat(at)
        if parsed.tzinfo is None:
            raise ValueError("naive timestamp")
        return parsed, UUID(item_id)
    except ValueError as exc:
        raise ApiError(400, "invalid_cursor", "The cursor is not valid.") from exc
