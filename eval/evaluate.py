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
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
)
from sklearn.pipeline import make_pipeline
from tqdm import tqdm

from nlp.components.aspects import STATES
from nlp.components.base import Doc
from nlp.pipeline import Pipeline
from nlp.text import strip_diacritics
from nlp.training.aspects import aspect_labels, micro_f1
from nlp.training.corpora import SEVERITIES, Corpus, Example, discover
from nlp.types import Analysis, FeedbackText

SEED = 13
BATCH = 64
Probabilities = npt.NDArray[np.float64]

# (set, task, metric) -> (threshold, what it is compared with)
TARGETS: dict[tuple[str, str, str], tuple[float, str]] = {
    ("uit-vsfc", "sentiment", "macro_f1"): (0.80, "PhoBERT-base about 0.83"),
    ("aivivn-2019", "sentiment", "macro_f1"): (0.92, "contest winner F1 0.90"),
    ("twitter-complaints", "complaint", "macro_f1"): (0.86, "paper 0.79, best 0.88"),
    ("twitter-airline", "sentiment", "macro_f1"): (0.80, "fine-tuned RoBERTa about 0.82"),
    ("uit-visfd", "complaint", "macro_f1"): (0.90, ""),
}
# set -> star MAE at most
STAR_MAE_TARGETS = {"uit-visfd": 0.60, "amazon-alexa": 0.40}
ECE_TARGET = 0.03
UNACCENTED_GAP = 0.03
# Our labelled test split (models/data/labels), per language: (task, metric) -> threshold.
LABEL_TARGETS: dict[tuple[str, str], float] = {
    ("category", "macro_f1"): 0.80,
    ("category", "accuracy"): 0.85,
    ("category", "min_class_f1"): 0.65,
    ("complaint", "macro_f1"): 0.90,
    ("severity", "macro_f1"): 0.70,
    ("severity", "adjacent"): 0.95,
    ("churn_risk", "recall"): 0.85,
    ("churn_risk", "precision"): 0.80,
}
# domain -> (aspect+polarity micro-F1 threshold, what it is compared with)
ASPECT_TARGETS: dict[str, tuple[float, str]] = {
    "hotel": (0.65, "PhoBERT multi-task 0.77"),
    "restaurant": (0.65, "PhoBERT multi-task 0.72"),
}
STAR_MAE_REDUCTION = 0.30
# Printed under the targets whenever one is missed: the report must say why, not only that.
WHY_MISSED = """\
Why targets are missed. The encoder is multilingual-e5-small with its top four layers fine-tuned
on a 2-core CPU in two rounds (one epoch over at most 4,000 rows per set, then two epochs over
our own labels and 800 rows per set, 80 tokens), and the heads are linear models over its
384-dimension embedding, one head per task shared by every set and both languages (category,
churn and severity also read hashed character n-grams). That gains 1-7 points over the frozen
encoder on sentiment and complaint, but the published figures come from larger encoders
(PhoBERT-base) fine-tuned fully per set. The TF-IDF baseline is a separate model per set on that
set's own train split, so it keys on the set's exact vocabulary. Our labels are 4,988 real rows
and 1,565 written ones. The Vietnamese sources are product, hotel and restaurant reviews, so their
test split holds 1 app or website complaint, 11 about support, 16 about billing and 19-27 for
each of other, refunds and staff, and churn 54 (VI) and 33 (EN): those figures move by many
points with one row (the one app row alone moves Vietnamese macro-F1 by up to 12). Vietnamese
typed without diacritics is read with its marks restored (a syllable-bigram model, 92% of
syllables right); it still costs 3-5 points of complaint and category on our test split."""
POINTS_OVER_TFIDF = 0.03


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
    truth: Sequence[int],
    expected: Sequence[float],
    baseline: Sequence[float],
    majority: int,
    distributions: Sequence[Sequence[float]] | None = None,
) -> dict[str, Any]:
    """MAE, exact and off-by-one accuracy, per-star mean error and calibration of inferred CSAT.

    ``distributions`` (1-5 probabilities per row) give the ECE of the likeliest star.
    """
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
        "ece": None
        if distributions is None
        else expected_calibration_error(
            [max(d) for d in distributions],
            [int(np.argmax(d)) + 1 == s for d, s in zip(distributions, truth, strict=True)],
        ),
    }


