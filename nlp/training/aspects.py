"""Train the per-domain aspect models and measure them on the dev splits.

Rows whose source labels aspects (``aspects``: ``[{"aspect", "polarity"}]``)
train one :class:`nlp.aspects.AspectModel` per ``domain`` (VLSP 2018 hotel and
restaurant, UIT-ViSFD smartphones, or a user's own). Each aspect gets a
four-way logistic regression over the document embedding; the regularisation
strength and a bias against "absent" are tuned on the dev split for
aspect+polarity micro-F1, the VLSP 2018 shared-task measure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression
from tqdm import tqdm

from nlp.components.aspects import STATES, AspectModel
from nlp.encoders.registry import Embeddings
from nlp.training.corpora import Example

STRENGTHS = (0.5, 2.0, 8.0)
ABSENT_SHIFTS = (0.0, -0.5, -1.0, -1.5, -2.0)
# A logit far below any fitted one: a state the training rows never show is never predicted.
_NEVER = -30.0

Labels = list[dict[str, str]]


def aspect_labels(examples: Sequence[Example]) -> Labels:
    """Per example, aspect -> polarity (the last label wins if a source repeats one)."""
    return [dict(e.aspects) for e in examples]


def micro_f1(truth: Labels, predicted: Labels, with_polarity: bool = True) -> dict[str, float]:
    """Precision, recall and F1 over (document, aspect[, polarity]) pairs."""
    tp = fp = fn = 0
    for gold, guess in zip(truth, predicted, strict=True):
        g = set(gold.items()) if with_polarity else set(gold)
        p = set(guess.items()) if with_polarity else set(guess)
        tp += len(g & p)
        fp += len(p - g)
        fn += len(g - p)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "n": float(len(truth)),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
    }


def _state_matrix(labels: Labels, aspects: Sequence[str]) -> npt.NDArray[np.int64]:
    index = {s: i for i, s in enumerate(STATES)}
    return np.array(
        [[index.get(row.get(a, "absent"), 0) for a in aspects] for row in labels], dtype=np.int64
    ).reshape(len(labels), len(aspects))


def _fit(
    x: Embeddings, states: npt.NDArray[np.int64], strength: float
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    n_aspects = states.shape[1]
    weights = np.zeros((n_aspects, len(STATES), x.shape[1]), np.float32)
    bias = np.full((n_aspects, len(STATES)), _NEVER, np.float32)
    for a in range(n_aspects):
        seen = np.unique(states[:, a])
        if len(seen) == 1:
            bias[a, seen[0]] = 0.0
            continue
        model = LogisticRegression(max_iter=2000, C=strength)
        model.fit(x, states[:, a])
        coef, intercept = model.coef_, model.intercept_
        if len(seen) == 2:
            # sklearn keeps one row for two classes: the logit of the second against the first.
            coef = np.stack([np.zeros_like(coef[0]), coef[0]])
            intercept = np.array([0.0, intercept[0]])
        for row, state in enumerate(model.classes_):
            weights[a, state] = coef[row]
            bias[a, state] = intercept[row]
    return weights, bias


@dataclass(frozen=True)
class AspectReport:
    """How one domain's model was chosen and how it scores on dev."""

    domain: str
    train_rows: int
    dev_rows: int
    strength: float
    absent_shift: float
    dev: dict[str, float]
    dev_aspect_only: dict[str, float]


def train_domain(
    domain: str,
    train: Sequence[Example],
    x_train: Embeddings,
    dev: Sequence[Example],
    x_dev: Embeddings,
) -> tuple[AspectModel, AspectReport]:
    """Fit one domain's model, tuned on ``dev`` for aspect+polarity micro-F1."""
    truth_train, truth_dev = aspect_labels(train), aspect_labels(dev)
    aspects = tuple(sorted({a for row in truth_train for a in row}))
    states = _state_matrix(truth_train, aspects)
    best: tuple[float, AspectModel, float, float] | None = None
    for strength in tqdm(STRENGTHS, desc=f"aspects {domain}", unit="fit", leave=False):
        weights, bias = _fit(x_train, states, strength)
        for shift in ABSENT_SHIFTS:
            shifted = bias.copy()
            shifted[:, 0] += shift
            model = AspectModel(domain, aspects, weights, shifted)
            score = micro_f1(truth_dev, model.document_aspects(x_dev))["f1"]
            if best is None or score > best[0]:
                best = (score, model, strength, shift)
    assert best is not None
    _, model, strength, shift = best
    predicted = model.document_aspects(x_dev)
    report = AspectReport(
        domain=domain,
        train_rows=len(train),
        dev_rows=len(dev),
        strength=strength,
        absent_shift=shift,
        dev=micro_f1(truth_dev, predicted),
        dev_aspect_only=micro_f1(truth_dev, predicted, with_polarity=False),
    )
    return model, report


def by_domain(examples: Sequence[Example]) -> dict[str, list[int]]:
    """Indices of the aspect-labelled examples, per domain."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(examples):
        if e.aspects and e.domain:
            groups[e.domain].append(i)
    return dict(groups)


def card(report: AspectReport, version: str, encoder: str, trained: str) -> str:
    """The model card of one domain's aspect model."""
    return "\n".join(
        [
            f"# aspect model `{report.domain}`, {version}",
            "",
            "- Purpose: which aspects of the domain a text talks about, and with what polarity.",
            f"- Trained: {trained} by `langnghe train` on {report.train_rows} rows labelled "
            f"with `domain: {report.domain}`; tuned on {report.dev_rows} dev rows "
            f"(C={report.strength}, absent-logit shift {report.absent_shift})",
            f"- Encoder: {encoder} (frozen); per aspect a four-way logistic regression "
            "(absent / negative / neutral / positive) over the document embedding.",
            "- Data and licences: see ../shared/datasets/README.md (VLSP 2018 is under the VLSP "
            "user agreement; UIT-ViSFD for research): retrain on your own data for commercial use.",
            "- Limits: document-level labels only, so clause spans at serving time are the "
            "clause where the aspect's head is most confident, not a trained span extractor.",
            "",
            "| dev measure | precision | recall | F1 |",
            "|---|---|---|---|",
            f"| aspect+polarity | {report.dev['precision']:.3f} | {report.dev['recall']:.3f} | "
            f"{report.dev['f1']:.3f} |",
            f"| aspect only | {report.dev_aspect_only['precision']:.3f} | "
            f"{report.dev_aspect_only['recall']:.3f} | {report.dev_aspect_only['f1']:.3f} |",
            "",
        ]
    )


def save_domain(model: AspectModel, out: Path) -> Path:
    """Write the model under ``out/aspects/<domain>.npz`` and return the path."""
    path = out / "aspects" / f"{model.domain}.npz"
    model.save(path)
    return path
