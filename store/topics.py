"""Topics: fits, topics with stable ids and analyst edits, assignments and alerts.

Vectors (embeddings, centroids) are float32 little-endian bytes, as in ``analyses``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import numpy as np
import numpy.typing as npt
from psycopg.types.json import Jsonb

from store.db import Conn

OUTLIER = -1


def tenant_lock(conn: Conn, tenant_id: UUID, shared: bool = False) -> None:
    """Serialise writers of a tenant's topics until the transaction ends.

    A refit writes under the exclusive lock; assigning newly analysed items takes
    it shared, so they never interleave with a refit's rewrite of the assignments.
    """
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    conn.execute(
        f"SELECT {function}(hashtextextended('langnghe.topics:' || %s::text, 0))",
        (str(tenant_id),),
    )


def to_bytes(vector: npt.NDArray[Any]) -> bytes:
    """A vector as stored: float32 little-endian."""
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(data: bytes) -> npt.NDArray[np.float32]:
    """A stored vector as float32."""
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


# --------------------------------------------------------------------------- corpus


@dataclass
class Corpus:
    """A tenant's analysed items as the topic model reads them."""

    ids: list[UUID]
    texts: list[str]
    languages: list[str]
    embeddings: npt.NDArray[np.float32]


def count_analysed(conn: Conn, tenant_id: UUID) -> int:
    """How many analysed items the tenant has."""
    row = conn.execute(
        "SELECT count(*) AS n FROM analyses WHERE tenant_id = %s", (tenant_id,)
    ).fetchone()
    return int(row["n"]) if row else 0


def load_corpus(conn: Conn, tenant_id: UUID, chunk: int = 5000) -> Corpus:
    """Every analysed item of a tenant: id, text, language and stored embedding.

    Read through a server-side cursor in chunks, so 100k items never sit in
    memory twice (as rows and as the embedding matrix). Ordered by text: UMAP's
    result depends on the order of its input, and random ids would make the same
    feedback give different topics from one tenant (or one refit) to the next.
    """
    ids: list[UUID] = []
    texts: list[str] = []
    languages: list[str] = []
    blocks: list[npt.NDArray[np.float32]] = []
    with conn.cursor(name="topic_corpus") as cur:
        cur.itersize = chunk
        cur.execute(
            """
            SELECT a.feedback_id, f.text, a.language, a.embedding
            FROM analyses a JOIN feedback f ON f.id = a.feedback_id
            WHERE a.tenant_id = %s ORDER BY f.text, a.feedback_id
            """,
            (tenant_id,),
        )
        pending: list[bytes] = []
        for row in cur:
            ids.append(row["feedback_id"])
            texts.append(row["text"])
            languages.append(row["language"])
            pending.append(row["embedding"])
            if len(pending) >= chunk:
                blocks.append(_matrix(pending))
                pending = []
        if pending:
            blocks.append(_matrix(pending))
    embeddings = np.concatenate(blocks) if blocks else np.zeros((0, 0), np.float32)
    return Corpus(ids, texts, languages, embeddings)


def _matrix(rows: Sequence[bytes]) -> npt.NDArray[np.float32]:
    return np.frombuffer(b"".join(rows), dtype="<f4").reshape(len(rows), -1).astype(np.float32)


def unassigned(conn: Conn, tenant_id: UUID) -> tuple[list[UUID], list[str], list[str], list[bytes]]:
    """Analysed items with no topic assignment yet: ids, languages, texts and embeddings."""
    rows = conn.execute(
        """
        SELECT a.feedback_id, a.language, f.text, a.embedding FROM analyses a
        JOIN feedback f ON f.id = a.feedback_id
        LEFT JOIN topic_assignments t ON t.feedback_id = a.feedback_id
        WHERE a.tenant_id = %s AND t.feedback_id IS NULL
        """,
        (tenant_id,),
    ).fetchall()
    return (
        [r["feedback_id"] for r in rows],
        [r["language"] for r in rows],
        [r["text"] for r in rows],
        [r["embedding"] for r in rows],
    )


# --------------------------------------------------------------------------- fits


def running_fit(conn: Conn, tenant_id: UUID, max_age_s: float) -> UUID | None:
    """A fit of this tenant started less than ``max_age_s`` ago and not finished."""
    row = conn.execute(
        """
        SELECT id FROM topic_models WHERE tenant_id = %s AND status = 'running'
          AND started_at > now() - make_interval(secs => %s)
        ORDER BY started_at DESC LIMIT 1
        """,
        (tenant_id, max_age_s),
    ).fetchone()
    return None if row is None else row["id"]


