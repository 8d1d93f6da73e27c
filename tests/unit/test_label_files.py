"""The label files we ship follow models/data/LABELLING.md and never carry a public text.

Labels are written by people in chunks and appended by hand; these checks catch a chunk that
breaks the guide's rules before a head learns from it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from nlp.training.corpora import SEVERITIES, read_label_rows
from nlp.types import COMPLAINT_CATEGORIES

LABELS = Path(__file__).resolve().parents[2] / "models" / "data" / "labels"
FILES = ("ours.labels.jsonl", "blind.jsonl")
FIELDS = {"id", "set", "lang", "complaint", "category", "secondary", "churn_risk", "severity"}


def _rows(name: str) -> list[dict[str, Any]]:
    return list(read_label_rows(LABELS / name))


def guide_violations(row: dict[str, Any]) -> list[str]:
    """What in one label row breaks the labelling guide (empty when nothing does)."""
    if "text" in row:
        return ["carries a text: only ids enter the repository"]
    if row.get("skip"):
        return [] if {"id", "set"} <= row.keys() else ["a skipped row still needs set and id"]
    problems = [f"missing {field}" for field in sorted(FIELDS - row.keys())]
    if problems:
        return problems
    if row["lang"] not in ("vi", "en"):
        problems.append(f"language {row['lang']!r}")
    if row["severity"] not in SEVERITIES:
        problems.append(f"severity {row['severity']!r}")
    secondary = row["secondary"]
    if not isinstance(secondary, list) or len(secondary) > 2:
        problems.append("secondary must list at most two categories")
    elif any(c not in COMPLAINT_CATEGORIES or c == row["category"] for c in secondary):
        problems.append(f"secondary {secondary!r} repeats the primary or is not a category")
    if row["complaint"] is True:
        if row["category"] not in COMPLAINT_CATEGORIES:
            problems.append(f"a complaint needs a category, not {row['category']!r}")
        if row["churn_risk"] and row["severity"] in ("low", "medium"):
            problems.append("a complaint with churn risk is at least high")
    elif row["complaint"] is False:
        if row["category"] is not None or secondary or row["churn_risk"]:
            problems.append("no complaint: no category, secondary or churn risk")
        if row["severity"] != "low":
            problems.append("no complaint: severity low")
    else:
        problems.append(f"complaint {row['complaint']!r}")
    return problems


@pytest.mark.parametrize("name", FILES)
def test_every_label_row_follows_the_guide(name: str) -> None:
    broken = {
        f"{row.get('set')}/{row.get('id')}": problems
        for row in _rows(name)
        if (problems := guide_violations(row))
    }
    assert not broken, dict(list(broken.items())[:10])


@pytest.mark.parametrize("name", FILES)
def test_each_source_row_is_labelled_once_per_file(name: str) -> None:
    counts = Counter((row["set"], row["id"]) for row in _rows(name))
    assert [key for key, n in counts.items() if n > 1] == []


def test_every_blind_label_is_a_second_label_of_a_labelled_row() -> None:
    first = {(row["set"], row["id"]): row for row in _rows("ours.labels.jsonl")}
    second = _rows("blind.jsonl")
    assert {(row["set"], row["id"]) for row in second} <= first.keys()
    same_hand = [
        row["id"] for row in second if row["labeller"] == first[(row["set"], row["id"])]["labeller"]
    ]
    assert same_hand == []


VALID = {
    "id": "1",
    "set": "s",
    "lang": "en",
    "complaint": True,
    "category": "delivery",
    "secondary": [],
    "churn_risk": False,
    "severity": "low",
}


def test_a_row_by_the_guide_passes() -> None:
    assert guide_violations(VALID) == []


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"text": "x"}, "carries a text"),
        ({"complaint": False}, "no complaint: no category"),
        ({"secondary": ["delivery"]}, "repeats the primary"),
        ({"churn_risk": True, "severity": "medium"}, "at least high"),
        ({"category": None}, "needs a category"),
    ],
)
def test_the_checks_catch_each_rule(changes: dict[str, Any], problem: str) -> None:
    assert any(problem in p for p in guide_violations({**VALID, **changes}))
