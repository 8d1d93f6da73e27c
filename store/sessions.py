"""Dashboard sessions held server-side, so that logging out ends them for good."""

from __future__ import annotations

import hashlib
from uuid import UUID

from store.db import Conn


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def open_session(conn: Conn, token: str, tenant_id: UUID, max_age_s: int) -> None:
    """Record a new session (and forget expired ones, which nothing reads again)."""
    conn.execute("DELETE FROM dashboard_sessions WHERE expires_at < now()")
    conn.execute(
        """
        INSERT INTO dashboard_sessions (token_hash, tenant_id, expires_at)
        VALUES (%s, %s, now() + make_interval(secs => %s))
        """,
        (_hash(token), tenant_id, max_age_s),
    )


def session_is_open(conn: Conn, token: str, tenant_id: UUID) -> bool:
    """Whether the session was opened for this tenant and neither closed nor expired."""
    row = conn.execute(
        """
        SELECT 1 FROM dashboard_sessions
        WHERE token_hash = %s AND tenant_id = %s AND expires_at > now()
        """,
        (_hash(token), tenant_id),
    ).fetchone()
    return row is not None


def close_session(conn: Conn, token: str) -> None:
    """End the session: its cookie no longer logs anyone in."""
    conn.execute("DELETE FROM dashboard_sessions WHERE token_hash = %s", (_hash(token),))