def start_fit(conn: Conn, tenant_id: UUID) -> UUID:
    """Record that a fit started."""
    row = conn.execute(
        "INSERT INTO topic_models (tenant_id) VALUES (%s) RETURNING id", (tenant_id,)
    ).fetchone()
    assert row is not None
    return UUID(str(row["id"]))


def finish_fit(
    conn: Conn,
    fit_id: UUID,
    *,
    n_docs: int,
    n_topics: int,
    outlier_share_before: float,
    outlier_share: float,
    params: dict[str, Any],
    language_means: dict[str, list[float]],
) -> None:
    """Record a fit's result."""
    conn.execute(
        """
        UPDATE topic_models SET status = 'done', finished_at = now(), n_docs = %s, n_topics = %s,
            outlier_share_before = %s, outlier_share = %s, params = %s, language_means = %s
        WHERE id = %s
        """,
        (
            n_docs,
            n_topics,
            outlier_share_before,
            outlier_share,
            Jsonb(params),
            Jsonb(language_means),
            fit_id,
        ),
    )


def fail_fit(conn: Conn, fit_id: UUID, error: str) -> None:
    """Record that a fit failed."""
    conn.execute(
        "UPDATE topic_models SET status = 'failed', finished_at = now(), error = %s WHERE id = %s",
        (error[:2000], fit_id),
    )


def latest_fit(conn: Conn, tenant_id: UUID) -> dict[str, Any] | None:
    """The most recent fit of any status (for status reports)."""
    return conn.execute(
        """
        SELECT id, status, started_at, finished_at, n_docs, n_topics, outlier_share_before,
               outlier_share, params, error
        FROM topic_models WHERE tenant_id = %s ORDER BY started_at DESC LIMIT 1
        """,
        (tenant_id,),
    ).fetchone()


# The alignment of a fit never changes once it is done, and its covariance maps are a few
# megabytes of JSON: each process keeps the latest few, by fit id, instead of reading
# them again for every analysed batch.
_ALIGNMENTS: dict[UUID, dict[str, npt.NDArray[np.float32]]] = {}
_ALIGNMENTS_KEPT = 8


def language_means(conn: Conn, tenant_id: UUID) -> dict[str, npt.NDArray[np.float32]]:
    """The alignment of the tenant's current (latest successful) fit: each group's mean
    and, keyed ``transform:<group>``, its covariance map (see nlp.topics.model.center)."""
    row = conn.execute(
        """
        SELECT id FROM topic_models WHERE tenant_id = %s AND status = 'done'
        ORDER BY started_at DESC LIMIT 1
        """,
        (tenant_id,),
    ).fetchone()
    if row is None:
        return {}
    fit_id = row["id"]
    if fit_id not in _ALIGNMENTS:
        stored = conn.execute(
            "SELECT language_means FROM topic_models WHERE id = %s", (fit_id,)
        ).fetchone()
        means = stored["language_means"] if stored else {}
        while len(_ALIGNMENTS) >= _ALIGNMENTS_KEPT:
            _ALIGNMENTS.pop(next(iter(_ALIGNMENTS)))
        _ALIGNMENTS[fit_id] = {k: np.asarray(v, np.float32) for k, v in means.items()}
    return _ALIGNMENTS[fit_id]


# --------------------------------------------------------------------------- topics


@dataclass(frozen=True)
class TopicVector:
    """A stored topic's id, centroid and the similarity an item needs to join it."""

    id: int
    centroid: npt.NDArray[np.float32]
    min_similarity: float
    active: bool


def topic_vectors(conn: Conn, tenant_id: UUID, active_only: bool) -> list[TopicVector]:
    """Centroids of the tenant's topics (all of them when matching a refit)."""
    rows = conn.execute(
        """
        SELECT id, centroid, min_similarity, active FROM topics
        WHERE tenant_id = %s AND (active OR NOT %s) ORDER BY id
        """,
        (tenant_id, active_only),
    ).fetchall()
    return [
        TopicVector(r["id"], from_bytes(r["centroid"]), float(r["min_similarity"]), r["active"])
        for r in rows
    ]


@dataclass(frozen=True)
class FittedTopic:
    """One topic of a new fit, with the stable id it was given."""

    id: int
    keywords: list[tuple[str, float]]
    auto_label: str
    centroid: npt.NDArray[np.float32]
    min_similarity: float
    size: int


