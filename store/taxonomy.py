"""A tenant's own complaint categories, their example texts, and re-categorisation jobs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from store.db import Conn


def get_taxonomy(conn: Conn, tenant_id: UUID) -> dict[str, Any] | None:
    """The tenant's taxonomy row (mode, version, updated_at), or None if it has none."""
    return conn.execute(
        "SELECT mode, version, updated_at FROM taxonomies WHERE tenant_id = %s", (tenant_id,)
    ).fetchone()


def touch_taxonomy(conn: Conn, tenant_id: UUID, mode: str | None = None) -> dict[str, Any]:
    """Create the taxonomy or bump its version (and set its mode); locks it until commit."""
    row = conn.execute(
        """
        INSERT INTO taxonomies (tenant_id, mode) VALUES (%s, COALESCE(%s, 'extend'))
        ON CONFLICT (tenant_id) DO UPDATE SET
            version = taxonomies.version + 1,
            mode = COALESCE(%s, taxonomies.mode),
            updated_at = now()
        RETURNING mode, version, updated_at
        """,
        (tenant_id, mode, mode),
    ).fetchone()
    assert row is not None
    return row


def list_categories(conn: Conn, tenant_id: UUID) -> list[dict[str, Any]]:
    """The tenant's own categories with their examples, by name."""
    return conn.execute(
        """
        SELECT c.name, c.description, c.created_at, c.updated_at,
               COALESCE(jsonb_agg(jsonb_build_object(
                   'text', e.text, 'embedded', e.embedding IS NOT NULL) ORDER BY e.id)
                   FILTER (WHERE e.id IS NOT NULL), '[]'::jsonb) AS examples
        FROM taxonomy_categories c LEFT JOIN taxonomy_examples e ON e.category_id = c.id
        WHERE c.tenant_id = %s
        GROUP BY c.id ORDER BY c.name
        """,
        (tenant_id,),
    ).fetchall()


def get_category(conn: Conn, tenant_id: UUID, name: str) -> dict[str, Any] | None:
    """One of the tenant's categories by name, with its examples."""
    for row in list_categories(conn, tenant_id):
        if row["name"] == name:
            return row
    return None


def insert_category(
    conn: Conn, tenant_id: UUID, name: str, description: str, examples: Sequence[str]
) -> bool:
    """Add a category with its examples; False if the tenant already has one by that name."""
    row = conn.execute(
        """
        INSERT INTO taxonomy_categories (tenant_id, name, description) VALUES (%s, %s, %s)
        ON CONFLICT (tenant_id, name) DO NOTHING RETURNING id
        """,
        (tenant_id, name, description),
    ).fetchone()
    if row is None:
        return False
    _insert_examples(conn, tenant_id, row["id"], examples)
    return True


def _insert_examples(conn: Conn, tenant_id: UUID, category_id: UUID, texts: Sequence[str]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO taxonomy_examples (category_id, tenant_id, text) VALUES (%s, %s, %s)",
            [(category_id, tenant_id, t) for t in texts],
        )


def update_category(
    conn: Conn,
    tenant_id: UUID,
    name: str,
    description: str | None,
    examples: Sequence[str] | None,
    add_examples: Sequence[str],
) -> bool:
    """Change a category's description, replace and/or add examples; False if no such one."""
    row = conn.execute(
        """
        UPDATE taxonomy_categories SET description = COALESCE(%s, description), updated_at = now()
        WHERE tenant_id = %s AND name = %s RETURNING id
        """,
        (description, tenant_id, name),
    ).fetchone()
    if row is None:
        return False
    if examples is not None:
        conn.execute("DELETE FROM taxonomy_examples WHERE category_id = %s", (row["id"],))
        _insert_examples(conn, tenant_id, row["id"], examples)
    _insert_examples(conn, tenant_id, row["id"], add_examples)
    return True


