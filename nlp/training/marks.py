"""Count the mark model (:mod:`nlp.components.marks`) from accented Vietnamese training rows.

``python -m nlp.training.marks --data ../shared/datasets --out models`` reads every
Vietnamese train row of the public sets, keeps those typed with marks, counts each
lower-cased syllable and each adjacent pair within a run of words, writes
``models/marks/marks.npz`` and names it in ``models/manifest.json``. Rows of any dev or
test split (:func:`~nlp.training.corpora.in_dev_split`, the sets' own dev files) are never
counted, so restoring them in the evaluation is not restoring text the model has seen.
``--check`` adds the share of syllables restored right on the dev rows, stripped, to the
manifest entry and the model card (``models/marks/CARD.md``).
"""

from __future__ import annotations

import argparse
import json
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from models import MANIFEST, MODELS_DIR
from nlp.components.marks import MAX_CANDIDATES, MarkModel, marked_share, word_runs
from nlp.text import strip_diacritics, words
from nlp.training.corpora import Corpus, discover, in_dev_split

MIN_COUNT = 2
"""Spellings seen fewer times are typos more often than words; they are not counted."""
MARKS_FILE = "marks/marks.npz"
MARKS_CARD = "marks/CARD.md"
ACCENTED_SHARE = 0.3
"""A row counts when at least this share of its words carry marks (typed with marks)."""


def accented(text: str) -> bool:
    """True when ``text`` was typed with marks (see :data:`ACCENTED_SHARE`)."""
    share = marked_share(text)
    return share is not None and share >= ACCENTED_SHARE


def _sentences(text: str) -> Iterable[list[str]]:
    """The runs of lower-cased words of ``text`` (punctuation and digits end a run)."""
    text = unicodedata.normalize("NFC", text)  # as the pipeline reads it
    for start, end in word_runs(text):
        found = words(text[start:end])
        if found:
            yield found


def fit_marks(texts: Iterable[str], version: str, min_count: int = MIN_COUNT) -> MarkModel:
    """Syllable and pair counts over ``texts`` (spellings seen under ``min_count`` dropped)."""
    unigrams: Counter[str] = Counter()
    bigrams: Counter[tuple[str, str]] = Counter()
    for text in texts:
        for run in _sentences(text):
            unigrams.update(run)
            bigrams.update(pairwise(run))
    forms = tuple(sorted(f for f, c in unigrams.items() if c >= min_count))
    ids = {f: i for i, f in enumerate(forms)}
    pairs = {
        ids[a] * len(forms) + ids[b]: count
        for (a, b), count in bigrams.items()
        if a in ids and b in ids
    }
    counts = np.array([unigrams[f] for f in forms], np.int64)
    return MarkModel(forms=forms, counts=counts, pairs=pairs, version=version)


def training_texts(corpora: Sequence[Corpus]) -> dict[str, list[str]]:
    """The accented Vietnamese train rows of ``corpora`` by set, never a dev or test row."""
    found: dict[str, list[str]] = {}
    for corpus in corpora:
        texts = [
            e.text
            for e in corpus.train
            if e.lang == "vi" and not in_dev_split(e.id) and accented(e.text)
        ]
        if texts:
            found[corpus.name] = texts
    return found


def check(model: MarkModel, corpora: Sequence[Corpus], limit: int = 3000) -> dict[str, Any]:
    """Share of the syllables of accented Vietnamese dev rows spelled right once stripped:
    restored by ``model``, and left stripped (the baseline)."""
    rows = [e.text for c in corpora for e in c.dev if e.lang == "vi" and accented(e.text)]
    restored = stripped = total = 0
    for text in (unicodedata.normalize("NFC", t) for t in rows[:limit]):
        truth = words(text)
        plain = strip_diacritics(text)
        total += len(truth)
        restored += sum(a == b for a, b in zip(truth, words(model.restore(plain)), strict=True))
        stripped += sum(a == b for a, b in zip(truth, words(plain), strict=True))
    return {
        "rows": min(len(rows), limit),
        "syllables": total,
        "accuracy": round(restored / max(total, 1), 4),
        "accuracy_stripped": round(stripped / max(total, 1), 4),
    }


def card(entry: dict[str, Any]) -> str:
    """The model card: what was counted, from where, and how well it restores."""
    lines = [
        f"# Mark model `{entry['version']}`",
        "",
        "Restores the tone and vowel marks of Vietnamese typed without them before the encoder",
        "reads it (see `nlp/components/marks.py`): a syllable-bigram model, Viterbi over the",
        f"{MAX_CANDIDATES} most frequent accented spellings of each syllable.",
        "",
        f"- Counted from {entry['rows']:,} accented Vietnamese train rows of "
        f"{', '.join(f'`{name}`' for name in entry['sets'])} (no dev or test row):",
        f"  {entry['spellings']:,} spellings seen at least {MIN_COUNT} times, "
        f"{entry['pairs']:,} adjacent pairs.",
    ]
    if "dev" in entry:
        dev = entry["dev"]
        lines.append(
            f"- On {dev['rows']:,} accented dev rows stripped of their marks "
            f"({dev['syllables']:,} syllables): {dev['accuracy']:.1%} spelled right after "
            f"restoring, {dev['accuracy_stripped']:.1%} left stripped."
        )
    lines += [
        "",
        "Rebuild: `python -m nlp.training.marks --data ../shared/datasets --out models --check`.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Count the model, write it into ``--out`` and name it in that folder's manifest."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, nargs="+", default=[Path("../shared/datasets")])
    parser.add_argument("--out", type=Path, default=MODELS_DIR)
    parser.add_argument("--check", action="store_true", help="print the dev-row accuracy")
    args = parser.parse_args(argv)
    manifest_path = args.out / MANIFEST
    if not manifest_path.is_file():
        parser.error(f"no {manifest_path}: train the heads into {args.out} first")
    corpora = discover(args.data)
    by_set = training_texts(corpora)
    texts = [t for group in by_set.values() for t in group]
    if not texts:
        parser.error(f"no accented Vietnamese train rows in {[str(d) for d in args.data]}")
    version = f"marks-{datetime.now(UTC).strftime('%Y-%m-%d')}"
    model = fit_marks(tqdm(texts, desc="counting", unit="row"), version)
    model.save(args.out / MARKS_FILE)
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["marks"] = {
        "version": version,
        "path": MARKS_FILE,
        "rows": len(texts),
        "sets": {name: len(group) for name, group in sorted(by_set.items())},
        "spellings": len(model.forms),
        "pairs": len(model.pairs),
    }
    if args.check:
        manifest["marks"]["dev"] = check(model, corpora)
    (args.out / MARKS_CARD).write_text(card(manifest["marks"]), encoding="utf-8")
    manifest["marks"]["card"] = MARKS_CARD
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(manifest["marks"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