def next_topic_id(conn: Conn, tenant_id: UUID) -> int:
    """The smallest id never used by this tenant."""
    row = conn.execute(
        "SELECT coalesce(max(id) + 1, 0) AS n FROM topics WHERE tenant_id = %s", (tenant_id,)
    ).fetchone()
    return int(row["n"]) if row else 0


def save_topics(conn: Conn, tenant_id: UUID, topics: Sequence[FittedTopic]) -> None:
    """Upsert the fit's topics and retire the ones no cluster matched.

    Analyst fields (label, is_noise, merged_into) are never touched here: that is
    how edits survive refits.
    """
    conn.execute(
        "UPDATE topics SET active = false, size = 0, updated_at = now() WHERE tenant_id = %s",
        (tenant_id,),
    )
    with conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO topics (tenant_id, id, keywords, auto_label, centroid, min_similarity,
                                size, active)
            VALUES (%s, %s, %s, %s, %s, %s, %s, true)
            ON CONFLICT (tenant_id, id) DO UPDATE SET
                keywords = EXCLUDED.keywords, auto_label = EXCLUDED.auto_label,
                centroid = EXCLUDED.centroid, min_similarity = EXCLUDED.min_similarity,
                size = EXCLUDED.size, active = true, updated_at = now()
            """,
            [
                (
                    tenant_id,
                    t.id,
                    Jsonb([[w, s] for w, s in t.keywords]),
                    t.auto_label,
                    to_bytes(t.centroid),
                    t.min_similarity,
                    t.size,
                )
                for t in topics
            ],
        )


def replace_assignments(
    conn: Conn,
    tenant_id: UUID,
    ids: Sequence[UUID],
    topic_ids: Sequence[int],
    similarities: Sequence[float],
) -> None:
    """Replace every assignment of the tenant with the fit's (COPY, for 100k rows)."""
    conn.execute("DELETE FROM topic_assignments WHERE tenant_id = %s", (tenant_id,))
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY topic_assignments (feedback_id, tenant_id, topic_id, similarity) FROM STDIN"
        ) as copy,
    ):
        for fid, topic, sim in zip(ids, topic_ids, similarities, strict=True):
            copy.write_row((fid, tenant_id, int(topic), float(sim)))


def upsert_assignments(
    conn: Conn,
    tenant_id: UUID,
    ids: Sequence[UUID],
    topic_ids: Sequence[int],
    similarities: Sequence[float],
) -> None:
    """Assign (or re-assign) items to topics."""
    if not ids:
        return
    conn.execute(
        """
        INSERT INTO topic_assignments (feedback_id, tenant_id, topic_id, similarity)
        SELECT f, %s, t, s FROM unnest(%s::uuid[], %s::int[], %s::real[]) AS u(f, t, s)
        ON CONFLICT (feedback_id) DO UPDATE SET topic_id = EXCLUDED.topic_id,
            similarity = EXCLUDED.similarity, assigned_at = now()
        """,
        (tenant_id, list(ids), [int(t) for t in topic_ids], [float(s) for s in similarities]),
    )


_TOPIC_COLUMNS = """
    id, keywords, auto_label, label, coalesce(label, auto_label) AS name, is_noise,
    merged_into, theme_id, theme_pinned, size, active, created_at, updated_at
"""


def get_topic(conn: Conn, tenant_id: UUID, topic_id: int) -> dict[str, Any] | None:
    """One topic's stored fields."""
    return conn.execute(
        f"SELECT {_TOPIC_COLUMNS} FROM topics WHERE tenant_id = %s AND id = %s",
        (tenant_id, topic_id),
    ).fetchone()


def list_topics(conn: Conn, tenant_id: UUID) -> list[dict[str, Any]]:
    """Every topic of the tenant, active or not."""
    return conn.execute(
        f"SELECT {_TOPIC_COLUMNS} FROM topics WHERE tenant_id = %s ORDER BY id", (tenant_id,)
    ).fetchall()


def edit_topic(
    conn: Conn,
    tenant_id: UUID,
    topic_id: int,
    *,
    label: str | None = None,
    clear_label: bool = False,
    is_noise: bool | None = None,
) -> bool:
    """Rename (or reset the name of) a topic, or mark it noise; False if it does not exist."""
    row = conn.execute(
        """
        UPDATE topics SET
            label = CASE WHEN %s THEN NULL ELSE coalesce(%s, label) END,
            is_noise = coalesce(%s, is_noise), updated_at = now()
        WHERE tenant_id = %s AND id = %s RETURNING id
        """,
        (clear_label, label, is_noise, tenant_id, topic_id),
    ).fetchone()
    return row is not None


