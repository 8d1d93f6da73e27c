"""Corrections: labels people give an item's analysis, and the tenant heads trained on them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from store.db import Conn

FIELDS = ("sentiment", "complaint", "category", "churn_risk", "severity")
CORRECTION_COLUMNS = (
    "id, feedback_id, sentiment, complaint, category, churn_risk, severity, note, actor, created_at"
)


def insert_correction(
    conn: Conn,
    tenant_id: UUID,
    feedback_id: UUID,
    values: dict[str, Any],
    actor: str,
    note: str | None,
) -> dict[str, Any]:
    """Store one correction (only the fields in ``values``) and return it."""
    row = conn.execute(
        f"""
        INSERT INTO corrections (tenant_id, feedback_id, sentiment, complaint, category,
            churn_risk, severity, note, actor)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {CORRECTION_COLUMNS}
        """,
        (tenant_id, feedback_id, *(values.get(f) for f in FIELDS), note, actor),
    ).fetchone()
    assert row is not None
    return row


def list_for_item(conn: Conn, tenant_id: UUID, feedback_id: UUID) -> list[dict[str, Any]]:
    """Every correction of one item, oldest first."""
    return conn.execute(
        f"""
        SELECT {CORRECTION_COLUMNS} FROM corrections
        WHERE tenant_id = %s AND feedback_id = %s ORDER BY created_at, id
        """,
        (tenant_id, feedback_id),
    ).fetchall()


def merged(corrections: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per field, the latest corrected value with who and when (corrections oldest first)."""
    out: dict[str, dict[str, Any]] = {}
    for c in corrections:
        for field in FIELDS:
            if c[field] is not None:
                out[field] = {"value": c[field], "by": c["actor"], "at": c["created_at"]}
    return out


_LATEST = """
    SELECT c.feedback_id,
        (array_agg(c.sentiment ORDER BY c.created_at DESC)
            FILTER (WHERE c.sentiment IS NOT NULL))[1] AS sentiment,
        (array_agg(c.complaint ORDER BY c.created_at DESC)
            FILTER (WHERE c.complaint IS NOT NULL))[1] AS complaint,
        (array_agg(c.category ORDER BY c.created_at DESC)
            FILTER (WHERE c.category IS NOT NULL))[1] AS category,
        (array_agg(c.churn_risk ORDER BY c.created_at DESC)
            FILTER (WHERE c.churn_risk IS NOT NULL))[1] AS churn_risk,
        (array_agg(c.severity ORDER BY c.created_at DESC)
            FILTER (WHERE c.severity IS NOT NULL))[1] AS severity
    FROM corrections c WHERE c.tenant_id = %s GROUP BY c.feedback_id
"""


def training_rows(conn: Conn, tenant_id: UUID) -> list[dict[str, Any]]:
    """Each corrected item of the tenant once: its latest label per field, the model's answers
    as stored, and the stored embedding."""
    return conn.execute(
        f"""
        SELECT l.*, a.embedding, a.sentiment AS model_sentiment, a.complaint AS model_complaint,
               a.complaint_category AS model_category, a.churn_risk AS model_churn_risk,
               a.severity AS model_severity
        FROM ({_LATEST}) l JOIN analyses a ON a.feedback_id = l.feedback_id
        WHERE a.tenant_id = %s ORDER BY l.feedback_id
        """,
        (tenant_id, tenant_id),
    ).fetchall()


def category_members(conn: Conn, tenant_id: UUID) -> list[dict[str, Any]]:
    """Items whose category was corrected: the latest category and the stored embedding."""
    return conn.execute(
        f"""
        SELECT l.category, a.embedding FROM ({_LATEST}) l
        JOIN analyses a ON a.feedback_id = l.feedback_id
        WHERE a.tenant_id = %s AND l.category IS NOT NULL ORDER BY l.feedback_id
        """,
        (tenant_id, tenant_id),
    ).fetchall()


def count_corrections(conn: Conn, tenant_id: UUID) -> int:
    """All corrections of the tenant."""
    row = conn.execute(
        "SELECT count(*) AS n FROM corrections WHERE tenant_id = %s", (tenant_id,)
    ).fetchone()
    assert row is not None
    return int(row["n"])


