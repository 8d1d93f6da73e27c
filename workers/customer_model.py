"""A churn model fitted on a tenant's outcomes, and the figures that decide whether to use it.

Framing, the same for training and evaluation: at a cutoff ``T0 = now - horizon`` every
customer who has been seen and has not cancelled yet is assessed with only the rows
before ``T0`` (``customer_risk.assess(..., now=T0)``); the label is whether they cancel in
``(T0, now]``. Customers are split by a hash of their ref into training (70%) and
held-out (30%). The model is a logistic regression on the assessment's features whose
logit is then Platt-scaled on the training customers' cross-validated predictions, folded
back into one linear model (so it is stored as JSON and applied without scikit-learn).
It replaces the transparent score only when its held-out AUC is higher.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from workers.customer_risk import (
    ACTIVITY_TYPES,
    DEFAULT_GAP,
    Assessment,
    FeedbackFact,
    InteractionFact,
    usual_gap,
)

# A customer silent for this many of their own usual gaps at the end of the horizon has
# lapsed: they count as churned, as a cancellation does.
LAPSE_GAPS = 2.0

FEATURES = (
    "silence_ratio",
    "activity_count",
    "bad_experiences_60d",
    "frequency_drop",
    "silence_after_bad_experience",
    "bad_experiences",
    "unresolved_complaint",
    "reopened_complaint",
    "churn_cue",
    "severe_feedback",
    "negative_trend",
    "detractor_answer",
    "transparent_risk",
)
_LOGGED = {"silence_ratio", "activity_count", "bad_experiences_60d"}


def feature_vector(a: Assessment) -> list[float]:
    """The model's inputs for one assessment (counts and ratios on a log scale)."""
    values = {**a.features, "transparent_risk": a.risk}
    return [
        math.log1p(max(0.0, values.get(name, 0.0))) if name in _LOGGED else values.get(name, 0.0)
        for name in FEATURES
    ]


def churn_label(
    feedback: Sequence[FeedbackFact],
    interactions: Sequence[InteractionFact],
    cutoff: datetime,
    now: datetime,
) -> int:
    """1 when the customer cancelled in ``(cutoff, now]`` or lapsed: nothing of their own
    initiative in ``(cutoff, now]`` and silent for ``LAPSE_GAPS`` of their usual gaps by
    ``now``; else 0.

    Cancellations alone are not enough: many customers leave without cancelling, and a
    model trained on cancellations learns that long silence means staying.
    """
    if any(i.type == "cancellation" and cutoff < i.at <= now for i in interactions):
        return 1
    activity = [f.at for f in feedback if f.at <= now]
    activity += [i.at for i in interactions if i.type in ACTIVITY_TYPES and i.at <= now]
    if not activity or max(activity) > cutoff:
        return 0
    before = [at for at in activity if at <= cutoff]
    gap = usual_gap([i.at for i in interactions if i.type == "order" and i.at <= cutoff], before)
    return int(now - max(activity) >= LAPSE_GAPS * (gap or DEFAULT_GAP))


def held_out(ref: str) -> bool:
    """Whether a customer belongs to the held-out 30% (stable: a hash of the ref)."""
    return int(hashlib.sha256(ref.encode()).hexdigest()[:8], 16) % 10 < 3