class MergeError(ValueError):
    """A merge that cannot be done (same topic, or unknown ids)."""


def merge_topics(conn: Conn, tenant_id: UUID, source: int, target: int) -> int:
    """Merge ``source`` into ``target``; return the topic it now counts under.

    Merges always point at a root topic: merging into a topic that was itself
    merged follows it, and topics merged into ``source`` move along.
    """
    rows = conn.execute(
        """
        SELECT id, merged_into FROM topics WHERE tenant_id = %s AND id = ANY(%s) FOR UPDATE
        """,
        (tenant_id, [source, target]),
    ).fetchall()
    found = {r["id"]: r["merged_into"] for r in rows}
    if source not in found or target not in found:
        raise LookupError("no such topic")
    root = found[target] if found[target] is not None else target
    if root == source:
        raise MergeError("a topic cannot be merged into itself")
    conn.execute(
        """
        UPDATE topics SET merged_into = %s, updated_at = now()
        WHERE tenant_id = %s AND (id = %s OR merged_into = %s)
        """,
        (root, tenant_id, source, source),
    )
    return int(root)


def unmerge_topic(conn: Conn, tenant_id: UUID, topic_id: int) -> bool:
    """Undo a merge: the topic counts on its own again."""
    row = conn.execute(
        """
        UPDATE topics SET merged_into = NULL, updated_at = now()
        WHERE tenant_id = %s AND id = %s RETURNING id
        """,
        (tenant_id, topic_id),
    ).fetchone()
    return row is not None


# --------------------------------------------------------------------------- alerts


def recent_alert(conn: Conn, tenant_id: UUID, topic_id: int, kind: str, within_s: float) -> bool:
    """Whether this topic already raised this kind of alert within the window."""
    row = conn.execute(
        """
        SELECT 1 FROM topic_alerts WHERE tenant_id = %s AND topic_id = %s AND kind = %s
          AND window_end > now() - make_interval(secs => %s) LIMIT 1
        """,
        (tenant_id, topic_id, kind, within_s),
    ).fetchone()
    return row is not None


def record_alert(conn: Conn, tenant_id: UUID, topic_id: int, **fields: Any) -> None:
    """Remember an alert (kind, window_start, window_end, current, baseline_mean, baseline_sd)."""
    conn.execute(
        """
        INSERT INTO topic_alerts (tenant_id, topic_id, kind, window_start, window_end, current,
                                  baseline_mean, baseline_sd)
        VALUES (%(tenant_id)s, %(topic_id)s, %(kind)s, %(window_start)s, %(window_end)s,
                %(current)s, %(baseline_mean)s, %(baseline_sd)s)
        """,
        {"tenant_id": tenant_id, "topic_id": topic_id, **fields},
    )


def tenants_with_topics(conn: Conn) -> list[UUID]:
    """Tenants that have at least one fitted topic."""
    rows = conn.execute("SELECT DISTINCT tenant_id FROM topics").fetchall()
    return [r["tenant_id"] for r in rows]


def tenants_due_refit(conn: Conn, min_items: int, growth: float) -> list[UUID]:
    """Tenants with enough items and no fit yet, or ``growth`` times the items of their last fit.

    Lets a new tenant get topics minutes after its first import instead of at the
    next daily refit, and keeps a fast-growing corpus from outgrowing its topics.
    """
    rows = conn.execute(
        """
        SELECT a.tenant_id FROM analyses a
        LEFT JOIN LATERAL (
            SELECT n_docs FROM topic_models m
            WHERE m.tenant_id = a.tenant_id AND m.status = 'done'
            ORDER BY m.started_at DESC LIMIT 1
        ) last ON true
        GROUP BY a.tenant_id, last.n_docs
        HAVING count(*) >= %s AND (last.n_docs IS NULL OR count(*) >= %s * last.n_docs)
        """,
        (min_items, growth),
    ).fetchall()
    return [r["tenant_id"] for r in rows]


def tenants_with_analyses(conn: Conn, min_items: int) -> list[UUID]:
    """Tenants with at least ``min_items`` analysed items."""
    rows = conn.execute(
        "SELECT tenant_id FROM analyses GROUP BY tenant_id HAVING count(*) >= %s", (min_items,)
    ).fetchall()
    return [r["tenant_id"] for r in rows]
