"""Themes: grouping topic centroids, keeping theme ids, naming themes."""

from __future__ import annotations

import numpy as np
import pytest

from nlp.topics.themes import ThemeMember, group_topics, match_themes, theme_label


def _around(
    centre: np.ndarray, n: int, spread: float, rng: np.random.Generator
) -> list[np.ndarray]:
    return [centre + spread * rng.standard_normal(centre.shape) for _ in range(n)]


def test_topics_near_each_other_share_a_theme_and_far_ones_do_not() -> None:
    rng = np.random.default_rng(3)
    axes = np.eye(16)
    # Three subjects, each split into several topics (as a fit splits them by wording).
    rows = _around(axes[0], 3, 0.08, rng) + _around(axes[1], 2, 0.08, rng)
    rows += _around(axes[2], 4, 0.08, rng)
    centroids = np.stack(rows).astype(np.float32)
    sizes = [10, 20, 30, 100, 5, 1, 1, 1, 1]
    groups = group_topics(centroids, sizes, distance=0.5)
    assert sorted(sorted(g) for g in groups) == [[0, 1, 2], [3, 4], [5, 6, 7, 8]]
    # Largest theme (by items) first.
    assert sorted(groups[0]) == [3, 4]
    # A threshold under every distance leaves one topic per theme, one over all of them
    # makes one theme.
    assert len(group_topics(centroids, sizes, distance=0.01)) == len(rows)
    assert len(group_topics(centroids, sizes, distance=1.99)) == 1


def test_grouping_handles_no_topic_and_one_topic() -> None:
    assert group_topics(np.zeros((0, 4), np.float32), [], 0.5) == []
    assert group_topics(np.ones((1, 4), np.float32), [3], 0.5) == [[0]]


def test_a_group_continues_the_theme_holding_most_of_its_items() -> None:
    old = {0: {1, 2}, 1: {3, 4, 5}, 2: {6}}
    weight = {1: 100.0, 2: 5.0, 3: 10.0, 4: 10.0, 5: 10.0, 6: 3.0, 7: 50.0}
    new = [[1], [3, 4], [5, 6], [7]]
    # [1] keeps 100 of theme 0's 105 items; [3, 4] two thirds of theme 1; [5, 6] shares
    # under half of anything; [7] is new.
    assert match_themes(old, new, weight) == [0, 1, None, None]
    # One to one: two groups cannot both continue theme 0.
    assert match_themes({0: {1, 2}}, [[1], [2]], {1: 10.0, 2: 10.0}, overlap=0.4) == [0, None]
    assert match_themes({}, new, weight) == [None] * 4


@pytest.mark.parametrize(
    ("sizes", "first"),
    [((30, 10), "giao hàng"), ((10, 30), "delivery")],
)
def test_a_theme_is_named_in_the_language_of_most_of_its_items(
    sizes: tuple[int, int], first: str
) -> None:
    vi = ThemeMember([("giao hàng", 3.0), ("chậm", 2.0), ("shipper", 1.0)], sizes[0], "vi")
    en = ThemeMember([("delivery", 4.0), ("late", 3.0)], sizes[1], "en")
    languages = {"giao hàng": "vi", "chậm": "vi", "shipper": "vi", "delivery": "en", "late": "en"}
    label = theme_label([vi, en], languages)
    own, other = label.split(" / ")
    assert own.split(" · ")[0] == first
    assert {own.split(" · ")[0], other.split(" · ")[0]} == {"giao hàng", "delivery"}
