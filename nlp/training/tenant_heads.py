"""Refitting a head on one tenant's corrections, with the shipped head as the prior.

A tenant has tens or hundreds of corrected items, far too few to learn a head from
scratch. The refit is a multinomial logistic regression on the stored embeddings
whose L2 penalty pulls the weights towards the shipped head's (a Gaussian prior
centred on it, i.e. MAP estimation), so the shipped head's training on the public
sets stays in force wherever the tenant's corrections say nothing. A head that has
no shipped counterpart (churn risk and severity are keyword cues today) is pulled
towards zero: plain L2-regularised logistic regression.

Pure numpy and scipy: no database, no encoder.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize

from nlp.components.heads import LinearHead

Matrix = npt.NDArray[np.float32]

PRIOR_STRENGTH = 1.0
"""λ in ``sum(cross-entropy) + λ/2 · ||W - W_prior||²`` (weights and bias)."""


def softmax_form(head: LinearHead) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``(len(classes), dim)`` weights and bias giving the same probabilities under softmax.

    A binary head stored as one logistic row ``w`` becomes rows ``(-w/2, w/2)``.
    """
    w = head.dense_weights.astype(np.float64)
    b = head.bias.astype(np.float64)
    if len(head.classes) == 2 and w.shape[0] == 1:
        return np.stack([-w[0] / 2, w[0] / 2]), np.array([-b[0] / 2, b[0] / 2])
    return w, b


def aligned_prior(
    prior: LinearHead | None, classes: Sequence[str], dim: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The prior's softmax weights re-ordered to ``classes``; zero rows where it has none."""
    w0 = np.zeros((len(classes), dim))
    b0 = np.zeros(len(classes))
    if prior is None:
        return w0, b0
    w, b = softmax_form(prior)
    for i, name in enumerate(classes):
        if name in prior.classes:
            w0[i] = w[prior.classes.index(name)]
            b0[i] = b[prior.classes.index(name)]
    return w0, b0


def fit_head(
    embeddings: Matrix,
    labels: Sequence[str],
    classes: Sequence[str],
    prior: LinearHead | None = None,
    strength: float = PRIOR_STRENGTH,
) -> LinearHead:
    """A softmax head over ``classes`` fitted on the rows, starting from and pulled to the prior."""
    x = np.asarray(embeddings, dtype=np.float64)
    if len(x) != len(labels) or not len(x):
        raise ValueError("need one label per embedding, and at least one row")
    unknown = set(labels) - set(classes)
    if unknown:
        raise ValueError(f"labels outside the classes: {sorted(unknown)}")
    k, dim = len(classes), x.shape[1]
    y = np.array([list(classes).index(label) for label in labels])
    onehot = np.eye(k)[y]
    w0, b0 = aligned_prior(prior, classes, dim)
    theta0 = np.concatenate([w0.ravel(), b0])

    def objective(theta: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        w = theta[: k * dim].reshape(k, dim)
        b = theta[k * dim :]
        logits = x @ w.T + b
        logits -= logits.max(axis=1, keepdims=True)
        log_z = np.log(np.exp(logits).sum(axis=1))
        log_p = logits - log_z[:, None]
        diff = theta - theta0
        loss = -float((onehot * log_p).sum()) + 0.5 * strength * float(diff @ diff)
        residual = np.exp(log_p) - onehot
        grad = np.concatenate([(residual.T @ x).ravel(), residual.sum(axis=0)])
        return loss, grad + strength * diff

    result = minimize(objective, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 500})
    theta = result.x
    return LinearHead(
        classes=tuple(classes),
        weights=theta[: k * dim].reshape(k, dim).astype(np.float32),
        bias=theta[k * dim :].astype(np.float32),
    )


def predict(head: LinearHead, embeddings: Matrix) -> list[str]:
    """The most probable class per row."""
    probs = head.predict_proba(np.asarray(embeddings, dtype=np.float32))
    return [head.classes[int(i)] for i in np.argmax(probs, axis=1)]


def macro_f1(truth: Sequence[str], predicted: Sequence[str]) -> float:
    """Macro-averaged F1 over the classes present in ``truth``."""
    if not truth:
        return 0.0
    scores = []
    for label in sorted(set(truth)):
        tp = sum(1 for t, p in zip(truth, predicted, strict=True) if t == label and p == label)
        fp = sum(1 for t, p in zip(truth, predicted, strict=True) if t != label and p == label)
        fn = sum(1 for t, p in zip(truth, predicted, strict=True) if t == label and p != label)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores))
