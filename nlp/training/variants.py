"""Other ways the same Vietnamese text is typed: without diacritics, in teencode.

Customers type Vietnamese with and without tone marks, and in teencode ("ko", "dc",
"sp", stretched letters). The fine-tuning's consistency objective pairs each
Vietnamese training text with one of these spellings so the encoder learns that they
mean the same; everything is generated from the training text itself, seeded by its
id, so a run is reproducible and needs no extra data.
"""

from __future__ import annotations

import random
import re

from nlp.text import strip_diacritics

# Reverse teencode: the full word -> spellings people type for it. The serving pipeline expands
# some of these back (nlp.components.normalize), not all: what it misses, the encoder learns.
_SHORT = {
    "không": ("ko", "k", "hok", "kh", "hông", "khum"),
    "được": ("dc", "đc", "dk", "đk", "đươc"),
    "sản phẩm": ("sp",),
    "nhân viên": ("nv",),
    "gì": ("j", "gj"),
    "với": ("vs", "vois"),
    "rồi": ("r", "rùi", "rầu"),
    "mọi người": ("mn", "mng"),
    "mình": ("mk", "mik", "mị"),
    "quá": ("wa", "qá", "qua'"),
    "cũng": ("cx", "cg"),
    "trước": ("trc",),
    "trả lời": ("tl", "rep"),
    "biết": ("bít", "bik"),
    "nhiều": ("nhìu",),
    "thế": ("thế", "z"),
    "vậy": ("z", "v", "zậy"),
    "yêu": ("iu",),
    "giao hàng": ("gh", "ship"),
    "điện thoại": ("đt", "dt"),
    "bây giờ": ("bh", "h"),
    "thôi": ("thui",),
    "chưa": ("chx",),
    "đi": ("đi", "dzi"),
}
_SHORT_PATTERN = re.compile(
    r"(?<!\w)(" + "|".join(sorted(map(re.escape, _SHORT), key=len, reverse=True)) + r")(?!\w)",
    re.IGNORECASE,
)
_WORD = re.compile(r"(?<!\w)\w+")  # anchored at word starts: linear in the text
_VOWELS = set("aeiouyáàảãạâấầẩẫậăắằẳẵặéèẻẽẹêếềểễệíìỉĩịóòỏõọôốồổỗộơớờởỡợúùủũụưứừửữựýỳỷỹỵ")


def teencode(text: str, rng: random.Random, rate: float = 0.7) -> str:
    """``text`` with common words shortened and now and then a vowel stretched."""

    def short(match: re.Match[str]) -> str:
        if rng.random() > rate:
            return match.group(0)
        return rng.choice(_SHORT[match.group(0).lower()])

    out = _SHORT_PATTERN.sub(short, text)

    def stretch(match: re.Match[str]) -> str:
        word = match.group(0)
        if word[-1].lower() in _VOWELS and rng.random() < 0.05:
            return word + word[-1] * rng.randint(1, 3)
        return word

    return _WORD.sub(stretch, out)


def variant(text: str, key: str, seed: int = 13) -> str | None:
    """One other spelling of a Vietnamese ``text`` (seeded by ``key``), or None if none differs.

    Half the time the text without diacritics, a quarter in teencode, a quarter both.
    """
    rng = random.Random(f"{seed}:{key}")
    roll = rng.random()
    if roll < 0.5:
        out = strip_diacritics(text)
    elif roll < 0.75:
        out = teencode(text, rng)
    else:
        out = strip_diacritics(teencode(text, rng))
    return out if out.lower() != text.lower() else None