def _tfidf(train_texts: list[str], train_labels: list[str]) -> Any:
    model = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
        LogisticRegression(class_weight="balanced", max_iter=2000),
    )
    model.fit(train_texts, train_labels)
    return model


def _run(pipeline: Pipeline, texts: list[str], desc: str) -> list[Doc]:
    out: list[Doc] = []
    for start in tqdm(range(0, len(texts), BATCH), desc=desc, unit="batch", leave=False):
        out += pipeline.run([FeedbackText(t) for t in texts[start : start + BATCH]])
    return out


def _analyze(pipeline: Pipeline, texts: list[str], desc: str) -> list[Analysis]:
    return [pipeline.analysis(d) for d in _run(pipeline, texts, desc)]


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
    docs = _run(pipeline, texts, f"{corpus.name}{' unaccented' if unaccented else ''}")
    analyses = [pipeline.analysis(d) for d in docs]
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
        # Every labelled row, complaint or not: the head's own answer, not the inbox's.
        head = pipeline.context.head("category")
        assert head is not None  # every models directory has a category head
        picks = [
            (head.classes[int(p.argmax())], float(p.max()))
            for p in (docs[i].probs["category"] for i, _ in labelled)
        ]
        report["category"] = _task(
            "category", labelled, picks, train, train_texts, texts, lambda e: e.category
        )
    domains = sorted({e.domain for e in dev if e.aspects and e.domain})
    if domains:
        report["aspects"] = {
            domain: aspects_report(pipeline, domain, dev, analyses, train, train_texts, texts)
            for domain in domains
        }
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
            [analyses[i].csat_distribution for i, _ in rated],
        )
    return report


def aspects_report(
    pipeline: Pipeline,
    domain: str,
    dev: list[Example],
    analyses: list[Analysis],
    train: list[Example],
    train_texts: list[str],
    texts: list[str],
) -> dict[str, Any]:
    """Aspect+polarity micro-F1 of the domain's aspect model, beside two baselines."""
    rows = [i for i, e in enumerate(dev) if e.aspects and e.domain == domain]
    truth = aspect_labels([dev[i] for i in rows])
    model = pipeline.aspect_model(domain)
    if model is None:
        return {"n": len(rows), "error": f"no aspect model for domain {domain!r} in the manifest"}
    predicted = model.document_aspects(np.stack([analyses[i].embedding for i in rows]))
    train_rows = [i for i, e in enumerate(train) if e.aspects and e.domain == domain]
    train_truth = aspect_labels([train[i] for i in train_rows])
    majority = _majority_aspects(train_truth)
    tfidf = _tfidf_aspects(
        [train_texts[i] for i in train_rows], train_truth, [texts[i] for i in rows]
    )
    figures = micro_f1(truth, predicted)
    tfidf_f1 = micro_f1(truth, tfidf)["f1"]
    return {
        **figures,
        "aspect_only": micro_f1(truth, predicted, with_polarity=False),
        "baselines": {
            "majority_f1": micro_f1(truth, [majority] * len(truth))["f1"],
            "tfidf_f1": tfidf_f1,
        },
        "ratio_to_tfidf": round(figures["f1"] / tfidf_f1, 3) if tfidf_f1 else None,
        "points_over_tfidf": round(figures["f1"] - tfidf_f1, 4),
    }


def _majority_aspects(train_truth: list[dict[str, str]]) -> dict[str, str]:
    """Every aspect present in most training texts, with its commonest polarity."""
    counts: dict[str, Counter[str]] = {}
    for row in train_truth:
        for aspect, polarity in row.items():
            counts.setdefault(aspect, Counter())[polarity] += 1
    half = len(train_truth) / 2
    return {a: c.most_common(1)[0][0] for a, c in counts.items() if sum(c.values()) > half}


def _tfidf_aspects(
    train_texts: list[str], train_truth: list[dict[str, str]], texts: list[str]
) -> list[dict[str, str]]:
    """Per aspect, a TF-IDF + logistic regression over absent/negative/neutral/positive."""
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    x_train = vectorizer.fit_transform(train_texts)
    x = vectorizer.transform(texts)
    out: list[dict[str, str]] = [{} for _ in texts]
    for aspect in sorted({a for row in train_truth for a in row}):
        y = [row.get(aspect, STATES[0]) for row in train_truth]
        if len(set(y)) < 2:
            continue
        model = LogisticRegression(max_iter=2000).fit(x_train, y)
        for row, state in zip(out, model.predict(x), strict=True):
            if state != STATES[0]:
                row[aspect] = str(state)
    return out


