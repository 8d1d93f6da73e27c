"""Linear heads over the shared sentence embedding, stored as plain ``.npz`` arrays.

A head is a multinomial (or, for two classes, logistic) regression: weights,
bias and class names. Storing the arrays instead of a pickled estimator keeps
the shipped models small, loadable without scikit-learn's exact version, and
safe to read (no code runs on load).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Self

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]


@dataclass(frozen=True)
class LinearHead:
    """Class probabilities from a linear map of the embedding."""

    classes: tuple[str, ...]
    weights: Matrix
    """``(n_outputs, dim)``: one row per class, or one row for a binary head."""
    bias: Matrix
    """``(n_outputs,)``."""

    def predict_proba(self, embeddings: Matrix) -> Matrix:
        """``(n, len(classes))`` probabilities, rows summing to one."""
        logits = embeddings @ self.weights.T + self.bias
        if len(self.classes) == 2 and self.weights.shape[0] == 1:
            positive = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            return np.stack([1.0 - positive, positive], axis=1).astype(np.float32)
        logits = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)

    kind: ClassVar[str] = "linear"
    """Stored with the arrays, so :func:`load_head` rebuilds the right type."""

    def scaled(self, factor: float) -> Self:
        """The head with its logits multiplied by ``factor`` (``1 / temperature``)."""
        return type(self)(
            self.classes,
            (self.weights * factor).astype(np.float32),
            (self.bias * factor).astype(np.float32),
        )

    def save(self, path: Path) -> None:
        """Write the head to ``path`` (``.npz``)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            path,
            classes=np.array(self.classes),
            weights=self.weights.astype(np.float32),
            bias=self.bias.astype(np.float32),
            kind=np.array(self.kind),
        )

    @classmethod
    def load(cls, path: Path) -> LinearHead:
        """Read a head written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            return cls(
                classes=tuple(str(c) for c in data["classes"]),
                weights=data["weights"].astype(np.float32),
                bias=data["bias"].astype(np.float32),
            )


@dataclass(frozen=True)
class OrdinalHead(LinearHead):
    """Ordered classes from cumulative binary models (Frank and Hall): P(y > k) per threshold.

    ``weights`` has one row per threshold (``len(classes) - 1``); the class probabilities are
    the differences of the monotone cumulative ones, so a severity head never puts "low"
    and "critical" above "medium" the way a flat softmax may.
    """

    kind: ClassVar[str] = "ordinal"

    def predict_proba(self, embeddings: Matrix) -> Matrix:
        """``(n, len(classes))`` probabilities from the cumulative ones."""
        above = 1.0 / (1.0 + np.exp(-(embeddings @ self.weights.T + self.bias)))
        above = np.minimum.accumulate(above, axis=1)  # P(y > k) can only fall with k
        ones = np.ones((len(embeddings), 1), dtype=above.dtype)
        zeros = np.zeros_like(ones)
        cumulative = np.concatenate([ones, above, zeros], axis=1)
        return (cumulative[:, :-1] - cumulative[:, 1:]).astype(np.float32)


def load_head(path: Path) -> LinearHead:
    """A head written by :meth:`LinearHead.save` or :meth:`OrdinalHead.save`."""
    with np.load(path, allow_pickle=False) as data:
        kind = str(data["kind"]) if "kind" in data.files else "linear"
        head_type = OrdinalHead if kind == "ordinal" else LinearHead
        return head_type(
            classes=tuple(str(c) for c in data["classes"]),
            weights=data["weights"].astype(np.float32),
            bias=data["bias"].astype(np.float32),
        )
