"""Interval estimates and the CSAT-drop test."""

from __future__ import annotations

import pytest

from workers.signals import DropRule, drop_test, nps_interval, segment_figures, wilson


def test_wilson_interval_brackets_the_proportion() -> None:
    assert wilson(0, 0) is None
    low, high = wilson(40, 100) or (0, 0)
    assert low < 0.4 < high and high - low == pytest.approx(0.19, abs=0.01)
    low, high = wilson(0, 10) or (0, 0)
    assert low == 0 and 0 < high < 0.35
    narrow = wilson(400, 1000) or (0, 0)
    assert narrow[1] - narrow[0] < high - low


def test_nps_interval() -> None:
    assert nps_interval(0, 0, 0) is None
    score, low, high = nps_interval(50, 20, 100) or (0, 0, 0)
    assert score == pytest.approx(30) and low < 30 < high
    assert nps_interval(10, 0, 10) == (100, 100, 100)


def test_drop_needs_size_significance_and_magnitude() -> None:
    rule = DropRule(min_n=30, min_drop=0.1, z=2.58)
    assert drop_test(10, 50, 40, 50, rule)[0]  # 20% against 80%
    assert not drop_test(10, 20, 40, 50, rule)[0]  # too few recent items
    assert not drop_test(37, 50, 40, 50, rule)[0]  # 74% against 80%: too small
    assert not drop_test(45, 50, 40, 50, rule)[0]  # a rise


def test_segment_figures_put_real_scores_beside_inferred_ones() -> None:
    sums = {
        "n": 10,
        "satisfied_sum": 6.0,
        "promoters": 3,
        "detractors": 2,
        "rated_n": 4,
        "rated_satisfied": 2,
        "rated_inferred_sum": 3.0,
        "rated_abs_error_sum": 2.0,
        "surveyed_n": 0,
        "survey_promoters": 0,
        "survey_detractors": 0,
        "surveyed_inferred_promoters": 0,
        "surveyed_inferred_detractors": 0,
    }
    f = segment_figures(sums)
    assert f["inferred_csat_pct"] == 60 and f["inferred_nps"] == 10
    assert f["real_csat_pct"] == 50 and f["csat_calibration_error_pct"] == 25
    assert f["stars_mae"] == 0.5
    assert f["real_nps"] is None and f["surveyed_n"] == 0
    ci = f["inferred_csat_ci"]
    assert ci[0] < 60 < ci[1]
