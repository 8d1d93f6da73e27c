"""Personal data: erasing a data subject, and retention (delete or anonymise after N days).

What an item's personal data reaches, and so what erasure removes: the feedback row
(text, customer_ref, external_id, metadata), its analysis (aspect spans quote the
text), its topic assignment, its complaint and the complaint's history (notes), and
the outbox events about it (``feedback.analyzed`` and ``complaint.*`` carry the
customer reference and quotes). Events are kept as ``{"erased": true}`` rather than
deleted, so the per-tenant ``seq`` stays gapless for feed readers; their deliveries
still pending are ended, so an erased payload is never sent.

A domain that stores more about an item or a customer adds its table to
``_COUNTED`` (rows that go with the feedback row by ON DELETE CASCADE) or erases it
in ``erase_items``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from psycopg.types.json import Jsonb

from store.db import Conn

SubjectKind = Literal["customer_ref", "email", "phone"]
RetentionMode = Literal["delete", "anonymise"]
ANONYMISED_TEXT = "[anonymised]"

# Rows that are deleted with their feedback row (ON DELETE CASCADE), counted for the receipt.
_COUNTED = {
    "analyses": "SELECT count(*) AS n FROM analyses WHERE feedback_id = ANY(%s)",
    "topic_assignments": "SELECT count(*) AS n FROM topic_assignments WHERE feedback_id = ANY(%s)",
    "complaints": "SELECT count(*) AS n FROM complaints WHERE feedback_id = ANY(%s)",
    "complaint_history": """
        SELECT count(*) AS n FROM complaint_history h JOIN complaints c ON c.id = h.complaint_id
        WHERE c.feedback_id = ANY(%s)""",
}


def normalise_subject(kind: SubjectKind, value: str) -> str:
    """The identifier in the form it is matched and hashed in."""
    value = value.strip()
    if kind == "email":
        return value.lower()
    if kind == "phone":
        digits = re.sub(r"\D", "", value)
        # +84 912 345 678 and 0912 345 678 are one Vietnamese number.
        return "0" + digits[2:] if digits.startswith("84") and len(digits) >= 11 else digits
    return value


def subject_sha256(kind: SubjectKind, value: str) -> str:
    """What the receipt keeps instead of the identifier itself."""
    return hashlib.sha256(f"{kind}:{normalise_subject(kind, value)}".encode()).hexdigest()


def _like(value: str) -> str:
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def find_subject(conn: Conn, tenant_id: UUID, kind: SubjectKind, value: str) -> list[UUID]:
    """Ids of the tenant's items about this subject.

    By customer_ref exactly; by e-mail anywhere in the text or metadata, ignoring case;
    by phone in the digits of the text or metadata (so spaces, dots and a +84 or 0
    prefix do not matter). Text stored redacted has no e-mail or phone left to find:
    erase by customer_ref there.
    """
    norm = normalise_subject(kind, value)
    if kind == "customer_ref":
        sql = "SELECT id FROM feedback WHERE tenant_id = %s AND customer_ref = %s"
        args: tuple[Any, ...] = (tenant_id, norm)
    elif kind == "email":
        sql = """
            SELECT id FROM feedback WHERE tenant_id = %s
              AND (text ILIKE %s OR metadata::text ILIKE %s)"""
        args = (tenant_id, _like(norm), _like(norm))
    else:
        national = norm[1:] if norm.startswith("0") else norm
        sql = """
            SELECT id FROM feedback WHERE tenant_id = %s
              AND (regexp_replace(text || ' ' || metadata::text, '\\D', '', 'g') LIKE %s
                   OR regexp_replace(text || ' ' || metadata::text, '\\D', '', 'g') LIKE %s)"""
        args = (tenant_id, _like("0" + national), _like("84" + national))
    return [r["id"] for r in conn.execute(sql, args).fetchall()]


def _erase_events(
    conn: Conn, tenant_id: UUID, ids: Sequence[UUID], customer_ref: str | None
) -> int:
    rows = conn.execute(
        """
        UPDATE events SET payload = '{"erased": true}'::jsonb
        WHERE tenant_id = %s AND payload <> '{"erased": true}'::jsonb
          AND (payload->>'feedback_id' = ANY(%s)
               OR (%s::text IS NOT NULL AND payload->>'customer_ref' = %s))
        RETURNING id
        """,
        (tenant_id, [str(i) for i in ids], customer_ref, customer_ref),
    ).fetchall()
    event_ids = [r["id"] for r in rows]
    if event_ids:
        conn.execute(
            """
            UPDATE deliveries SET status = 'dead', finished_at = now(),
                   last_error = 'event erased (personal data request)'
            WHERE event_id = ANY(%s) AND status = 'pending'
            """,
            (event_ids,),
        )
    return len(event_ids)


def erase_items(
    conn: Conn, tenant_id: UUID, ids: Sequence[UUID], customer_ref: str | None = None
) -> dict[str, int]:
    """Delete these items and everything derived from them; counts per kind of record."""
    ids = list(ids)
    counts = {"feedback": len(ids)}
    for name, sql in _COUNTED.items():
        row = conn.execute(sql, (ids,)).fetchone()
        counts[name] = int(row["n"]) if row else 0
    counts["events"] = _erase_events(conn, tenant_id, ids, customer_ref)
    conn.execute("DELETE FROM feedback WHERE tenant_id = %s AND id = ANY(%s)", (tenant_id, ids))
    if customer_ref is not None:
        counts.update(_erase_customer(conn, tenant_id, customer_ref))
    return counts


def _erase_customer(conn: Conn, tenant_id: UUID, ref: str) -> dict[str, int]:
    """The customer's profile, segment history and interactions (the customers domain)."""
    counts = {}
    for table, column in (
        ("interactions", "customer_ref"),
        ("customer_segment_history", "ref"),
        ("customers", "ref"),
    ):
        rows = conn.execute(
            f"DELETE FROM {table} WHERE tenant_id = %s AND {column} = %s RETURNING 1",
            (tenant_id, ref),
        ).fetchall()
        counts[table] = len(rows)
    return counts


