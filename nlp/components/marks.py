"""Component ``marks``: Vietnamese typed without diacritics is read with its marks restored.

Much Vietnamese feedback arrives without tone and vowel marks ("nhan vien than thien").
The encoder was fine-tuned to place such text near its accented form, but not near
enough: the same praise scored 0.80 as a complaint unaccented and 0.08 accented. So before
the encoder reads an unaccented Vietnamese segment, each unmarked syllable is given the
accented spelling a syllable-bigram model of accented Vietnamese finds most likely in
context (Viterbi over at most :data:`MAX_CANDIDATES` spellings per syllable). The model is
counted from the public sets' accented training rows by :mod:`nlp.training.marks` and
ships in ``models/marks/``.

Only the segments the encoder reads change: the stored text stays as the customer typed
it, and the cues and n-grams read it as written (both already ignore marks). Segments
that already carry marks are left alone: an unmarked syllable there ("ban", "hai") was
written that way on purpose.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nlp.components.base import Context, Doc
from nlp.components.normalize import NormalizedText, Segment
from nlp.text import WORD, strip_diacritics
from nlp.types import Language

MAX_CANDIDATES = 8
"""Accented spellings kept per unaccented syllable (the most frequent ones)."""
BIGRAM_WEIGHT = 0.7
"""Interpolation of the bigram estimate with the unigram one (0.3)."""
MARKED_SHARE = 0.1
"""A segment whose words carry marks more often than this is taken as typed with marks."""

# Punctuation and digits end a run of words: the bigram context does not cross them.
_BREAK = re.compile(r"[^\w\s]|\d")


def is_marked(word: str) -> bool:
    """True when ``word`` carries a Vietnamese mark (or ``đ``)."""
    return strip_diacritics(word) != word.lower()


def _cased(form: str, like: str) -> str:
    """``form`` with the capitalisation of ``like`` (all capitals, a capital first, or none)."""
    if like.isupper() and len(like) > 1:
        return form.upper()
    if like[:1].isupper():
        return form[:1].upper() + form[1:]
    return form


@dataclass(frozen=True, eq=False)
class MarkModel:
    """Counts of accented Vietnamese syllables and of adjacent pairs of them."""

    forms: tuple[str, ...] = field(repr=False)
    """Every lower-cased spelling counted; a spelling's index is its id."""
    counts: npt.NDArray[np.int64] = field(repr=False)
    """How often each spelling was seen."""
    pairs: dict[int, int] = field(repr=False)
    """Count of each adjacent pair, keyed ``left * len(forms) + right``."""
    version: str
    # Look-ups derived from the counts in __post_init__.
    _ids: dict[str, int] = field(init=False, repr=False)
    _left: npt.NDArray[np.int64] = field(init=False, repr=False)
    """How often each spelling is the left word of a pair."""
    _candidates: dict[str, tuple[int, ...]] = field(init=False, repr=False)
    """Per spelling without marks, the ids of its most frequent accented spellings."""
    _total: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        size = len(self.forms)
        left = np.zeros(size, np.int64)
        for key, count in self.pairs.items():
            left[key // size] += count
        ids = {form: i for i, form in enumerate(self.forms)}
        by_key: dict[str, list[int]] = {}
        for form, i in ids.items():
            by_key.setdefault(strip_diacritics(form), []).append(i)
        candidates = {
            key: tuple(sorted(group, key=lambda i: -int(self.counts[i]))[:MAX_CANDIDATES])
            for key, group in by_key.items()
        }
        object.__setattr__(self, "_ids", ids)
        object.__setattr__(self, "_left", left)
        object.__setattr__(self, "_candidates", candidates)
        object.__setattr__(self, "_total", max(int(self.counts.sum()), 1))

    def save(self, path: Path) -> None:
        """Write the counts to ``path`` (npz, no pickles)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.fromiter(self.pairs.keys(), np.int64, len(self.pairs))
        values = np.fromiter(self.pairs.values(), np.int64, len(self.pairs))
        np.savez_compressed(
            path,
            forms=np.array(self.forms, dtype=np.str_),
            counts=self.counts,
            pair_keys=keys,
            pair_counts=values,
            version=np.array(self.version),
        )

    @classmethod
    def load(cls, path: Path) -> MarkModel:
        """The model saved at ``path`` by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            pairs = dict(zip(data["pair_keys"].tolist(), data["pair_counts"].tolist(), strict=True))
            return cls(
                forms=tuple(data["forms"].tolist()),
                counts=data["counts"].astype(np.int64),
                pairs=pairs,
                version=str(data["version"]),
            )

    def _log_p(self, left: int | None, right: int) -> float:
        """log P(right | left), the bigram estimate interpolated with the unigram one."""
        unigram = int(self.counts[right]) / self._total
        if left is None:
            return math.log(unigram)
        seen = int(self._left[left])
        pair = self.pairs.get(left * len(self.forms) + right, 0)
        bigram = pair / seen if seen else 0.0
        return math.log(BIGRAM_WEIGHT * bigram + (1 - BIGRAM_WEIGHT) * unigram)

    def _choices(self, word: str) -> tuple[int | None, ...]:
        """The spellings ``word`` may stand for (ids; None: a word the model does not know)."""
        lower = word.lower()
        if is_marked(word):
            return (self._ids.get(lower),)
        return self._candidates.get(lower) or (None,)

    def _best(self, words: Sequence[str]) -> list[str]:
        """The most likely accented spelling of each word of one run (Viterbi)."""
        # Per word: each choice's best score so far and the previous word's choice on that path.
        columns: list[dict[int | None, tuple[float, int | None]]] = []
        scores: dict[int | None, float] = {None: 0.0}
        for word in words:
            column: dict[int | None, tuple[float, int | None]] = {}
            for option in self._choices(word):
                column[option] = max(
                    (
                        (score + (0.0 if option is None else self._log_p(left, option)), left)
                        for left, score in scores.items()
                    ),
                    key=lambda entry: entry[0],
                )
            columns.append(column)
            scores = {option: entry[0] for option, entry in column.items()}
        choice = max(scores, key=lambda option: scores[option])
        path: list[int | None] = []
        for column in reversed(columns):
            path.append(choice)
            choice = column[choice][1]
        path.reverse()
        return [
            word if option is None or is_marked(word) else _cased(self.forms[option], word)
            for word, option in zip(words, path, strict=True)
        ]

    def restore(self, text: str) -> str:
        """``text`` with each unmarked word in its most likely accented spelling.

        Runs in time linear in the text's length: every word has at most
        :data:`MAX_CANDIDATES` spellings and each is scored against the previous word's.
        """
        out: list[str] = []
        position = 0
        for run in word_runs(text):
            matches = list(WORD.finditer(text, run[0], run[1]))
            if not matches:
                continue
            spelled = self._best([m.group() for m in matches])
            for match, word in zip(matches, spelled, strict=True):
                out.append(text[position : match.start()])
                out.append(word)
                position = match.end()
        out.append(text[position:])
        return "".join(out)


def word_runs(text: str) -> Iterable[tuple[int, int]]:
    """Spans of ``text`` between punctuation marks and digits (the runs words are read in)."""
    start = 0
    for match in _BREAK.finditer(text):
        if match.start() > start:
            yield start, match.start()
        start = match.end()
    if start < len(text):
        yield start, len(text)


def marked_share(text: str) -> float | None:
    """The share of the words of ``text`` that carry marks (None when it has no word)."""
    found = WORD.findall(text)
    return sum(map(is_marked, found)) / len(found) if found else None


def typed_without_marks(text: str) -> bool:
    """True when at most :data:`MARKED_SHARE` of the words of ``text`` carry marks."""
    share = marked_share(text)
    return share is not None and share <= MARKED_SHARE


def restore_marks(text: NormalizedText, language: Language, model: MarkModel) -> NormalizedText:
    """``text`` with its unaccented Vietnamese segments restored (the stored text unchanged)."""
    if language != "vi":
        return text
    segments = tuple(
        Segment(model.restore(s.text), s.weight) if typed_without_marks(s.text) else s
        for s in text.segments
    )
    return replace(text, segments=segments)


def load_marks(manifest: dict[str, Any], models_root: Path) -> MarkModel | None:
    """The mark model ``manifest`` names (its path under ``models_root``), or None when it
    names none."""
    entry = manifest.get("marks")
    return MarkModel.load(models_root / entry["path"]) if entry else None


class MarksStep:
    """Restores the marks of unaccented Vietnamese segments (a no-op without a model)."""

    name = "marks"

    def __init__(self, context: Context) -> None:
        self.model = load_marks(context.manifest, context.models_root)
        self.version = self.model.version if self.model is not None else None

    def __call__(self, docs: list[Doc]) -> None:
        """Rewrite the segments each doc's encoder pass will read."""
        if self.model is None:
            return
        for doc in docs:
            if doc.text is None:
                raise ValueError("the marks component needs the normalize component before it")
            doc.text = restore_marks(doc.text, doc.language, self.model)
