"""Changing a tenant's taxonomy: shared by the JSON API and the dashboard pages.

Every change bumps the taxonomy's version in the same transaction. New analyses use
the new taxonomy as soon as a worker has embedded the examples (it does so before its
next batch for the tenant); stored analyses keep their category until a
re-categorisation job is requested.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from celery import Celery

from api.errors import ApiError
from api.taxonomy.schemas import NAME_PATTERN, CategoryIn, CategoryPatch
from nlp.types import COMPLAINT_CATEGORIES
from store import taxonomy as taxonomy_store
from store.db import Database
from workers.enqueue import enqueue_recategorize
from workers.taxonomy import effective_categories

MAX_CATEGORIES = 100
_NAME = re.compile(NAME_PATTERN)


def _require_name(name: str) -> None:
    """A name that cannot exist (bad characters, NUL...) is a 404 before any query."""
    if not _NAME.fullmatch(name):
        raise ApiError(404, "not_found", "No category by this name of your own.")


def job_out(row: dict[str, Any]) -> dict[str, Any]:
    """A job row with its progress fraction."""
    total = row["total"]
    return {**row, "progress": 1.0 if not total else round(row["processed"] / total, 4)}


def overview(db: Database, tenant_id: UUID) -> dict[str, Any]:
    """Mode, version, the categories in force, the tenant's own ones and the latest job."""
    with db.transaction() as conn:
        taxonomy = taxonomy_store.get_taxonomy(conn, tenant_id)
        own = taxonomy_store.list_categories(conn, tenant_id)
        job = taxonomy_store.latest_job(conn, tenant_id)
    mode = taxonomy["mode"] if taxonomy else None
    return {
        "mode": mode,
        "version": taxonomy["version"] if taxonomy else None,
        "categories": effective_categories(mode, [c["name"] for c in own]),
        "own": own,
        "latest_job": job_out(job) if job else None,
    }


def set_mode(db: Database, tenant_id: UUID, mode: str) -> None:
    """Replace or extend the default categories (creates the taxonomy if needed)."""
    with db.transaction() as conn:
        taxonomy_store.touch_taxonomy(conn, tenant_id, mode)


def _clashes(mode: str, name: str) -> bool:
    return mode == "extend" and name in COMPLAINT_CATEGORIES


def create_category(db: Database, tenant_id: UUID, body: CategoryIn) -> dict[str, Any]:
    """Add a category; 409 if the name is taken (or is a default one the tenant extends)."""
    with db.transaction() as conn:
        taxonomy = taxonomy_store.touch_taxonomy(conn, tenant_id)
        if _clashes(taxonomy["mode"], body.name):
            raise ApiError(
                409,
                "category_exists",
                f"{body.name!r} is a default category, which this taxonomy extends.",
            )
        if len(taxonomy_store.list_categories(conn, tenant_id)) >= MAX_CATEGORIES:
            raise ApiError(
                422, "too_many_categories", f"A taxonomy holds at most {MAX_CATEGORIES} categories."
            )
        if not taxonomy_store.insert_category(
            conn, tenant_id, body.name, body.description, _dedupe(body.examples)
        ):
            raise ApiError(409, "category_exists", f"There is already a category {body.name!r}.")
        row = taxonomy_store.get_category(conn, tenant_id, body.name)
    assert row is not None
    return row


def _dedupe(texts: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(texts))


def get_category(db: Database, tenant_id: UUID, name: str) -> dict[str, Any]:
    """One of the tenant's categories, or 404."""
    _require_name(name)
    with db.transaction() as conn:
        row = taxonomy_store.get_category(conn, tenant_id, name)
    if row is None:
        raise ApiError(404, "not_found", f"No category {name!r} of your own.")
    return row


def update_category(
    db: Database, tenant_id: UUID, name: str, body: CategoryPatch
) -> dict[str, Any]:
    """Change a category's description or examples, or 404."""
    _require_name(name)
    with db.transaction() as conn:
        taxonomy_store.touch_taxonomy(conn, tenant_id)
        current = taxonomy_store.get_category(conn, tenant_id, name)
        if current is None:
            raise ApiError(404, "not_found", f"No category {name!r} of your own.")
        known = set() if body.examples is not None else {e["text"] for e in current["examples"]}
        taxonomy_store.update_category(
            conn,
            tenant_id,
            name,
            body.description,
            _dedupe(body.examples) if body.examples is not None else None,
            [t for t in _dedupe(body.add_examples) if t not in known],
        )
        row = taxonomy_store.get_category(conn, tenant_id, name)
    assert row is not None
    return row


def delete_category(db: Database, tenant_id: UUID, name: str) -> None:
    """Remove a category, or 404. Stored analyses keep it until re-categorised."""
    _require_name(name)
    with db.transaction() as conn:
        taxonomy_store.touch_taxonomy(conn, tenant_id)
        if not taxonomy_store.delete_category(conn, tenant_id, name):
            raise ApiError(404, "not_found", f"No category {name!r} of your own.")


def request_recategorize(
    db: Database, queue: Celery, tenant_id: UUID, requested_by: str
) -> dict[str, Any]:
    """Queue a job that re-categorises the tenant's stored analyses; 409 if not possible."""
    with db.transaction() as conn:
        if not taxonomy_store.list_categories(conn, tenant_id):
            raise ApiError(409, "no_taxonomy", "Add a category of your own before re-categorising.")
        job = taxonomy_store.create_job(conn, tenant_id, requested_by)
    if job is None:
        raise ApiError(
            409, "recategorize_running", "A re-categorisation job is already queued or running."
        )
    if not enqueue_recategorize(queue, job["id"]):
        with db.transaction() as conn:
            taxonomy_store.finish_job(conn, job["id"], "the queue refused the job; request again")
        raise ApiError(503, "queue_unavailable", "The job could not be queued; retry later.")
    return job_out(job)


def get_job(db: Database, tenant_id: UUID, job_id: UUID) -> dict[str, Any]:
    """One of the tenant's jobs with its progress, or 404."""
    with db.transaction() as conn:
        row = taxonomy_store.get_job(conn, tenant_id, job_id)
    if row is None:
        raise ApiError(404, "not_found", "No job with this id.")
    return job_out(row)
