"""Themes: a tenant's topics grouped one level up, so "delivery" reads before its topics.

Pure computation, no database. After each refit the worker

- groups the topics by agglomerative clustering (average linkage, cosine distance)
  of their centroids, which live in the fit's spelling-centred space (see
  :func:`nlp.topics.model.center`), so a Vietnamese and an English topic on one
  subject are as close as two topics of one language;
- matches the new groups to the previous themes by the items they share, so a
  theme keeps its id (and an analyst's name for it) while it holds most of the
  same topics; and
- names each theme from its topics' keyphrases, in the language of most of its
  items with the other language beside it, as topic labels are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nlp.topics.model import bilingual_label, diverse_keywords

MATCH_OVERLAP = 0.5
"""Weighted Jaccard overlap of topics at or above which a new group continues a theme."""


def group_topics(
    centroids: npt.NDArray[np.float32], sizes: Sequence[int], distance: float
) -> list[list[int]]:
    """The topics (row indexes of ``centroids``) of each theme, the theme with most items first.

    Average linkage: two groups join when the mean cosine distance between their topics'
    centroids is under ``distance``, so one broad topic cannot chain unrelated ones
    together as single linkage would. Deterministic for the same centroids.
    """
    n = len(centroids)
    if n == 0:
        return []
    if n == 1:
        return [[0]]
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    unit = centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    tree = linkage(pdist(unit.astype(np.float64), "cosine"), method="average")
    flat = fcluster(tree, t=distance, criterion="distance")
    groups: dict[int, list[int]] = defaultdict(list)
    for index, cluster in enumerate(flat.tolist()):
        groups[int(cluster)].append(index)
    return sorted(groups.values(), key=lambda g: (-sum(sizes[i] for i in g), g[0]))


def match_themes(
    old: Mapping[int, Collection[int]],
    new: Sequence[Collection[int]],
    weight: Mapping[int, float],
    overlap: float = MATCH_OVERLAP,
) -> list[int | None]:
    """For each new group of topic ids, the id of the old theme it continues, or None.

    One-to-one (Hungarian assignment) on the Jaccard overlap of the two groups' topics,
    each topic weighted by its items (``weight``, at least 1), and only pairs at or
    above ``overlap`` count: a theme that kept its large topics keeps its id, one
    split in two continues as its larger half.
    """
    result: list[int | None] = [None] * len(new)
    old_ids = [theme for theme, members in old.items() if members]
    if not old_ids or not new:
        return result
    from scipy.optimize import linear_sum_assignment

    def mass(topics: Collection[int]) -> float:
        return sum(max(1.0, weight.get(t, 0.0)) for t in topics)

    scores = np.zeros((len(new), len(old_ids)))
    for r, group in enumerate(new):
        mine = set(group)
        for c, theme in enumerate(old_ids):
            theirs = set(old[theme])
            union = mass(mine | theirs)
            scores[r, c] = mass(mine & theirs) / union if union else 0.0
    rows, cols = linear_sum_assignment(-scores)
    for r, c in zip(rows, cols, strict=True):
        if scores[r, c] >= overlap:
            result[int(r)] = old_ids[int(c)]
    return result


@dataclass(frozen=True)
class ThemeMember:
    """What a theme's name is made from, per topic: its keyphrases, items and language."""

    keywords: Sequence[tuple[str, float]]
    size: int
    language: str
    """"vi" or "en": the language of most of the topic's items."""


def theme_label(
    members: Sequence[ThemeMember], keyword_languages: Mapping[str, str], n: int = 3
) -> str:
    """A theme's name: its topics' keyphrases pooled, in the language of most of its items.

    A phrase scores its weight within each topic (relative to that topic's best one)
    times the topic's items, summed over the theme's topics, so the largest topics
    lead the name; near-duplicates go as in topic labels, and the other language's
    best phrases stand after a slash (``giao hàng · chậm / delivery · late``).
    """
    pooled: dict[str, float] = defaultdict(float)
    vi_items = 0
    all_items = 0
    for member in members:
        size = max(1, member.size)
        all_items += size
        vi_items += size if member.language == "vi" else 0
        top = max((s for _, s in member.keywords), default=0.0) or 1.0
        for word, score in member.keywords:
            pooled[word] += size * score / top
    majority = "vi" if vi_items * 2 >= all_items else "en"
    ranked = sorted(pooled.items(), key=lambda kv: (-kv[1], kv[0]))
    return bilingual_label(diverse_keywords(ranked, 4 * n), keyword_languages, majority, n)
