"""Mapping source labels onto ours, and deterministic splits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlp.training.corpora import discover, in_dev_split, to_example


def test_airline_reasons_map_onto_the_taxonomy() -> None:
    late = to_example(
        "twitter-airline", {"text": "3h late", "sentiment": "negative", "category": "Late Flight"}
    )
    assert (late.complaint, late.category, late.sentiment) == (True, "delivery", "negative")
    unclear = to_example(
        "twitter-airline", {"text": "ugh", "sentiment": "negative", "category": "Can't Tell"}
    )
    assert (unclear.complaint, unclear.category) == (None, None)
    praise = to_example("twitter-airline", {"text": "thanks!", "sentiment": "positive"})
    assert (praise.complaint, praise.category) == (False, None)


def test_visfd_weak_labels_from_stars_and_negative_aspects() -> None:
    row = {
        "text": "pin tụt nhanh",
        "stars": 1,
        "aspects": [{"aspect": "BATTERY", "polarity": "negative"}],
    }
    example = to_example("uit-visfd", row)
    assert (example.complaint, example.category, example.stars) == (True, "product_quality", 1)
    mixed = to_example(
        "uit-visfd",
        {
            "text": "đắt, pin yếu",
            "stars": 2,
            "aspects": [
                {"aspect": "PRICE", "polarity": "negative"},
                {"aspect": "BATTERY", "polarity": "negative"},
            ],
        },
    )
    assert (mixed.complaint, mixed.category) == (True, None)
    assert to_example("uit-visfd", {"text": "ổn", "stars": 3}).complaint is None
    assert to_example("uit-visfd", {"text": "tốt", "stars": 5}).complaint is False


def test_our_own_labels_pass_through() -> None:
    example = to_example(
        "seed",
        {
            "text": "x",
            "lang": "vi",
            "sentiment": "neutral",
            "complaint": True,
            "category": "refund_return",
            "rating": 2,
        },
    )
    assert (example.sentiment, example.complaint, example.category, example.stars) == (
        "neutral",
        True,
        "refund_return",
        2,
    )
    assert to_example("seed", {"text": "x", "sentiment": "angry", "stars": 9}).sentiment is None


def test_split_is_deterministic_and_about_a_fifth() -> None:
    ids = [f"row-{i}" for i in range(5000)]
    first = [in_dev_split(i) for i in ids]
    assert first == [in_dev_split(i) for i in ids]
    assert 0.17 < sum(first) / len(ids) < 0.23


def test_discover_reads_files_set_folders_and_parents(tmp_path: Path) -> None:
    one = tmp_path / "sets" / "alpha"
    one.mkdir(parents=True)
    (one / "train.jsonl").write_text(json.dumps({"text": "a", "sentiment": "positive"}) + "\n")
    (one / "dev.jsonl").write_text(json.dumps({"text": "b", "sentiment": "negative"}) + "\n")
    loose = tmp_path / "mine.jsonl"
    loose.write_text("\n".join(json.dumps({"id": f"r{i}", "text": f"t{i}"}) for i in range(50)))
    found = {c.name: c for c in discover([tmp_path / "sets", one, loose])}
    assert set(found) == {"alpha", "mine"}
    assert [e.text for e in found["alpha"].dev] == ["b"]
    assert len(found["mine"].train) + len(found["mine"].dev) == 50 and found["mine"].dev


def test_bad_lines_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{not json}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: not JSON"):
        discover([bad])
    with pytest.raises(FileNotFoundError):
        discover([tmp_path / "missing"])
