"""Variant spellings for the consistency loss: seeded by key, really different, linear time."""

from __future__ import annotations

import random
import time

import pytest

from nlp.text import strip_diacritics
from nlp.training.variants import _SHORT, teencode, variant

TEXT = "Giao hàng không được nhanh, sản phẩm cũng bình thường thôi"


def test_variant_is_deterministic_by_key() -> None:
    assert variant(TEXT, "row-1") == variant(TEXT, "row-1")
    outputs = {variant(TEXT, f"row-{i}") for i in range(60)}
    assert len(outputs) > 3  # different keys, different spellings
    assert None not in outputs
    assert variant(TEXT, "row-1", seed=1) == variant(TEXT, "row-1", seed=1)


def test_variants_are_unaccented_or_teencode() -> None:
    outputs = [variant(TEXT, f"k{i}") for i in range(200)]
    stripped = strip_diacritics(TEXT)
    assert stripped in outputs  # about half the time
    shortened = [o for o in outputs if o and ("ko" in o.split() or "dc" in o.split())]
    assert shortened
    for o in outputs:
        assert o is not None and o.lower() != TEXT.lower()


def test_teencode_shortens_known_words() -> None:
    out = teencode("không được, mọi người ơi", random.Random(0), rate=1.0)
    words = out.replace(",", " ").split()
    assert words[0].rstrip(words[0][-1]) in _SHORT["không"] or words[0] in _SHORT["không"]
    assert "không" not in out and "được" not in out and "mọi người" not in out
    # only whole words: a word that merely contains one is left alone
    assert teencode("khôngthể", random.Random(0), rate=1.0).startswith("khôngthể")


def test_no_variant_when_nothing_differs() -> None:
    for i in range(50):
        assert variant("xyz 123 brb", str(i)) is None


@pytest.mark.parametrize(
    "adversarial",
    [
        "a" * 100_000,
        " " * 100_000,
        "không" * 20_000,
        "nhân " * 20_000,
        "mọi ngườ" * 12_500,
        ("đ" * 49 + " ") * 2_000,
        "giao hàng không được " * 5_000,
    ],
    ids=["one-word", "spaces", "glued", "half-phrase", "near-miss", "long-words", "matches"],
)
def test_linear_time_on_adversarial_input(adversarial: str) -> None:
    def cpu_seconds(text: str) -> float:
        best = float("inf")
        for attempt in range(3):
            start = time.process_time()  # CPU time: the machine may be busy
            teencode(text, random.Random(attempt))
            variant(text, str(attempt))
            best = min(best, time.process_time() - start)
        return best

    # Four times the text takes about four times as long (a quadratic pattern takes
    # sixteen, and seconds at this size): the growth is the test, not one machine's speed.
    quarter = cpu_seconds(adversarial[: len(adversarial) // 4])
    whole = cpu_seconds(adversarial)
    assert whole < 0.5, f"{whole * 1000:.0f} ms on {len(adversarial)} characters"
    assert whole < 7 * quarter + 0.01, f"{whole:.3f} s vs {quarter:.3f} s on a quarter"
