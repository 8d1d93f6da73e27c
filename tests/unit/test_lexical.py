"""Hashed n-gram features and the heads that read them: the same columns at training and
serving, sparse heads that survive a save/load, and partial retraining of a models folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression

from nlp.components.base import Doc
from nlp.components.cues import CuesStep
from nlp.components.features import doc_features, head_features, text_features
from nlp.components.heads import LinearHead, OrdinalHead, load_head
from nlp.components.lexical import N_FEATURES, CharNgrams
from nlp.components.normalize import NormalizeStep
from nlp.types import FeedbackText

TEXTS = [
    "Giao hàng quá chậm, đơn trễ hai tuần",
    "Tài khoản bị khóa, không đăng nhập được",
    "My parcel arrived two weeks late",
    "Refund still not received after return",
]


def test_unaccented_vietnamese_shares_most_of_its_features() -> None:
    grams = CharNgrams.fit(TEXTS)
    rows = grams.transform(
        ["giao hàng quá chậm", "giao hang qua cham", "refund not received"]
    ).toarray()
    assert rows.shape == (3, N_FEATURES)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    assert rows[0] @ rows[1] > 0.6  # typed without diacritics: mostly the same n-grams
    assert rows[0] @ rows[2] < 0.1


def test_rare_ngrams_weigh_more_and_weighting_round_trips(tmp_path: Path) -> None:
    grams = CharNgrams.fit(TEXTS)
    assert grams.idf.max() > grams.idf.min()
    grams.save(tmp_path / "lexical.npz")
    again = CharNgrams.load(tmp_path / "lexical.npz")
    np.testing.assert_array_equal(again.idf, grams.idf)
    np.savez(tmp_path / "old.npz", idf=grams.idf, version=np.array("chargram-0"))
    with pytest.raises(ValueError, match="retrain"):
        CharNgrams.load(tmp_path / "old.npz")


def test_serving_builds_the_columns_training_built() -> None:
    grams = CharNgrams.fit(TEXTS)
    docs = [Doc(FeedbackText(text=t, channel="review")) for t in TEXTS]
    NormalizeStep()(docs)
    CuesStep()(docs)
    rng = np.random.default_rng(0)
    for doc in docs:
        doc.embedding = rng.normal(size=8).astype(np.float32)
    rows = grams.transform([d.text.text for d in docs if d.text is not None])
    for index, doc in enumerate(docs):
        doc.lexical = rows[index]
    blocks = ("embedding", "cues", "lexical")
    served = doc_features(docs, blocks)
    trained = text_features(
        np.stack([d.embedding for d in docs if d.embedding is not None]),
        [d.text.text for d in docs if d.text is not None],
        blocks,
        grams,
    )
    assert served.shape == (4, 8 + 3 + N_FEATURES)
    assert (abs(served - trained)).max() == 0


def test_head_features_defaults_and_validation() -> None:
    assert head_features("category", {}) == ("embedding",)
    assert head_features("churn", {}) == ("embedding", "cues")
    assert head_features("churn", {"features": ["embedding", "lexical"]}) == (
        "embedding",
        "lexical",
    )
    with pytest.raises(ValueError, match="must start with 'embedding'"):
        head_features("category", {"features": ["lexical"]})
    with pytest.raises(ValueError, match="name only"):
        head_features("category", {"features": ["embedding", "bag_of_words"]})


@pytest.mark.parametrize("kind", [LinearHead, OrdinalHead])
def test_sparse_heads_round_trip_and_scale(tmp_path: Path, kind: type[LinearHead]) -> None:
    rng = np.random.default_rng(3)
    x = csr_matrix(rng.random((30, 500)) * (rng.random((30, 500)) > 0.95), dtype=np.float32)
    y = np.array(["low", "medium", "high", "critical"])[rng.integers(0, 4, 30)]
    model = LogisticRegression(max_iter=300).fit(x, y)
    rows = 3 if kind is OrdinalHead else 4
    head = kind(
        tuple(model.classes_)[:4],
        csr_matrix(model.coef_[:rows].astype(np.float32)),
        model.intercept_[:rows].astype(np.float32),
    )
    head.save(tmp_path / "head.npz")
    loaded = load_head(tmp_path / "head.npz")
    assert type(loaded) is kind
    np.testing.assert_allclose(loaded.predict_proba(x), head.predict_proba(x), atol=1e-6)
    np.testing.assert_allclose(loaded.scaled(0.5).logits(x), 0.5 * head.logits(x), atol=1e-5)
    if kind is LinearHead:  # the sparse weights give scikit-learn's probabilities
        np.testing.assert_allclose(loaded.predict_proba(x), model.predict_proba(x), atol=1e-5)
    part = loaded.embedding_part(10)
    assert part.dense_weights.shape == (rows, 10)
    np.testing.assert_allclose(part.dense_weights, head.dense_weights[:, :10])


def test_partial_retraining_keeps_the_other_heads(
    trained_dir: Path, labelled_dir: Path, tmp_path: Path, encoder: object
) -> None:
    from shutil import copytree

    from nlp.training.heads import train_all

    out = tmp_path / "models"
    copytree(trained_dir, out)
    before = json.loads((out / "manifest.json").read_text())
    after = train_all([labelled_dir], out, encoder, heads=["category"])  # type: ignore[arg-type]
    assert after["heads"]["sentiment"] == before["heads"]["sentiment"]
    assert after["aspects"] == before["aspects"]
    assert after["heads"]["category"]["features"] == ["embedding", "lexical"]
    assert after["lexical"]["path"] == "lexical.npz" and (out / "lexical.npz").is_file()
    with pytest.raises(ValueError, match="unknown heads"):
        train_all([labelled_dir], out, encoder, heads=["mood"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="does not exist"):
        train_all([labelled_dir], tmp_path / "empty", encoder, heads=["category"])  # type: ignore[arg-type]


def test_partial_retraining_refuses_to_orphan_another_lexical_head(
    trained_dir: Path, labelled_dir: Path, tmp_path: Path, encoder: object
) -> None:
    from shutil import copytree

    from nlp.training.heads import train_all

    out = tmp_path / "models"
    copytree(trained_dir, out)
    manifest = json.loads((out / "manifest.json").read_text())
    # A kept head that reads the n-gram weighting which this run would refit.
    manifest["heads"]["sentiment"]["features"] = ["embedding", "lexical"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"retrain \['sentiment'\]"):
        train_all([labelled_dir], out, encoder, heads=["category"])  # type: ignore[arg-type]
