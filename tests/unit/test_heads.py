"""Linear heads: probabilities match scikit-learn's and survive a save/load round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from nlp.heads import LinearHead


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