def delete_category(conn: Conn, tenant_id: UUID, name: str) -> bool:
    """Remove a category and its examples; False if there was none by that name."""
    row = conn.execute(
        "DELETE FROM taxonomy_categories WHERE tenant_id = %s AND name = %s RETURNING id",
        (tenant_id, name),
    ).fetchone()
    return row is not None


def examples_for_model(conn: Conn, tenant_id: UUID) -> list[dict[str, Any]]:
    """Every example of the tenant: id, category name, text and embedding (None: not yet)."""
    return conn.execute(
        """
        SELECT e.id, c.name AS category, e.text, e.embedding
        FROM taxonomy_examples e JOIN taxonomy_categories c ON c.id = e.category_id
        WHERE e.tenant_id = %s ORDER BY e.id
        """,
        (tenant_id,),
    ).fetchall()


def examples_to_embed(conn: Conn, tenant_id: UUID) -> list[dict[str, Any]]:
    """The tenant's examples that have no embedding yet: id and text."""
    return conn.execute(
        "SELECT id, text FROM taxonomy_examples WHERE tenant_id = %s AND embedding IS NULL "
        "ORDER BY id",
        (tenant_id,),
    ).fetchall()


def set_example_embeddings(conn: Conn, embeddings: Sequence[tuple[int, bytes]]) -> None:
    """Store the embeddings computed for examples (id, float32 bytes)."""
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE taxonomy_examples SET embedding = %s WHERE id = %s",
            [(blob, example_id) for example_id, blob in embeddings],
        )


def create_job(conn: Conn, tenant_id: UUID, requested_by: str) -> dict[str, Any] | None:
    """A queued re-categorisation job; None if one is already queued or running."""
    busy = conn.execute(
        """
        SELECT 1 FROM recategorize_jobs
        WHERE tenant_id = %s AND status IN ('queued', 'running') FOR UPDATE
        """,
        (tenant_id,),
    ).fetchone()
    if busy is not None:
        return None
    return conn.execute(
        f"""
        INSERT INTO recategorize_jobs (tenant_id, requested_by) VALUES (%s, %s)
        RETURNING {JOB_COLUMNS}
        """,
        (tenant_id, requested_by),
    ).fetchone()


JOB_COLUMNS = (
    "id, status, taxonomy_version, total, processed, changed, requested_by, created_at, "
    "started_at, finished_at, error"
)


def get_job(conn: Conn, tenant_id: UUID, job_id: UUID) -> dict[str, Any] | None:
    """One of the tenant's jobs."""
    return conn.execute(
        f"SELECT {JOB_COLUMNS} FROM recategorize_jobs WHERE tenant_id = %s AND id = %s",
        (tenant_id, job_id),
    ).fetchone()


def latest_job(conn: Conn, tenant_id: UUID) -> dict[str, Any] | None:
    """The tenant's most recent job, if any."""
    return conn.execute(
        f"""
        SELECT {JOB_COLUMNS} FROM recategorize_jobs WHERE tenant_id = %s
        ORDER BY created_at DESC LIMIT 1
        """,
        (tenant_id,),
    ).fetchone()


def job_tenant(conn: Conn, job_id: UUID) -> UUID | None:
    """The tenant a job belongs to (the worker's entry point has only the id)."""
    row = conn.execute(
        "SELECT tenant_id FROM recategorize_jobs WHERE id = %s", (job_id,)
    ).fetchone()
    return None if row is None else UUID(str(row["tenant_id"]))


def start_job(conn: Conn, job_id: UUID, taxonomy_version: int, total: int) -> bool:
    """Mark a queued job running; False if it is not queued (already taken or finished)."""
    row = conn.execute(
        """
        UPDATE recategorize_jobs SET status = 'running', started_at = now(),
            taxonomy_version = %s, total = %s
        WHERE id = %s AND status = 'queued' RETURNING id
        """,
        (taxonomy_version, total, job_id),
    ).fetchone()
    return row is not None


def advance_job(conn: Conn, job_id: UUID, processed: int, changed: int) -> None:
    """Add a page's counts to the job's progress."""
    conn.execute(
        """
        UPDATE recategorize_jobs SET processed = processed + %s, changed = changed + %s
        WHERE id = %s
        """,
        (processed, changed, job_id),
    )