def tenants_due_training(conn: Conn, min_new: int) -> list[UUID]:
    """Tenants with at least ``min_new`` corrections made since their last training run began."""
    rows = conn.execute(
        """
        SELECT c.tenant_id FROM corrections c
        LEFT JOIN LATERAL (
            SELECT max(started_at) AS at FROM tenant_training_runs r WHERE r.tenant_id = c.tenant_id
        ) last ON true
        WHERE last.at IS NULL OR c.created_at > last.at
        GROUP BY c.tenant_id HAVING count(*) >= %s ORDER BY c.tenant_id
        """,
        (min_new,),
    ).fetchall()
    return [UUID(str(r["tenant_id"])) for r in rows]


def start_run(conn: Conn, tenant_id: UUID, trigger: str, corrections: int) -> UUID:
    """Record the start of a training run; returns its id."""
    row = conn.execute(
        """
        INSERT INTO tenant_training_runs (tenant_id, trigger, corrections) VALUES (%s, %s, %s)
        RETURNING id
        """,
        (tenant_id, trigger, corrections),
    ).fetchone()
    assert row is not None
    return UUID(str(row["id"]))


def finish_run(conn: Conn, run_id: UUID, summary: dict[str, Any]) -> None:
    """Record a run's outcome per head."""
    conn.execute(
        "UPDATE tenant_training_runs SET finished_at = now(), summary = %s WHERE id = %s",
        (Jsonb(summary), run_id),
    )


def record_model(
    conn: Conn,
    tenant_id: UUID,
    run_id: UUID,
    head: str,
    version: str,
    classes: Sequence[str],
    weights: bytes,
    bias: bytes,
    n_train: int,
    n_heldout: int,
    score_candidate: float,
    score_current: float,
    activate: bool,
) -> None:
    """Store a candidate head; when ``activate``, retire the one in force and switch to it."""
    if activate:
        conn.execute(
            """
            UPDATE tenant_models SET status = 'retired', retired_at = now()
            WHERE tenant_id = %s AND head = %s AND status = 'active'
            """,
            (tenant_id, head),
        )
    conn.execute(
        """
        INSERT INTO tenant_models (tenant_id, run_id, head, version, status, classes, weights,
            bias, n_train, n_heldout, score_candidate, score_current, activated_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                CASE WHEN %s THEN now() END)
        """,
        (
            tenant_id,
            run_id,
            head,
            version,
            "active" if activate else "rejected",
            list(classes),
            weights,
            bias,
            n_train,
            n_heldout,
            score_candidate,
            score_current,
            activate,
        ),
    )


MODEL_COLUMNS = (
    "id, head, version, status, classes, n_train, n_heldout, metric, score_candidate, "
    "score_current, created_at, activated_at, retired_at"
)


def active_models(conn: Conn, tenant_id: UUID) -> list[dict[str, Any]]:
    """The tenant's heads in force, with their weights."""
    return conn.execute(
        f"""
        SELECT {MODEL_COLUMNS}, weights, bias FROM tenant_models
        WHERE tenant_id = %s AND status = 'active' ORDER BY head
        """,
        (tenant_id,),
    ).fetchall()


def model_history(conn: Conn, tenant_id: UUID, limit: int = 100) -> list[dict[str, Any]]:
    """Every candidate head of the tenant, newest first, without weights."""
    return conn.execute(
        f"""
        SELECT {MODEL_COLUMNS} FROM tenant_models WHERE tenant_id = %s
        ORDER BY created_at DESC, head LIMIT %s
        """,
        (tenant_id, limit),
    ).fetchall()


def list_runs(conn: Conn, tenant_id: UUID, limit: int = 20) -> list[dict[str, Any]]:
    """The tenant's training runs, newest first."""
    return conn.execute(
        """
        SELECT id, trigger, corrections, started_at, finished_at, summary
        FROM tenant_training_runs WHERE tenant_id = %s ORDER BY started_at DESC LIMIT %s
        """,
        (tenant_id, limit),
    ).fetchall()
