"""Idempotent batch inserts: which inputs were new, and the existing id of each duplicate.

Feedback and interactions are both idempotent on (tenant, source, external_id): a batch is
inserted in one ``INSERT ... ON CONFLICT DO NOTHING`` with ids made by the caller, and
``outcome`` maps every input to its row.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from store.db import Conn


@dataclass(frozen=True)
class Inserted:
    """The id an item got, and whether it was already there."""

    id: UUID
    external_id: str | None
    duplicate: bool


def outcome(
    conn: Conn,
    table: Literal["feedback", "interactions"],
    tenant_id: UUID,
    ids: Sequence[UUID],
    keys: Sequence[tuple[str, str | None]],
    inserted: Collection[UUID],
) -> list[Inserted]:
    """One entry per input (``ids[k]`` made for the input with ``keys[k]`` = (source,
    external_id)), in input order: new when its id was inserted, else the existing row's
    id (including duplicates inside the same batch). The keys go as binary arrays: the
    text format escapes every element with a regex."""
    clashes = [key for new_id, key in zip(ids, keys, strict=True) if new_id not in inserted]
    existing: dict[tuple[str, str | None], UUID] = {}
    if clashes:
        found = conn.execute(
            f"""
            SELECT id, source, external_id FROM {table}
            WHERE tenant_id = %s AND (source, external_id) IN
                  (SELECT * FROM unnest(%b::text[], %b::text[]))
            """,
            (tenant_id, [c[0] for c in clashes], [c[1] for c in clashes]),
        ).fetchall()
        existing = {(r["source"], r["external_id"]): r["id"] for r in found}
    return [
        Inserted(new_id, key[1], duplicate=False)
        if new_id in inserted
        else Inserted(existing[key], key[1], duplicate=True)
        for new_id, key in zip(ids, keys, strict=True)
    ]
