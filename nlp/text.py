"""Small text helpers shared by the language, normalisation and cue modules."""

from __future__ import annotations

import re
import unicodedata

WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
"""An alphabetic word (letters only: digits and underscores end it)."""


def strip_diacritics(text: str) -> str:
    """Lower-case ``text`` and remove Vietnamese tone and vowel marks (``đ`` becomes ``d``)."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def words(text: str) -> list[str]:
    """The alphabetic words of ``text``, lower-cased."""
    return [w.lower() for w in WORD.findall(text)]
