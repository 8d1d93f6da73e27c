"""Analysis rows: one per feedback item, written once by the worker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from store.db import Conn


@dataclass(frozen=True)
class AnalysisRow:
    """What the worker stores for one item; ``embedding`` is float32 bytes."""

    feedback_id: UUID
    tenant_id: UUID
    model_versions: dict[str, str]
    language: str
    sentiment: str
    sentiment_score: float
    sentiment_probs: dict[str, float]
    complaint: bool
    complaint_score: float
    complaint_category: str | None
    severity: str
    churn_risk: bool
    csat_distribution: Sequence[float]
    csat_expected: float
    nps_class: str
    embedding: bytes
    aspects: Sequence[dict[str, Any]] = ()


def upsert_analyses(conn: Conn, rows: Sequence[AnalysisRow]) -> None:
    """Write analyses; a re-run replaces the previous row for the same item."""
    if not rows:
        return
    with conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO analyses (feedback_id, tenant_id, model_versions, language, sentiment,
                sentiment_score, sentiment_probs, complaint, complaint_score,
                complaint_category, severity, churn_risk, csat_distribution, csat_expected,
                nps_class, embedding, aspects)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (feedback_id) DO UPDATE SET
                model_versions = EXCLUDED.model_versions, language = EXCLUDED.language,
                sentiment = EXCLUDED.sentiment, sentiment_score = EXCLUDED.sentiment_score,
                sentiment_probs = EXCLUDED.sentiment_probs, complaint = EXCLUDED.complaint,
                complaint_score = EXCLUDED.complaint_score,
                complaint_category = EXCLUDED.complaint_category,
                severity = EXCLUDED.severity, churn_risk = EXCLUDED.churn_risk,
                csat_distribution = EXCLUDED.csat_distribution,
                csat_expected = EXCLUDED.csat_expected, nps_class = EXCLUDED.nps_class,
                embedding = EXCLUDED.embedding, aspects = EXCLUDED.aspects,
                analyzed_at = now()
            """,
            [
                (
                    r.feedback_id,
                    r.tenant_id,
                    Jsonb(r.model_versions),
                    r.language,
                    r.sentiment,
                    r.sentiment_score,
                    Jsonb(r.sentiment_probs),
                    r.complaint,
                    r.complaint_score,
                    r.complaint_category,
                    r.severity,
                    r.churn_risk,
                    list(r.csat_distribution),
                    r.csat_expected,
                    r.nps_class,
                    r.embedding,
                    Jsonb(list(r.aspects)),
                )
                for r in rows
            ],
        )


def feedback_context(conn: Conn, ids: Sequence[UUID]) -> dict[UUID, dict[str, Any]]:
    """The fields of each item that go into its events (source, external id, channel...)."""
    rows = conn.execute(
        """
        SELECT id, source, external_id, channel, customer_ref, rating, survey_score,
               occurred_at, received_at
        FROM feedback WHERE id = ANY(%s)
        """,
        (list(ids),),
    ).fetchall()
    return {r["id"]: r for r in rows}


def analysis_latency_quantiles(conn: Conn, window_s: float) -> dict[str, float]:
    """p50/p95/p99 seconds from receipt to analysis over a recent window (for metrics)."""
    row = conn.execute(
        """
        SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (
                   ORDER BY EXTRACT(EPOCH FROM a.analyzed_at - f.received_at)) AS q,
               count(*) AS n
        FROM analyses a JOIN feedback f ON f.id = a.feedback_id
        WHERE a.analyzed_at > now() - make_interval(secs => %s)
        """,
        (window_s,),
    ).fetchone()
    if row is None or not row["n"]:
        return {}
    p50, p95, p99 = row["q"]
    return {"0.5": float(p50), "0.95": float(p95), "0.99": float(p99)}