def erase_subject(
    conn: Conn, tenant_id: UUID, kind: SubjectKind, value: str, requested_by: str | None
) -> dict[str, Any]:
    """Erase every item about a subject and store the receipt; return the receipt."""
    ids = find_subject(conn, tenant_id, kind, value)
    ref = normalise_subject(kind, value) if kind == "customer_ref" else None
    counts = erase_items(conn, tenant_id, ids, ref)
    row = conn.execute(
        """
        INSERT INTO erasure_receipts (tenant_id, subject_kind, subject_sha256, requested_by,
                                      counts)
        VALUES (%s, %s, %s, %s, %s)
        RETURNING id, created_at, subject_kind, subject_sha256, requested_by, counts
        """,
        (tenant_id, kind, subject_sha256(kind, value), requested_by, Jsonb(counts)),
    ).fetchone()
    assert row is not None
    return dict(row)


def get_receipt(conn: Conn, tenant_id: UUID, receipt_id: UUID) -> dict[str, Any] | None:
    """One of the tenant's erasure receipts."""
    row = conn.execute(
        """
        SELECT id, created_at, subject_kind, subject_sha256, requested_by, counts
        FROM erasure_receipts WHERE tenant_id = %s AND id = %s
        """,
        (tenant_id, receipt_id),
    ).fetchone()
    return None if row is None else dict(row)


def list_receipts(
    conn: Conn, tenant_id: UUID, limit: int, before: tuple[datetime, UUID] | None
) -> list[dict[str, Any]]:
    """The tenant's receipts, newest first, in keyset pages."""
    return conn.execute(
        """
        SELECT id, created_at, subject_kind, subject_sha256, requested_by, counts
        FROM erasure_receipts WHERE tenant_id = %(tenant)s
          AND (%(at)s::timestamptz IS NULL OR (created_at, id) < (%(at)s, %(id)s::uuid))
        ORDER BY created_at DESC, id DESC LIMIT %(limit)s
        """,
        {
            "tenant": tenant_id,
            "at": before[0] if before else None,
            "id": before[1] if before else None,
            "limit": limit,
        },
    ).fetchall()


# --------------------------------------------------------------------------- retention


def get_retention(conn: Conn, tenant_id: UUID) -> dict[str, Any] | None:
    """The tenant's retention policy, or None (keep everything)."""
    row = conn.execute(
        "SELECT days, mode, updated_at FROM retention_policies WHERE tenant_id = %s",
        (tenant_id,),
    ).fetchone()
    return None if row is None else dict(row)


def put_retention(conn: Conn, tenant_id: UUID, days: int, mode: RetentionMode) -> dict[str, Any]:
    """Set the tenant's retention policy."""
    row = conn.execute(
        """
        INSERT INTO retention_policies (tenant_id, days, mode) VALUES (%s, %s, %s)
        ON CONFLICT (tenant_id) DO UPDATE
            SET days = EXCLUDED.days, mode = EXCLUDED.mode, updated_at = now()
        RETURNING days, mode, updated_at
        """,
        (tenant_id, days, mode),
    ).fetchone()
    assert row is not None
    return dict(row)


def delete_retention(conn: Conn, tenant_id: UUID) -> bool:
    """Remove the tenant's policy (keep everything from now on); False if it had none."""
    rows = conn.execute(
        "DELETE FROM retention_policies WHERE tenant_id = %s RETURNING tenant_id", (tenant_id,)
    ).fetchall()
    return bool(rows)


def retention_policies(conn: Conn) -> list[dict[str, Any]]:
    """Every tenant's policy (the scheduled job's work list)."""
    return conn.execute("SELECT tenant_id, days, mode FROM retention_policies").fetchall()


