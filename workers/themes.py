"""Group a refit's topics into themes and store them with stable ids.

Runs inside the refit's write transaction (workers.topics), after the topics got
their stable ids, so topics and themes change together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

import numpy as np
import numpy.typing as npt

from nlp.topics import themes as theme_model
from store import themes as themes_store
from store.db import Conn


@dataclass(frozen=True)
class GroupedTopic:
    """A topic of the new fit as grouping reads it."""

    id: int
    centroid: npt.NDArray[np.float32]
    size: int
    keywords: Sequence[tuple[str, float]]
    language: str


def regroup_themes(
    conn: Conn,
    tenant_id: UUID,
    topics: Sequence[GroupedTopic],
    keyword_languages: Mapping[str, str],
    distance: float,
) -> int:
    """Group the fit's topics into themes; return how many themes are active.

    Topics merged into another are left out (their items count under that one);
    topics an analyst moved stay in their theme and take no part in the clustering,
    so a moved topic cannot pull two themes together. The rest are clustered
    (:func:`nlp.topics.themes.group_topics`) and each group continues the old theme
    holding most of the same topics, or gets a new id.
    """
    places = themes_store.topic_places(conn, tenant_id)
    roots = [t for t in topics if t.id in places and places[t.id].merged_into is None]
    pinned = {
        t.id: theme
        for t in roots
        if places[t.id].pinned and (theme := places[t.id].theme_id) is not None
    }
    free = [t for t in roots if t.id not in pinned]
    groups = theme_model.group_topics(
        np.stack([t.centroid for t in free]) if free else np.zeros((0, 1), np.float32),
        [t.size for t in free],
        distance,
    )
    new_sets = [[free[i].id for i in group] for group in groups]
    old: dict[int, set[int]] = defaultdict(set)
    for place in places.values():
        if place.theme_id is not None and not place.pinned:
            old[place.theme_id].add(place.id)
    sizes = {t.id: float(t.size) for t in topics}
    matched = theme_model.match_themes(old, new_sets, sizes)
    next_id = themes_store.next_theme_id(conn, tenant_id)
    auto_theme: dict[int, int] = {}
    members: dict[int, list[int]] = defaultdict(list)
    for old_id, group in zip(matched, new_sets, strict=True):
        if old_id is None:
            old_id, next_id = next_id, next_id + 1
        for topic_id in group:
            auto_theme[topic_id] = old_id
            members[old_id].append(topic_id)
    for topic_id, theme_id in pinned.items():
        members[theme_id].append(topic_id)
    by_id = {t.id: t for t in roots}
    fitted = []
    for theme_id, topic_ids in sorted(members.items()):
        # Noise topics belong somewhere but should not name a theme.
        named = [i for i in topic_ids if not places[i].is_noise] or topic_ids
        label = theme_model.theme_label(
            [
                theme_model.ThemeMember(by_id[i].keywords, by_id[i].size, by_id[i].language)
                for i in named
            ],
            keyword_languages,
        )
        size = sum(by_id[i].size for i in topic_ids)
        fitted.append(themes_store.FittedTheme(theme_id, label, size))
    themes_store.save_themes(conn, tenant_id, fitted, auto_theme)
    return len(fitted)