def cues_report(
    pipeline: Pipeline,
    rows: list[Example],
    unaccented: bool,
    analyses: list[Analysis] | None = None,
) -> dict[str, Any]:
    """Severity and churn-risk figures on rows labelled with them.

    On a hand-written sample every labelled row is scored and there is no TF-IDF
    baseline (it would need a training split of the sample).
    """
    texts = [strip_diacritics(e.text) if unaccented else e.text for e in rows]
    if analyses is None:
        analyses = _analyze(pipeline, texts, "cues")
    report: dict[str, Any] = {"n": len(rows)}
    graded = [(e.severity, a.severity) for e, a in zip(rows, analyses, strict=True) if e.severity]
    if graded:
        truth, predicted = [t for t, _ in graded], [p for _, p in graded]
        labels = [s for s in SEVERITIES if s in set(truth) | set(predicted)]
        majority = Counter(truth).most_common(1)[0][0]
        rank = {s: i for i, s in enumerate(SEVERITIES)}
        near = [abs(rank[t] - rank[p]) <= 1 for t, p in zip(truth, predicted, strict=True)]
        report["severity"] = {
            "n": len(graded),
            "accuracy": round(float(accuracy_score(truth, predicted)), 4),
            "macro_f1": round(float(f1_score(truth, predicted, average="macro")), 4),
            "adjacent": round(float(np.mean(near)), 4),
            "confusion": {
                "labels": labels,
                "matrix": confusion_matrix(truth, predicted, labels=labels).tolist(),
            },
            "baselines": {
                "majority_macro_f1": round(
                    float(f1_score(truth, [majority] * len(truth), average="macro")), 4
                )
            },
        }
    flagged = [
        (e.churn_risk, a.churn_risk)
        for e, a in zip(rows, analyses, strict=True)
        if e.churn_risk is not None
    ]
    if flagged:
        truth_b, predicted_b = [t for t, _ in flagged], [p for _, p in flagged]
        report["churn_risk"] = {
            "n": len(flagged),
            "precision": round(float(precision_score(truth_b, predicted_b, zero_division=0)), 4),
            "recall": round(float(recall_score(truth_b, predicted_b, zero_division=0)), 4),
            "f1": round(float(f1_score(truth_b, predicted_b, zero_division=0)), 4),
        }
    return report


def labels_report(pipeline: Pipeline, corpus: Corpus) -> dict[str, Any]:
    """Our labels' fixed test split, per language and overall, as written and unaccented.

    Complaint and category with their TF-IDF baselines (trained on the labelled train
    split), churn risk and severity from the trained heads.
    """
    out: dict[str, Any] = {"lang": sorted({e.lang for e in corpus.test})}
    for lang in ("vi", "en"):
        rows = [e for e in corpus.test if e.lang == lang]
        train = [e for e in corpus.train if e.lang == lang]
        if not rows:
            continue
        part = Corpus(f"{corpus.name}/{lang}", train, rows)
        for form, unaccented in (("as_written", False), ("no_diacritics", True)):
            if unaccented and lang != "vi":
                continue
            report = evaluate_corpus(pipeline, part, rows, unaccented=unaccented)
            texts = [strip_diacritics(e.text) if unaccented else e.text for e in rows]
            analyses = _analyze(pipeline, texts, f"{part.name} {form} heads")
            report.update(
                {
                    k: v
                    for k, v in cues_report(pipeline, rows, unaccented, analyses).items()
                    if k != "n"
                }
            )
            if "category" in report:
                report["category"]["min_class_f1"] = min(
                    report["category"]["per_class_f1"].values()
                )
            out[f"{lang}/{form}"] = report
    return out


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
        if corpus.name == "written":
            continue  # our written examples only train: they are never what we measure on
        if corpus.test:
            sets[corpus.name] = labels_report(pipeline, corpus)
            continue
        cue_rows = [e for e in corpus.train + corpus.dev if e.severity or e.churn_risk is not None]
        if cue_rows:
            # Hand-written samples: too small to split, and the cues learn nothing from them.
            sets[corpus.name] = {
                "lang": sorted({e.lang for e in cue_rows}),
                "cues": {
                    "as_written": cues_report(pipeline, cue_rows, unaccented=False),
                    "no_diacritics": cues_report(pipeline, cue_rows, unaccented=True),
                },
            }
            continue
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
        "generated": datetime.now(UTC).strftime("%Y-%m-%d"),
        "data": [str(p) for p in data],
        "max_per_set": max_per_set,
        "model_versions": {
            **pipeline.model_versions,
            **{f"aspects/{d}": v for d, v in pipeline.aspect_versions.items()},
        },
        "seed": SEED,
        "sets": sets,
        "targets": _targets(sets) + _quality_targets(sets),
        "not_measured": [
            "clause spans of aspects: the sources label aspects per document, not per span",
        ],
    }


