"""The labelling tools: the keyword-enriched draw and the agreement figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlp.training.labelset import (
    CUES,
    agreement,
    agreement_markdown,
    draw,
    main,
    matches,
    negative,
)


def _set(root: Path, name: str, rows: list[dict[str, object]]) -> None:
    (root / name).mkdir(parents=True)
    with (root / name / "train.jsonl").open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


@pytest.fixture
def datasets(tmp_path: Path) -> Path:
    root = tmp_path / "datasets"
    _set(
        root,
        "aivivn-2019",
        [
            {
                "id": "a1",
                "lang": "vi",
                "text": "Nhắn tin shop không trả lời",
                "sentiment": "negative",
            },
            {
                "id": "a2",
                "lang": "vi",
                "text": "nhan tin shop khong tra loi",
                "sentiment": "negative",
            },
            {
                "id": "a3",
                "lang": "vi",
                "text": "Shop trả lời nhanh, tuyệt",
                "sentiment": "positive",
            },
            {"id": "a4", "lang": "vi", "text": "Giao hàng chậm", "sentiment": "negative"},
            {
                "id": "a6",
                "lang": "vi",
                "text": "Giao chậm, lần cuối mua ở đây",
                "sentiment": "negative",
            },
            {
                "id": "a5",
                "lang": "vi",
                "text": "NHẮN TIN shop KHÔNG trả lời",
                "sentiment": "negative",
            },
        ],
    )
    _set(
        root,
        "vlsp2018-absa",
        [
            {
                "id": "v1",
                "lang": "vi",
                "text": "Lễ tân không trả lời điện thoại",
                "aspects": [{"aspect": "SERVICE#GENERAL", "polarity": "negative"}],
            },
            {
                "id": "v2",
                "lang": "vi",
                "text": "Lễ tân không trả lời nhưng phòng đẹp",
                "aspects": [{"aspect": "ROOMS#DESIGN", "polarity": "positive"}],
            },
        ],
    )
    return root


def test_cues_match_as_written_and_without_diacritics() -> None:
    cues = CUES["vi"]["support_responsiveness"]
    assert matches("Shop KHÔNG TRẢ LỜI tin nhắn", cues)
    assert matches("shop khong tra loi", cues)
    assert not matches("Giao hàng nhanh", cues)


def test_negative_reads_sentiment_stars_and_aspects() -> None:
    assert negative({"sentiment": "negative"})
    assert not negative({"sentiment": "positive"})
    assert not negative({"stars": 5})
    assert negative({"stars": 2})
    assert not negative({"complaint": False})
    assert not negative({"aspects": [{"aspect": "X", "polarity": "positive"}]})
    assert negative({"aspects": [{"aspect": "X", "polarity": "negative"}]})


def test_draw_skips_labelled_rows_their_copies_positives_and_other_subjects(
    datasets: Path,
) -> None:
    drawn = draw(datasets, "vi", "support_responsiveness", 10, exclude={("aivivn-2019", "a2")})
    ids = sorted(str(r["id"]) for r in drawn)
    # a2 is labelled; a5 is a2's text again (case and spacing aside); a3 is positive; a4 has
    # no cue; v2's aspects are all positive.
    assert ids == ["a1", "v1"]
    assert all(set(r) == {"set", "id", "lang", "text"} for r in drawn)
    again = draw(datasets, "vi", "support_responsiveness", 10, exclude={("aivivn-2019", "a2")})
    assert again == drawn  # seeded
    assert len(draw(datasets, "vi", "support_responsiveness", 1, exclude=set())) == 1
    with pytest.raises(ValueError, match="no cues"):
        draw(datasets, "fr", "delivery", 1, exclude=set())


def test_churn_draws_rows_that_speak_of_leaving(datasets: Path) -> None:
    drawn = draw(datasets, "vi", "churn", 10, exclude=set())
    assert [r["id"] for r in drawn] == ["a6"]


def test_agreement_is_cohens_kappa_per_label() -> None:
    def row(i: int, category: str | None, severity: str, churn: bool = False) -> dict[str, object]:
        return {
            "set": "s",
            "id": str(i),
            "complaint": category is not None,
            "category": category,
            "churn_risk": churn,
            "severity": severity,
        }

    first = [row(1, "delivery", "medium"), row(2, None, "low"), row(3, "other", "high", True)]
    same = agreement(first, first)
    assert same["n"] == 3 and same["category"] == pytest.approx(1.0)
    assert same["severity_adjacent"] == 1.0
    second = [row(1, "other", "critical"), row(2, None, "low"), row(3, "delivery", "high", True)]
    differ = agreement(first, [*second, row(9, "delivery", "low")])
    assert differ["n"] == 3  # the row only the second labeller saw is left out
    assert differ["category"] < 0.5 and differ["complaint"] == pytest.approx(1.0)
    assert differ["severity_adjacent"] == pytest.approx(2 / 3)
    assert "| category |" in agreement_markdown(differ)


def test_draw_command_prints_jsonl(datasets: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "draw",
                "--datasets",
                str(datasets),
                "--lang",
                "vi",
                "--category",
                "delivery",
                "-n",
                "5",
            ]
        )
        == 0
    )
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in rows] == ["a4"]
    with pytest.raises(SystemExit):
        main(
            [
                "draw",
                "--datasets",
                str(datasets / "missing"),
                "--lang",
                "vi",
                "--category",
                "delivery",
            ]
        )