def finish_job(conn: Conn, job_id: UUID, error: str | None = None) -> None:
    """Mark the job done, or failed with its error."""
    conn.execute(
        """
        UPDATE recategorize_jobs SET status = %s, error = %s, finished_at = now() WHERE id = %s
        """,
        ("failed" if error else "done", error, job_id),
    )


def count_complaint_analyses(conn: Conn, tenant_id: UUID) -> int:
    """How many of the tenant's analyses carry a category (those the model called complaints)."""
    row = conn.execute(
        "SELECT count(*) AS n FROM analyses WHERE tenant_id = %s AND complaint", (tenant_id,)
    ).fetchone()
    return int(row["n"]) if row else 0


def complaint_analyses_page(
    conn: Conn, tenant_id: UUID, after: UUID | None, limit: int
) -> list[dict[str, Any]]:
    """A page of the tenant's complaint analyses by feedback id: id, category, embedding."""
    return conn.execute(
        """
        SELECT feedback_id, complaint_category, embedding FROM analyses
        WHERE tenant_id = %s AND complaint AND (%s::uuid IS NULL OR feedback_id > %s::uuid)
        ORDER BY feedback_id LIMIT %s
        """,
        (tenant_id, after, after, limit),
    ).fetchall()


def recategorize(
    conn: Conn, tenant_id: UUID, changes: Sequence[tuple[UUID, str]], version_tag: str
) -> None:
    """Write new categories to analyses (with the taxonomy version) and to their complaints."""
    if not changes:
        return
    ids = [fid for fid, _ in changes]
    cats = [cat for _, cat in changes]
    conn.execute(
        """
        UPDATE analyses a SET complaint_category = u.cat,
            model_versions = a.model_versions || %s
        FROM unnest(%s::uuid[], %s::text[]) AS u(fid, cat)
        WHERE a.feedback_id = u.fid AND a.tenant_id = %s
        """,
        (Jsonb({"taxonomy": version_tag}), ids, cats, tenant_id),
    )
    conn.execute(
        """
        UPDATE complaints c SET category = u.cat, updated_at = now()
        FROM unnest(%s::uuid[], %s::text[]) AS u(fid, cat)
        WHERE c.feedback_id = u.fid AND c.tenant_id = %s
        """,
        (ids, cats, tenant_id),
    )


def model_stamps(conn: Conn, tenant_ids: Sequence[UUID]) -> dict[UUID, dict[str, Any]]:
    """What each tenant's own models depend on, in one query for a whole batch's tenants.

    Per tenant: ``stamp``, a cache key that changes whenever the models would (the
    taxonomy's version and mode, the corrections' count and latest time, the active
    heads), and ``unembedded``, how many of its examples still need an embedding.
    """
    rows = conn.execute(
        """
        SELECT t.id AS tenant_id, x.version, x.mode,
               (SELECT count(*) FROM corrections c WHERE c.tenant_id = t.id) AS corrections,
               (SELECT max(created_at) FROM corrections c WHERE c.tenant_id = t.id)
                   AS corrected_at,
               ARRAY(SELECT m.id::text FROM tenant_models m
                     WHERE m.tenant_id = t.id AND m.status = 'active' ORDER BY m.head) AS heads,
               (SELECT count(*) FROM taxonomy_examples e
                WHERE e.tenant_id = t.id AND e.embedding IS NULL) AS unembedded
        FROM unnest(%s::uuid[]) AS t(id) LEFT JOIN taxonomies x ON x.tenant_id = t.id
        """,
        (list(tenant_ids),),
    ).fetchall()
    return {
        r["tenant_id"]: {
            "stamp": (
                (r["version"], r["mode"]) if r["version"] is not None else None,
                (int(r["corrections"]), str(r["corrected_at"])),
                tuple(r["heads"]),
            ),
            "unembedded": int(r["unembedded"]),
        }
        for r in rows
    }