def _targets(sets: dict[str, Any]) -> list[dict[str, Any]]:
    rows = _label_targets(sets)
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
        written = report.get("as_written", {})
        for domain, figures in written.get("aspects", {}).items():
            if domain in ASPECT_TARGETS and "f1" in figures:
                threshold, published = ASPECT_TARGETS[domain]
                rows.append(
                    {
                        "target": f"{set_name} {domain} aspect+polarity F1 >= {threshold}",
                        "figure": figures["f1"],
                        "met": figures["f1"] >= threshold,
                        "published": published,
                    }
                )
            if "points_over_tfidf" in figures:
                rows.append(
                    {
                        "target": f"{set_name} {domain} aspects >= 3 points over TF-IDF",
                        "figure": figures["points_over_tfidf"],
                        "met": figures["points_over_tfidf"] >= POINTS_OVER_TFIDF,
                        "published": "",
                    }
                )
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
                        "target": f"{set_name} {task} >= 3 points over TF-IDF",
                        "figure": points,
                        "met": points >= POINTS_OVER_TFIDF,
                        "published": "",
                    }
                )
    return rows


def _label_targets(sets: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for set_name, report in sets.items():
        for lang in ("vi", "en"):
            figures = report.get(f"{lang}/as_written")
            if not isinstance(figures, dict):
                continue
            for (task, metric), threshold in LABEL_TARGETS.items():
                figure = figures.get(task, {}).get(metric)
                if figure is not None:
                    rows.append(
                        {
                            "target": f"{set_name} test/{lang} {task} {metric} >= {threshold}",
                            "figure": figure,
                            "met": figure >= threshold,
                            "published": "",
                        }
                    )
    return rows


def _quality_targets(sets: dict[str, Any]) -> list[dict[str, Any]]:
    """Star MAE, calibration and the cost of missing diacritics (issue targets)."""
    rows = []
    for set_name, report in sets.items():
        written = report.get("as_written", {})
        if set_name in STAR_MAE_TARGETS and "csat" in written:
            mae, limit = written["csat"]["mae"], STAR_MAE_TARGETS[set_name]
            rows.append(
                {
                    "target": f"{set_name} star MAE <= {limit}",
                    "figure": mae,
                    "met": mae <= limit,
                    "published": "",
                }
            )
        for task in ("sentiment", "complaint"):
            if task not in written:
                continue
            ece = written[task]["ece"]
            rows.append(
                {
                    "target": f"{set_name} {task} ECE <= {ECE_TARGET}",
                    "figure": ece,
                    "met": ece <= ECE_TARGET,
                    "published": "",
                }
            )
            stripped = report.get("no_diacritics", {}).get(task)
            if stripped:
                gap = round(written[task]["macro_f1"] - stripped["macro_f1"], 4)
                rows.append(
                    {
                        "target": f"{set_name} {task} without diacritics within "
                        f"{UNACCENTED_GAP} of as written",
                        "figure": gap,
                        "met": gap <= UNACCENTED_GAP,
                        "published": "",
                    }
                )
    return rows


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown tables."""
    lines = [
        "# langnghe evaluation",
        "",
        f"Generated {report['generated']} by `langnghe eval` (dev rows per set at most "
        f"{report['max_per_set']}, seed {report['seed']}) on: "
        + ", ".join(f"`{Path(p).name}`" for p in report["data"]),
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
    if not all(t["met"] for t in report["targets"]):
        lines += ["", WHY_MISSED.replace("\n", " ").strip()]
    lines += _labels_markdown(report["sets"])
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
        "| set | text | n | MAE | majority MAE | TF-IDF MAE | exact | ±1 | ECE | "
        "mean error per star |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in report["sets"].items():
        for variant in ("as_written", "no_diacritics"):
            r = s.get(variant, {}).get("csat")
            if r:
                b = r["baselines"]
                lines.append(
                    f"| {name} | {variant} | {r['n']} | {r['mae']:.3f} | {b['majority_mae']:.3f} | "
                    f"{b['tfidf_mae']:.3f} | {r['exact_accuracy']:.3f} | "
                    f"{r['off_by_one_accuracy']:.3f} | {r['ece']} | "
                    f"{r['mean_error_per_star']} |"
                )
    lines += [
        "",
        "## Aspect-level sentiment (dev splits, document-level aspect+polarity micro-F1)",
        "",
        "| set | text | domain | n | precision | recall | F1 | aspect-only F1 | TF-IDF F1 | "
        "majority F1 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in report["sets"].items():
        for variant in ("as_written", "no_diacritics"):
            for domain, r in s.get(variant, {}).get("aspects", {}).items():
                if "f1" in r:
                    b = r["baselines"]
                    lines.append(
                        f"| {name} | {variant} | {domain} | {int(r['n'])} | "
                        f"{r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | "
                        f"{r['aspect_only']['f1']:.3f} | {b['tfidf_f1']:.3f} | "
                        f"{b['majority_f1']:.3f} |"
                    )
    lines += [
        "",
        "## Severity and churn-risk cues (hand-written samples, all rows)",
        "",
        "| set | text | n | severity accuracy | severity macro-F1 | majority F1 | "
        "churn precision | churn recall | churn F1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in report["sets"].items():
        for variant, r in s.get("cues", {}).items():
            sev, churn = r.get("severity", {}), r.get("churn_risk", {})
            lines.append(
                f"| {name} | {variant} | {r['n']} | {sev.get('accuracy', '')} | "
                f"{sev.get('macro_f1', '')} | "
                f"{sev.get('baselines', {}).get('majority_macro_f1', '')} | "
                f"{churn.get('precision', '')} | {churn.get('recall', '')} | "
                f"{churn.get('f1', '')} |"
            )
    lines += ["", "Per-class F1 and confusion matrices are in report.json.", "", "Not measured:"]
    lines += [f"- {item}" for item in report["not_measured"]]
    return "\n".join(lines) + "\n"


def _labels_markdown(sets: dict[str, Any]) -> list[str]:
    """Our labelled test split: one row per language and form, then per-class category F1."""
    lines: list[str] = []
    for name, s in sets.items():
        forms = [k for k in s if "/" in k]
        if not forms:
            continue
        lines += [
            "",
            f"## Complaints, categories, churn and severity (`{name}`: our labels, fixed test "
            "split, never tuned on)",
            "",
            "| language/text | n | complaint F1 (TF-IDF) | category accuracy | category macro-F1 "
            "(TF-IDF) | lowest class F1 | severity macro-F1 | severity exact-or-adjacent | "
            "churn precision | churn recall |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for form in forms:
            r = s[form]
            c, k = r.get("complaint", {}), r.get("category", {})
            sev, churn = r.get("severity", {}), r.get("churn_risk", {})
            lines.append(
                f"| {form} | {r['n']} | {c.get('macro_f1', '')} "
                f"({c.get('baselines', {}).get('tfidf_macro_f1', '')}) | "
                f"{k.get('accuracy', '')} | {k.get('macro_f1', '')} "
                f"({k.get('baselines', {}).get('tfidf_macro_f1', '')}) | "
                f"{k.get('min_class_f1', '')} | {sev.get('macro_f1', '')} | "
                f"{sev.get('adjacent', '')} | {churn.get('precision', '')} | "
                f"{churn.get('recall', '')} |"
            )
        lines += ["", "Category F1 per class (as written):", ""]
        for form in (f for f in forms if f.endswith("as_written")):
            per_class = s[form].get("category", {}).get("per_class_f1", {})
            lines.append(
                f"- {form}: " + ", ".join(f"{c} {f:.2f}" for c, f in sorted(per_class.items()))
            )
    return lines


def write_report(report: dict[str, Any], out: Path) -> None:
    """Write report.json and report.md into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    (out / "report.md").write_text(markdown(report), encoding="utf-8")
