"""Evaluate the real pipeline on labelled sets; write a JSON and a Markdown report.

    langnghe eval --data ../shared/datasets --data my_labelled.jsonl --out eval/out/report

For each set's dev split (sets without one get the same hashed 20% split as
training) and each task its labels allow: accuracy, macro-F1, per-class F1 and
the confusion matrix (sentiment, complaint, category); MAE, exact and
off-by-one accuracy and mean error per star for inferred CSAT; expected
calibration error of the probabilities. Two baselines run in the same pass on
the same rows — majority class, and TF-IDF with a linear model trained on the
set's train split — so every figure comes with a ratio. Vietnamese sets run a
second time with diacritics stripped. Seeded: the same inputs give the same report.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.pipeline import make_pipeline
from tqdm import tqdm

from nlp.corpora import Corpus, Example, discover
from nlp.pipeline import Pipeline
from nlp.text import strip_diacritics
from nlp.types import Analysis, FeedbackText

SEED = 13
BATCH = 64
Probabilities = npt.NDArray[np.float64]

# (set, task, metric) -> (threshold, what it is compared with)
TARGETS: dict[tuple[str, str, str], tuple[float, str]] = {
    ("uit-vsfc", "sentiment", "macro_f1"): (0.80, "PhoBERT-base about 0.83"),
    ("aivivn-2019", "sentiment", "macro_f1"): (0.88, "contest winner F1 0.90"),
    ("twitter-complaints", "complaint", "macro_f1"): (0.80, "paper 0.79, best 0.88"),
}
STAR_MAE_REDUCTION = 0.30
POINTS_OVER_TFIDF = 0.05


@dataclass(frozen=True)
class Task:
    """One labelled task: its name, how to read the truth, and the classes it scores."""

    name: str
    truth: list[str]
    predicted: list[str]
    confidence: list[float]
    baseline: list[str]
    majority: str


def expected_calibration_error(
    confidence: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> float:
    """ECE: the gap between confidence and accuracy, averaged over equal-width bins."""
    conf = np.asarray(confidence, dtype=np.float64)
    hit = np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in pairwise(edges):
        mask = (conf > low) & (conf <= high) if low > 0 else (conf >= low) & (conf <= high)
        if mask.any():
            total += mask.mean() * abs(conf[mask].mean() - hit[mask].mean())
    return round(float(total), 4)


def classification(task: Task) -> dict[str, Any]:
    """Figures for a classification task, with its baselines and ratios."""
    labels = sorted(set(task.truth) | set(task.predicted))
    per_class = f1_score(task.truth, task.predicted, labels=labels, average=None, zero_division=0)
    macro = float(f1_score(task.truth, task.predicted, average="macro", zero_division=0))
    tfidf = float(f1_score(task.truth, task.baseline, average="macro", zero_division=0))
    majority = float(
        f1_score(task.truth, [task.majority] * len(task.truth), average="macro", zero_division=0)
    )
    return {
        "n": len(task.truth),
        "accuracy": round(float(accuracy_score(task.truth, task.predicted)), 4),
        "macro_f1": round(macro, 4),
        "per_class_f1": {
            label: round(float(f), 4) for label, f in zip(labels, per_class, strict=True)
        },
        "confusion": {
            "labels": labels,
            "matrix": confusion_matrix(task.truth, task.predicted, labels=labels).tolist(),
        },
        "ece": expected_calibration_error(
            task.confidence, [t == p for t, p in zip(task.truth, task.predicted, strict=True)]
        ),
        "baselines": {
            "majority_macro_f1": round(majority, 4),
            "tfidf_macro_f1": round(tfidf, 4),
            "tfidf_accuracy": round(float(accuracy_score(task.truth, task.baseline)), 4),
        },
        "ratio_to_tfidf": round(macro / tfidf, 3) if tfidf else None,
        "points_over_tfidf": round(macro - tfidf, 4),
    }


def stars_report(
    truth: Sequence[int], expected: Sequence[float], baseline: Sequence[float], majority: int
) -> dict[str, Any]:
    """MAE, exact and off-by-one accuracy and per-star mean error of inferred CSAT."""
    t = np.asarray(truth, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    rounded = np.clip(np.rint(e), 1, 5)
    mae = float(np.abs(e - t).mean())
    majority_mae = float(np.abs(majority - t).mean())
    return {
        "n": len(truth),
        "mae": round(mae, 4),
        "exact_accuracy": round(float((rounded == t).mean()), 4),
        "off_by_one_accuracy": round(float((np.abs(rounded - t) <= 1).mean()), 4),
        "mean_error_per_star": {
            str(s): round(float((e[t == s] - s).mean()), 3) for s in range(1, 6) if (t == s).any()
        },
        "baselines": {
            "majority_mae": round(majority_mae, 4),
            "tfidf_mae": round(float(np.abs(np.asarray(baseline) - t).mean()), 4),
        },
        "mae_reduction_vs_majority": round(1 - mae / majority_mae, 4) if majority_mae else None,
    }


def _tfidf(train_texts: list[str], train_labels: list[str]) -> Any:
    model = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
        LogisticRegression(class_weight="balanced", max_iter=2000),
    )
    model.fit(train_texts, train_labels)
    return model


def _analyze(pipeline: Pipeline, texts: list[str], desc: str) -> list[Analysis]:
    out: list[Analysis] = []
    for start in tqdm(range(0, len(texts), BATCH), desc=desc, unit="batch", leave=False):
        out += pipeline.analyze([FeedbackText(t) for t in texts[start : start + BATCH]])
    return out


def _binary_sentiment(analysis: Analysis) -> tuple[str, float]:
    """For two-class sets: the likelier of negative and positive, renormalised."""
    neg, pos = analysis.sentiment_probs["negative"], analysis.sentiment_probs["positive"]
    label = "positive" if pos >= neg else "negative"
    return label, max(neg, pos) / (neg + pos)


def evaluate_corpus(
    pipeline: Pipeline, corpus: Corpus, dev: list[Example], unaccented: bool
) -> dict[str, Any]:
    """Every task the corpus labels, on its dev rows (stripped of diacritics if asked)."""
    texts = [strip_diacritics(e.text) if unaccented else e.text for e in dev]
    analyses = _analyze(pipeline, texts, f"{corpus.name}{' unaccented' if unaccented else ''}")
    train = corpus.train
    train_texts = [strip_diacritics(e.text) if unaccented else e.text for e in train]
    report: dict[str, Any] = {"n": len(dev)}

    labelled = [(i, e.sentiment) for i, e in enumerate(dev) if e.sentiment]
    if labelled:
        binary = {e.sentiment for e in train if e.sentiment} <= {"negative", "positive"}
        picks = [
            _binary_sentiment(analyses[i])
            if binary
            else (analyses[i].sentiment, analyses[i].sentiment_score)
            for i, _ in labelled
        ]
        report["sentiment"] = _task(
            "sentiment", labelled, picks, train, train_texts, texts, lambda e: e.sentiment
        )
    labelled = [
        (i, "yes" if e.complaint else "no") for i, e in enumerate(dev) if e.complaint is not None
    ]
    if labelled:
        picks = [
            ("yes", analyses[i].complaint_score)
            if analyses[i].complaint
            else ("no", 1 - analyses[i].complaint_score)
            for i, _ in labelled
        ]
        report["complaint"] = _task(
            "complaint",
            labelled,
            picks,
            train,
            train_texts,
            texts,
            lambda e: None if e.complaint is None else ("yes" if e.complaint else "no"),
        )
    labelled = [(i, e.category) for i, e in enumerate(dev) if e.category]
    if labelled:
        head = pipeline.heads["category"]
        probs = head.predict_proba(np.stack([analyses[i].embedding for i, _ in labelled]))
        picks = [(head.classes[int(p.argmax())], float(p.max())) for p in probs]
        report["category"] = _task(
            "category", labelled, picks, train, train_texts, texts, lambda e: e.category
        )
    rated = [(i, e.stars) for i, e in enumerate(dev) if e.stars]
    if rated:
        train_rated = [
            (t, str(e.stars)) for t, e in zip(train_texts, train, strict=True) if e.stars
        ]
        model = _tfidf([t for t, _ in train_rated], [s for _, s in train_rated])
        probs = model.predict_proba([texts[i] for i, _ in rated])
        stars = np.array([int(c) for c in model.classes_], dtype=np.float64)
        majority = int(Counter(s for _, s in train_rated).most_common(1)[0][0])
        report["csat"] = stars_report(
            [s for _, s in rated if s],
            [analyses[i].csat_expected for i, _ in rated],
            list(probs @ stars),
            majority,
        )
    return report


def _task(
    name: str,
    labelled: Sequence[tuple[int, str | None]],
    picks: list[tuple[str, float]],
    train: list[Example],
    train_texts: list[str],
    texts: list[str],
    label: Any,
) -> dict[str, Any]:
    pairs = [(t, label(e)) for t, e in zip(train_texts, train, strict=True) if label(e)]
    model = _tfidf([t for t, _ in pairs], [y for _, y in pairs])
    return classification(
        Task(
            name=name,
            truth=[str(y) for _, y in labelled],
            predicted=[p for p, _ in picks],
            confidence=[c for _, c in picks],
            baseline=[str(p) for p in model.predict([texts[i] for i, _ in labelled])],
            majority=Counter(y for _, y in pairs).most_common(1)[0][0],
        )
    )


def _sample(rows: list[Example], cap: int | None) -> list[Example]:
    if cap is None or len(rows) <= cap:
        return rows
    return random.Random(SEED).sample(rows, cap)


def evaluate(
    pipeline: Pipeline, data: Sequence[Path], max_per_set: int | None = 3000
) -> dict[str, Any]:
    """The full report as a dict (see the module docstring)."""
    corpora = discover(data)
    sets: dict[str, Any] = {}
    for corpus in corpora:
        dev = _sample(corpus.dev, max_per_set)
        if not dev:
            continue
        corpus = Corpus(corpus.name, _sample(corpus.train, 4000), dev)
        sets[corpus.name] = {"lang": sorted({e.lang for e in dev})}
        sets[corpus.name]["as_written"] = evaluate_corpus(pipeline, corpus, dev, unaccented=False)
        if any(e.lang == "vi" for e in dev):
            sets[corpus.name]["no_diacritics"] = evaluate_corpus(
                pipeline, corpus, dev, unaccented=True
            )
    return {
        "model_versions": pipeline.model_versions,
        "seed": SEED,
        "sets": sets,
        "targets": _targets(sets),
        "not_measured": [
            "aspect-level sentiment (VLSP 2018, UIT-ViSFD aspects): no aspect model yet",
            "severity and churn cues: no labelled sample yet",
        ],
    }


def _targets(sets: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for (set_name, task, metric), (threshold, published) in TARGETS.items():
        figure = sets.get(set_name, {}).get("as_written", {}).get(task, {}).get(metric)
        if figure is not None:
            rows.append(
                {
                    "target": f"{set_name} {task} {metric} >= {threshold}",
                    "figure": figure,
                    "met": figure >= threshold,
                    "published": published,
                }
            )
    for set_name, report in sets.items():
        written = report["as_written"]
        if "csat" in written:
            reduction = written["csat"]["mae_reduction_vs_majority"]
            rows.append(
                {
                    "target": f"{set_name} star MAE >= 30% below majority",
                    "figure": reduction,
                    "met": reduction is not None and reduction >= STAR_MAE_REDUCTION,
                    "published": "",
                }
            )
        for task in ("sentiment", "complaint", "category"):
            if task in written:
                points = written[task]["points_over_tfidf"]
                rows.append(
                    {
                        "target": f"{set_name} {task} >= 5 points over TF-IDF",
                        "figure": points,
                        "met": points >= POINTS_OVER_TFIDF,
                        "published": "",
                    }
                )
    return rows


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown tables."""
    lines = [
        "# langnghe evaluation",
        "",
        "Model versions: " + ", ".join(f"{k} `{v}`" for k, v in report["model_versions"].items()),
        "",
        "## Targets",
        "",
        "| target | figure | met | published |",
        "|---|---|---|---|",
    ]
    for t in report["targets"]:
        lines.append(
            f"| {t['target']} | {t['figure']} | {'yes' if t['met'] else 'NO'} | {t['published']} |"
        )
    lines += [
        "",
        "## Classification (dev splits)",
        "",
        "| set | text | task | n | accuracy | macro-F1 | TF-IDF F1 | ratio | majority F1 | ECE |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in report["sets"].items():
        for variant in ("as_written", "no_diacritics"):
            for task in ("sentiment", "complaint", "category"):
                r = s.get(variant, {}).get(task)
                if r:
                    b = r["baselines"]
                    lines.append(
                        f"| {name} | {variant} | {task} | {r['n']} | {r['accuracy']:.3f} | "
                        f"{r['macro_f1']:.3f} | {b['tfidf_macro_f1']:.3f} | "
                        f"{r['ratio_to_tfidf']} | "
                        f"{b['majority_macro_f1']:.3f} | {r['ece']:.3f} |"
                    )
    lines += [
        "",
        "## Inferred CSAT vs stars (dev splits)",
        "",
        "| set | text | n | MAE | majority MAE | TF-IDF MAE | exact | ±1 | mean error per star |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in report["sets"].items():
        for variant in ("as_written", "no_diacritics"):
            r = s.get(variant, {}).get("csat")
            if r:
                b = r["baselines"]
                lines.append(
                    f"| {name} | {variant} | {r['n']} | {r['mae']:.3f} | {b['majority_mae']:.3f} | "
                    f"{b['tfidf_mae']:.3f} | {r['exact_accuracy']:.3f} | "
                    f"{r['off_by_one_accuracy']:.3f} | "
                    f"{r['mean_error_per_star']} |"
                )
    lines += ["", "Per-class F1 and confusion matrices are in report.json.", "", "Not measured:"]
    lines += [f"- {item}" for item in report["not_measured"]]
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], out: Path) -> None:
    """Write report.json and report.md into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    (out / "report.md").write_text(markdown(report), encoding="utf-8")
