"""The few-shot taxonomy classifier and the tenant head refit, on small synthetic embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from nlp.components.heads import LinearHead
from nlp.components.prototypes import PrototypeClassifier
from nlp.training.tenant_heads import fit_head, macro_f1, predict, softmax_form


def _clusters(n_per: int, seed: int = 0, spread: float = 0.3) -> tuple[list[str], np.ndarray]:
    """Three classes around random directions, plus a shared offset (like e5's)."""
    rng = np.random.default_rng(seed)
    dim = 32
    common = rng.normal(size=dim) * 3
    centres = rng.normal(size=(3, dim))
    labels, rows = [], []
    for k, name in enumerate(("a", "b", "c")):
        for _ in range(n_per):
            labels.append(name)
            rows.append(common + centres[k] + spread * rng.normal(size=dim))
    x = np.array(rows, dtype=np.float32)
    return labels, x / np.linalg.norm(x, axis=1, keepdims=True)


def test_nearest_prototype_is_calibrated_and_accurate() -> None:
    labels, x = _clusters(5)
    model = PrototypeClassifier.fit(labels, x)
    assert model.classes == ("a", "b", "c") and model.n_members == (5, 5, 5)
    test_labels, test_x = _clusters(20, seed=0)
    probs = model.predict_proba(test_x)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    predicted = [c for c, _ in model.predict(test_x)]
    assert macro_f1(test_labels, [str(p) for p in predicted]) > 0.95
    # A temperature from leave-one-out: confident but not one-hot.
    assert 0.005 <= model.temperature < 1.0


def test_open_set_rejects_what_is_far_from_every_prototype() -> None:
    labels, x = _clusters(6)
    model = PrototypeClassifier.fit(labels, x, open_set=True)
    assert model.reject_similarity is not None
    best, _ = model.predict(x[:1])[0]
    assert best == "a"
    far = -x[:1]
    assert model.predict(far)[0][0] is None
    assert float(model.predict_proba(far).sum()) < 0.5


def test_class_order_follows_the_taxonomy_and_drops_empty_classes() -> None:
    labels, x = _clusters(3)
    model = PrototypeClassifier.fit(labels, x, classes=["c", "z", "a", "b"])
    assert model.classes == ("c", "a", "b")
    with pytest.raises(ValueError):
        PrototypeClassifier.fit(labels, x, classes=["z"])


def test_refit_moves_from_the_prior_towards_the_corrections() -> None:
    labels, x = _clusters(10, seed=1)
    classes = ("a", "b", "c")
    # A prior that has it backwards: says "c" where the truth is "a".
    wrong = fit_head(x, [{"a": "c", "b": "b", "c": "a"}[y] for y in labels], classes)
    assert macro_f1(labels, predict(wrong, x)) < 0.5
    refit = fit_head(x, labels, classes, prior=wrong)
    assert macro_f1(labels, predict(refit, x)) == 1.0
    # With no data pull at all the prior stands.
    assert predict(fit_head(x[:1], ["a"], classes, prior=wrong, strength=1e6), x) == predict(
        wrong, x
    )


def test_binary_heads_stored_as_one_row_keep_their_probabilities() -> None:
    head = LinearHead(
        ("no", "yes"), np.array([[1.0, -2.0]], np.float32), np.array([0.5], np.float32)
    )
    w, b = softmax_form(head)
    as_softmax = LinearHead(head.classes, w.astype(np.float32), b.astype(np.float32))
    x = np.array([[0.3, 0.1], [-1.0, 2.0]], np.float32)
    assert np.allclose(head.predict_proba(x), as_softmax.predict_proba(x), atol=1e-6)


def test_macro_f1_counts_only_classes_in_the_truth() -> None:
    assert macro_f1(["a", "a", "b"], ["a", "a", "b"]) == 1.0
    assert macro_f1(["a", "b"], ["b", "a"]) == 0.0
    assert macro_f1([], []) == 0.0


def test_a_single_category_in_an_open_set_still_rejects_strangers() -> None:
    labels, x = _clusters(4)
    only_a = [i for i, label in enumerate(labels) if label == "a"]
    model = PrototypeClassifier.fit(["a"] * len(only_a), x[only_a], open_set=True)
    assert model.reject_similarity is not None and model.reject_similarity > 0.5
    assert model.predict(x[only_a[:1]])[0][0] == "a"
    strangers = [i for i, label in enumerate(labels) if label != "a"]
    assert all(best is None for best, _ in model.predict(x[strangers]))