def _anonymise(conn: Conn, tenant_id: UUID, ids: list[UUID]) -> dict[str, int]:
    refs = [
        r["customer_ref"]
        for r in conn.execute(
            "SELECT DISTINCT customer_ref FROM feedback WHERE tenant_id = %s AND id = ANY(%s)"
            " AND customer_ref IS NOT NULL",
            (tenant_id, ids),
        ).fetchall()
    ]
    conn.execute(
        """
        UPDATE feedback SET text = %s, customer_ref = NULL, external_id = NULL,
               metadata = '{}'::jsonb, anonymised_at = now()
        WHERE tenant_id = %s AND id = ANY(%s)
        """,
        (ANONYMISED_TEXT, tenant_id, ids),
    )
    # Aspect spans quote the text; the aspect and its polarity are kept.
    conn.execute(
        """
        UPDATE analyses SET aspects = COALESCE(
            (SELECT jsonb_agg(a - 'span') FROM jsonb_array_elements(aspects) a), '[]'::jsonb)
        WHERE feedback_id = ANY(%s) AND aspects <> '[]'::jsonb
        """,
        (ids,),
    )
    notes = conn.execute(
        """
        UPDATE complaint_history h SET note = NULL FROM complaints c
        WHERE c.id = h.complaint_id AND c.feedback_id = ANY(%s) AND h.note IS NOT NULL
        RETURNING h.id
        """,
        (ids,),
    ).fetchall()
    events = conn.execute(
        """
        UPDATE events SET payload = (payload - 'customer_ref' - 'external_id' - 'note')
            || CASE WHEN payload ? 'aspects' THEN jsonb_build_object('aspects', COALESCE(
                   (SELECT jsonb_agg(a - 'span') FROM jsonb_array_elements(payload->'aspects') a),
                   '[]'::jsonb)) ELSE '{}'::jsonb END
        WHERE tenant_id = %s AND payload->>'feedback_id' = ANY(%s)
        RETURNING id
        """,
        (tenant_id, [str(i) for i in ids]),
    ).fetchall()
    # A customer left with no identified feedback loses its profile and its name in events.
    gone = [
        ref
        for ref in refs
        if conn.execute(
            "SELECT 1 FROM feedback WHERE tenant_id = %s AND customer_ref = %s LIMIT 1",
            (tenant_id, ref),
        ).fetchone()
        is None
    ]
    customer_events = conn.execute(
        """
        UPDATE events SET payload = payload - 'customer_ref'
        WHERE tenant_id = %s AND payload->>'customer_ref' = ANY(%s)
        RETURNING id
        """,
        (tenant_id, gone),
    ).fetchall()
    for ref in gone:
        _erase_customer(conn, tenant_id, ref)
    return {
        "feedback": len(ids),
        "complaint_notes": len(notes),
        "events": len(events) + len(customer_events),
    }


def apply_retention(
    conn: Conn, tenant_id: UUID, days: int, mode: RetentionMode, limit: int
) -> dict[str, Any]:
    """One retention pass for a tenant (at most ``limit`` items); the run is recorded."""
    cutoff_row = conn.execute(
        "SELECT now() - make_interval(days => %s) AS cutoff", (days,)
    ).fetchone()
    assert cutoff_row is not None
    cutoff = cutoff_row["cutoff"]
    pending = " AND anonymised_at IS NULL" if mode == "anonymise" else ""
    ids = [
        r["id"]
        for r in conn.execute(
            f"""
            SELECT id FROM feedback WHERE tenant_id = %s AND received_at < %s{pending}
            ORDER BY received_at LIMIT %s FOR UPDATE SKIP LOCKED
            """,
            (tenant_id, cutoff, limit),
        ).fetchall()
    ]
    counts = (
        (
            erase_items(conn, tenant_id, ids)
            if mode == "delete"
            else _anonymise(conn, tenant_id, ids)
        )
        if ids
        else {"feedback": 0}
    )
    row = conn.execute(
        """
        INSERT INTO retention_runs (tenant_id, days, mode, cutoff, counts)
        VALUES (%s, %s, %s, %s, %s) RETURNING id, ran_at, days, mode, cutoff, counts
        """,
        (tenant_id, days, mode, cutoff, Jsonb(counts)),
    ).fetchone()
    assert row is not None
    return dict(row)


def retention_runs(conn: Conn, tenant_id: UUID, limit: int) -> list[dict[str, Any]]:
    """The tenant's latest retention runs, newest first."""
    return conn.execute(
        """
        SELECT id, ran_at, days, mode, cutoff, counts FROM retention_runs
        WHERE tenant_id = %s ORDER BY ran_at DESC, id DESC LIMIT %s
        """,
        (tenant_id, limit),
    ).fetchall()
