"""Themes: the level above topics, with stable ids and analyst edits (names, moved topics).

A refit rewrites the automatic part (which theme an unpinned topic is in, each theme's
automatic name and size); the analyst's part (a theme's ``label``, a topic's
``theme_pinned`` place) is never touched by it, which is how those edits survive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from store.db import Conn


@dataclass(frozen=True)
class TopicPlace:
    """Where a stored topic stands for grouping: merged, noise, its theme and whether pinned."""

    id: int
    merged_into: int | None
    is_noise: bool
    theme_id: int | None
    pinned: bool


def topic_places(conn: Conn, tenant_id: UUID) -> dict[int, TopicPlace]:
    """Every topic of the tenant, by id."""
    rows = conn.execute(
        """
        SELECT id, merged_into, is_noise, theme_id, theme_pinned FROM topics
        WHERE tenant_id = %s ORDER BY id
        """,
        (tenant_id,),
    ).fetchall()
    return {
        r["id"]: TopicPlace(
            r["id"], r["merged_into"], r["is_noise"], r["theme_id"], r["theme_pinned"]
        )
        for r in rows
    }


def next_theme_id(conn: Conn, tenant_id: UUID) -> int:
    """The smallest theme id never used by this tenant."""
    row = conn.execute(
        "SELECT coalesce(max(id) + 1, 0) AS n FROM topic_themes WHERE tenant_id = %s",
        (tenant_id,),
    ).fetchone()
    return int(row["n"]) if row else 0


@dataclass(frozen=True)
class FittedTheme:
    """A theme of the latest grouping: its stable id, automatic name and items."""

    id: int
    auto_label: str
    size: int


def save_themes(
    conn: Conn, tenant_id: UUID, themes: Sequence[FittedTheme], auto_theme: Mapping[int, int]
) -> None:
    """Upsert the grouping's themes, retire the others, and place every unpinned topic.

    ``auto_theme`` maps each unpinned topic that was grouped to its theme; every other
    unpinned topic (retired, merged) is left in none. Analyst fields (a theme's label,
    pinned topics) are not touched.
    """
    conn.execute(
        "UPDATE topic_themes SET active = false, size = 0, updated_at = now() WHERE tenant_id = %s",
        (tenant_id,),
    )
    with conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO topic_themes (tenant_id, id, auto_label, size, active)
            VALUES (%s, %s, %s, %s, true)
            ON CONFLICT (tenant_id, id) DO UPDATE SET auto_label = EXCLUDED.auto_label,
                size = EXCLUDED.size, active = true, updated_at = now()
            """,
            [(tenant_id, t.id, t.auto_label, t.size) for t in themes],
        )
    # NOT theme_pinned twice: the outer test is re-read on a row an analyst pinned while
    # the refit ran, so that move is not overwritten.
    conn.execute(
        """
        UPDATE topics SET theme_id = u.theme
        FROM (SELECT t.id, m.theme FROM topics t
              LEFT JOIN unnest(%s::int[], %s::int[]) AS m(topic, theme) ON m.topic = t.id
              WHERE t.tenant_id = %s AND NOT t.theme_pinned) u
        WHERE topics.tenant_id = %s AND topics.id = u.id AND NOT topics.theme_pinned
          AND topics.theme_id IS DISTINCT FROM u.theme
        """,
        (list(auto_theme), list(auto_theme.values()), tenant_id, tenant_id),
    )


_THEME_COLUMNS = """
    id, auto_label, label, coalesce(label, auto_label) AS name, size, active, created_at,
    updated_at
"""


def list_themes(conn: Conn, tenant_id: UUID) -> list[dict[str, Any]]:
    """Every theme of the tenant, active or not."""
    return conn.execute(
        f"SELECT {_THEME_COLUMNS} FROM topic_themes WHERE tenant_id = %s ORDER BY id",
        (tenant_id,),
    ).fetchall()


def get_theme(conn: Conn, tenant_id: UUID, theme_id: int) -> dict[str, Any] | None:
    """One theme's stored fields."""
    return conn.execute(
        f"SELECT {_THEME_COLUMNS} FROM topic_themes WHERE tenant_id = %s AND id = %s",
        (tenant_id, theme_id),
    ).fetchone()


def rename_theme(conn: Conn, tenant_id: UUID, theme_id: int, label: str | None) -> bool:
    """Name a theme (None: back to its automatic name); False if it does not exist."""
    row = conn.execute(
        """
        UPDATE topic_themes SET label = %s, updated_at = now()
        WHERE tenant_id = %s AND id = %s RETURNING id
        """,
        (label, tenant_id, theme_id),
    ).fetchone()
    return row is not None


class MoveError(ValueError):
    """A topic that cannot be moved (it was merged into another)."""


def move_topic(conn: Conn, tenant_id: UUID, topic_id: int, theme_id: int | None) -> None:
    """Pin a topic to an active theme, or (``None``) take it out and let the next refit
    place it.

    Raises LookupError for an unknown topic or theme, MoveError for a merged topic
    (its items count under the topic it was merged into, and so in that one's theme).
    """
    topic = conn.execute(
        "SELECT merged_into FROM topics WHERE tenant_id = %s AND id = %s FOR UPDATE",
        (tenant_id, topic_id),
    ).fetchone()
    if topic is None:
        raise LookupError("no such topic")
    if theme_id is None:
        # Out of the theme it was put in, so the next refit's grouping does not count it
        # as that theme's own: it leaves the topic in no theme until then.
        conn.execute(
            """
            UPDATE topics SET theme_id = NULL, theme_pinned = false, updated_at = now()
            WHERE tenant_id = %s AND id = %s
            """,
            (tenant_id, topic_id),
        )
        return
    if topic["merged_into"] is not None:
        raise MoveError("a merged topic counts in the theme of the topic it was merged into")
    theme = conn.execute(
        "SELECT 1 FROM topic_themes WHERE tenant_id = %s AND id = %s AND active",
        (tenant_id, theme_id),
    ).fetchone()
    if theme is None:
        raise LookupError("no such theme")
    conn.execute(
        """
        UPDATE topics SET theme_id = %s, theme_pinned = true, updated_at = now()
        WHERE tenant_id = %s AND id = %s
        """,
        (theme_id, tenant_id, topic_id),
    )
