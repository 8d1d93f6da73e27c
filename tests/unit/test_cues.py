"""Severity and churn cues, with and without Vietnamese diacritics."""

from __future__ import annotations

import gc
import time

import pytest

from nlp.components.cues import Cues, find_cues, severity


@pytest.mark.parametrize(
    ("text", "critical", "high", "churn"),
    [
        ("Tôi sẽ kiện shop ra tòa", True, False, False),
        ("se bao len bo cong thuong", True, False, False),
        ("The charger caught fire, I will contact my lawyer", True, False, False),
        ("lan thu 3 goi ma van chua ai nghe", False, True, False),
        ("You charged me twice", False, True, False),
        ("sẽ không mua nữa, chuyển sang bên khác", False, False, True),
        ("toi se khong mua nua", False, False, True),
        ("I'm cancelling my subscription", False, False, True),
        ("kien nhan cho doi la dang", False, False, False),
        ("Great service, thank you", False, False, False),
    ],
)
def test_cues(text: str, critical: bool, high: bool, churn: bool) -> None:
    assert find_cues(text) == Cues(critical=critical, high=high, churn_risk=churn)


def test_severity_levels() -> None:
    none = Cues(False, False, False)
    assert (
        severity(Cues(True, False, False), complaint=False, negative_probability=0.1) == "critical"
    )
    assert severity(Cues(False, True, False), complaint=True, negative_probability=0.9) == "high"
    assert severity(Cues(False, False, True), complaint=True, negative_probability=0.5) == "high"
    assert severity(none, complaint=True, negative_probability=0.9) == "medium"
    assert severity(none, complaint=True, negative_probability=0.6) == "low"
    assert severity(none, complaint=False, negative_probability=0.9) == "low"


@pytest.mark.parametrize(
    "unit",
    ["khong ", "se khong mua ", "khoi kien ", "cancel my ", "never ", "trừ tiền ", "a"],
)
def test_cues_are_linear_on_100_kb_of_adversarial_text(unit: str) -> None:
    # Beginnings of cue phrases again and again, never completed: a pattern that backtracks
    # over what it read would take seconds here; a linear one takes milliseconds.
    text = (unit * (100_000 // len(unit) + 1))[:100_000]
    gc.collect()
    started = time.process_time()
    find_cues(text)
    assert time.process_time() - started < 0.5
