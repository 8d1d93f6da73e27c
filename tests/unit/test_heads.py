"""Linear heads: probabilities match scikit-learn's and survive a save/load round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from nlp.components.heads import LinearHead, OrdinalHead, load_head
from nlp.training.heads import STRENGTHS, best_threshold, fit_head, fit_ordinal


@pytest.mark.parametrize("n_classes", [2, 3])
def test_matches_sklearn_and_round_trips(tmp_path: Path, n_classes: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 8)).astype(np.float32)
    y = np.array([f"c{i % n_classes}" for i in range(60)])
    model = LogisticRegression(max_iter=500).fit(x, y)
    head = LinearHead(tuple(model.classes_), model.coef_.astype(np.float32), model.intercept_)
    head.save(tmp_path / "head.npz")
    loaded = LinearHead.load(tmp_path / "head.npz")
    assert loaded.classes == tuple(f"c{i}" for i in range(n_classes))
    np.testing.assert_allclose(loaded.predict_proba(x), model.predict_proba(x), atol=1e-5)
    np.testing.assert_allclose(loaded.predict_proba(x).sum(axis=1), 1.0, atol=1e-6)


def _ordinal(rng: np.random.Generator) -> OrdinalHead:
    return OrdinalHead(
        ("low", "medium", "high", "critical"),
        rng.normal(size=(3, 8)).astype(np.float32),
        rng.normal(size=3).astype(np.float32),
    )


def test_ordinal_probabilities_are_a_distribution() -> None:
    rng = np.random.default_rng(1)
    head = _ordinal(rng)
    x = (rng.normal(size=(200, 8)) * 3).astype(np.float32)
    probs = head.predict_proba(x)
    assert probs.shape == (200, 4)
    assert (probs >= 0).all()  # even where the per-threshold models cross
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("kind", [LinearHead, OrdinalHead])
def test_load_head_round_trips_both_kinds(tmp_path: Path, kind: type[LinearHead]) -> None:
    rng = np.random.default_rng(2)
    rows = 3 if kind is OrdinalHead else 4  # one per threshold, one per class
    classes = ("low", "medium", "high", "critical")
    weights = rng.normal(size=(rows, 8)).astype(np.float32)
    head = kind(classes, weights, rng.normal(size=rows).astype(np.float32))
    head.save(tmp_path / "head.npz")
    loaded = load_head(tmp_path / "head.npz")
    assert type(loaded) is kind and loaded.classes == head.classes
    x = rng.normal(size=(5, 8)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict_proba(x), head.predict_proba(x), atol=1e-6)


def test_fit_ordinal_separates_ordered_classes() -> None:
    order = ("low", "medium", "high", "critical")
    rng = np.random.default_rng(3)
    rank = rng.integers(0, 4, size=400)
    x = rng.normal(scale=0.3, size=(400, 4)).astype(np.float32)
    x[:, 0] += 2.0 * rank  # the first feature orders the classes
    y = [order[r] for r in rank]
    head, strength, metrics = fit_ordinal(x[:300], y[:300], x[300:], y[300:], ["g"] * 100, order)
    assert isinstance(head, OrdinalHead) and head.classes == order
    assert head.weights.shape == (3, 4) and strength in STRENGTHS
    predicted = np.array(order)[head.predict_proba(x[300:]).argmax(1)]
    assert (predicted == np.array(y[300:])).mean() > 0.9
    assert metrics["dev"]["adjacent"] == 1.0


def test_best_threshold_maximises_f1() -> None:
    # p(yes) from the single feature: yes rows at 0.6 and 0.7, no rows at 0.2, 0.25 and 0.65.
    head = LinearHead(("no", "yes"), np.array([[1.0]], np.float32), np.array([0.0], np.float32))
    p = np.array([0.6, 0.7, 0.2, 0.25, 0.65])
    x = np.log(p / (1 - p)).astype(np.float32)[:, None]
    y = ["yes", "yes", "no", "no", "no"]
    threshold = best_threshold(head, x, y)
    # above 0.25 and up to 0.6 both yes rows and the 0.65 no row are flagged: F1 0.8, the best
    # (0.65 < t <= 0.7 keeps one yes alone: F1 0.67; t <= 0.25 flags four: F1 0.67).
    assert 0.25 < threshold <= 0.6
    probs = head.predict_proba(x)[:, 1]

    def f1(t: float) -> float:
        guess = probs >= t
        truth = np.array(y) == "yes"
        return 2 * float((guess & truth).sum()) / float(guess.sum() + truth.sum())

    assert f1(threshold) == max(f1(t) for t in np.linspace(0.05, 0.95, 91))


def test_fit_head_weighs_rows_by_their_sample_weight() -> None:
    # Two sources with opposite conventions, 40 rows of each class apiece: source A says yes
    # at x = +1 and no at -1, source B the reverse. Alike they cancel out (p(yes) near 0.5
    # everywhere); weighing A 4x must make p(yes | +1) high.
    rng = np.random.default_rng(5)
    x = np.repeat([1.0, 1.0, -1.0, -1.0], 40)[:, None].astype(np.float32)
    x = x + rng.normal(scale=0.05, size=x.shape).astype(np.float32)
    y = ["yes"] * 40 + ["no"] * 40 + ["no"] * 40 + ["yes"] * 40
    source_a = list(range(40)) + list(range(80, 120))
    weights = [4.0 if i in source_a else 1.0 for i in range(160)]
    probe = np.array([[1.0]], np.float32)

    def p_yes(sample_weight: list[float] | None) -> float:
        head, _, _ = fit_head(
            x,
            y,
            x[source_a],
            [y[i] for i in source_a],
            ["g"] * len(source_a),
            sample_weight=sample_weight,
        )
        return float(head.predict_proba(probe)[0, head.classes.index("yes")])

    assert abs(p_yes(None) - 0.5) < 0.1
    assert p_yes(weights) > 0.7