@dataclass(frozen=True)
class ChurnModel:
    """A fitted, calibrated linear churn model."""

    coef: tuple[float, ...]
    intercept: float

    def predict(self, a: Assessment) -> float:
        """The calibrated probability of churn within the horizon."""
        z = self.intercept + sum(c * x for c, x in zip(self.coef, feature_vector(a), strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def as_json(self) -> dict[str, Any]:
        """The model as stored in ``churn_models``."""
        return {"features": list(FEATURES), "coef": list(self.coef), "intercept": self.intercept}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChurnModel | None:
        """A stored model, or None when it was fitted on other features."""
        if data.get("features") != list(FEATURES):
            return None
        return cls(tuple(float(c) for c in data["coef"]), float(data["intercept"]))


def fit(x: npt.NDArray[np.float64], y: npt.NDArray[np.int_], seed: int = 0) -> ChurnModel:
    """Logistic regression, then Platt scaling on 5-fold out-of-fold logits, folded together."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    base = LogisticRegression(C=1.0, max_iter=2000)
    folds = min(5, int(min(y.sum(), len(y) - y.sum())))
    base.fit(x, y)
    if folds >= 2:
        logits = cross_val_predict(
            LogisticRegression(C=1.0, max_iter=2000), x, y, cv=folds, method="decision_function"
        )
        platt = LogisticRegression(C=1e6, max_iter=2000).fit(logits.reshape(-1, 1), y)
        a, b = float(platt.coef_[0][0]), float(platt.intercept_[0])
    else:
        a, b = 1.0, 0.0
    coef = tuple(float(a * c) for c in base.coef_[0])
    return ChurnModel(coef, float(a * base.intercept_[0] + b))


def auc(scores: Sequence[float], labels: Sequence[int]) -> float | None:
    """Area under the ROC curve (ties count half); None without both classes."""
    from sklearn.metrics import roc_auc_score

    if len(set(labels)) < 2:
        return None
    return float(roc_auc_score(labels, scores))


def calibration(scores: Sequence[float], labels: Sequence[int], bins: int = 5) -> dict[str, Any]:
    """Brier score, expected calibration error and the reliability table (equal-width bins)."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=float)
    table = []
    ece = 0.0
    for k in range(bins):
        lo, hi = k / bins, (k + 1) / bins
        mask = (s >= lo) & ((s < hi) if k < bins - 1 else (s <= hi))
        if not mask.any():
            continue
        predicted, observed = float(s[mask].mean()), float(y[mask].mean())
        ece += mask.mean() * abs(predicted - observed)
        table.append(
            {
                "bin": f"{lo:.1f}-{hi:.1f}",
                "n": int(mask.sum()),
                "predicted": round(predicted, 3),
                "observed": round(observed, 3),
            }
        )
    return {"brier": round(float(((s - y) ** 2).mean()), 4), "ece": round(ece, 4), "bins": table}


def precision_at(scores: Sequence[float], labels: Sequence[int], share: float) -> float:
    """Share of churners among the top ``share`` of customers by score."""
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    top = order[: max(1, round(len(order) * share))]
    return float(np.asarray(labels)[top].mean())


def recall_at(scores: Sequence[float], labels: Sequence[int], share: float) -> float | None:
    """Share of all churners found in the top ``share`` of customers by score."""
    y = np.asarray(labels)
    if not y.sum():
        return None
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    top = order[: max(1, round(len(order) * share))]
    return float(y[top].sum() / y.sum())


def train_and_compare(
    assessed: dict[str, Assessment], labels: dict[str, int]
) -> tuple[ChurnModel | None, dict[str, Any]]:
    """Fit on the training customers, compare with the transparent score on the held-out ones.

    Returns the model (None when there are too few outcomes to fit) and the report; the
    report's ``use_model`` says whether the model scored better on held-out AUC.
    """
    refs = sorted(assessed)
    train = [r for r in refs if not held_out(r)]
    test = [r for r in refs if held_out(r)]
    report: dict[str, Any] = {
        "customers": len(refs),
        "churned": sum(labels[r] for r in refs),
        "train": len(train),
        "held_out": len(test),
    }
    y_train = np.asarray([labels[r] for r in train], dtype=int)
    y_test = [labels[r] for r in test]
    if y_train.sum() < 5 or len(y_train) - y_train.sum() < 5 or len(set(y_test)) < 2:
        report.update(use_model=False, reason="too few outcomes to fit and check a model")
        return None, report
    x_train = np.asarray([feature_vector(assessed[r]) for r in train], dtype=float)
    model = fit(x_train, y_train)
    transparent = [assessed[r].risk for r in test]
    fitted = [model.predict(assessed[r]) for r in test]
    report["transparent"] = {"auc": auc(transparent, y_test), **calibration(transparent, y_test)}
    report["model"] = {"auc": auc(fitted, y_test), **calibration(fitted, y_test)}
    report["use_model"] = (report["model"]["auc"] or 0) > (report["transparent"]["auc"] or 0)
    return model, report
