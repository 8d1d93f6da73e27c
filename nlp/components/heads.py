"""Linear heads over the shared sentence embedding, stored as plain ``.npz`` arrays.

A head is a multinomial (or, for two classes, logistic) regression: weights,
bias and class names. Storing the arrays instead of a pickled estimator keeps
the shipped models small, loadable without scikit-learn's exact version, and
safe to read (no code runs on load). A head that also reads hashed character
n-grams (:mod:`nlp.components.features`) has a wide, mostly zero weight matrix:
it is kept and stored sparse (only n-grams seen in training have weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self, TypeAlias

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix, issparse

Matrix: TypeAlias = npt.NDArray[np.float32]
Weights: TypeAlias = Matrix | csr_matrix


def _dense(matrix: Any) -> Matrix:
    """A dense float32 array of a dense or sparse matrix."""
    return np.asarray(matrix.toarray() if issparse(matrix) else matrix, dtype=np.float32)


@dataclass(frozen=True)
class LinearHead:
    """Class probabilities from a linear map of the embedding."""

    classes: tuple[str, ...]
    weights: Weights
    """``(n_outputs, dim)``: one row per class, or one row for a binary head; sparse for a
    head over lexical features."""
    bias: Matrix
    """``(n_outputs,)``."""

    def logits(self, features: Matrix | csr_matrix) -> Matrix:
        """``(n, n_outputs)`` linear scores of dense or sparse feature rows."""
        return (_dense(features @ self.weights.T) + self.bias).astype(np.float32)

    @property
    def dense_weights(self) -> Matrix:
        """The weights as a dense array (sparse ones expanded)."""
        return _dense(self.weights)

    def embedding_part(self, dim: int) -> LinearHead:
        """The dense head over the first ``dim`` columns only (a prior for tenant heads,
        which see stored embeddings, not texts)."""
        return LinearHead(self.classes, _dense(self.weights[:, :dim]), self.bias)

    def predict_proba(self, embeddings: Matrix | csr_matrix) -> Matrix:
        """``(n, len(classes))`` probabilities, rows summing to one."""
        logits = self.logits(embeddings)
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
        weights: Weights = (
            csr_matrix(self.weights * factor, dtype=np.float32)
            if issparse(self.weights)
            else np.asarray(self.weights * factor, dtype=np.float32)
        )
        return type(self)(self.classes, weights, (self.bias * factor).astype(np.float32))

    def save(self, path: Path) -> None:
        """Write the head to ``path`` (``.npz``; sparse weights as their CSR arrays)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {
            "classes": np.array(self.classes),
            "bias": self.bias.astype(np.float32),
            "kind": np.array(self.kind),
        }
        if issparse(self.weights):
            w = csr_matrix(self.weights, dtype=np.float32)
            w.eliminate_zeros()
            arrays |= {
                "weights_data": w.data,
                "weights_indices": w.indices.astype(np.int32),
                "weights_indptr": w.indptr.astype(np.int64),
                "weights_shape": np.array(w.shape, np.int64),
            }
            np.savez_compressed(path, **arrays)
        else:
            np.savez(path, weights=np.asarray(self.weights, np.float32), **arrays)

    @classmethod
    def load(cls, path: Path) -> LinearHead:
        """Read a head written by :meth:`save`."""
        return load_head(path)


@dataclass(frozen=True)
class OrdinalHead(LinearHead):
    """Ordered classes from cumulative binary models (Frank and Hall): P(y > k) per threshold.

    ``weights`` has one row per threshold (``len(classes) - 1``); the class probabilities are
    the differences of the monotone cumulative ones, so a severity head never puts "low"
    and "critical" above "medium" the way a flat softmax may.
    """

    kind: ClassVar[str] = "ordinal"

    def predict_proba(self, embeddings: Matrix | csr_matrix) -> Matrix:
        """``(n, len(classes))`` probabilities from the cumulative ones."""
        above = 1.0 / (1.0 + np.exp(-self.logits(embeddings)))
        above = np.minimum.accumulate(above, axis=1)  # P(y > k) can only fall with k
        ones = np.ones((above.shape[0], 1), dtype=above.dtype)
        zeros = np.zeros_like(ones)
        cumulative = np.concatenate([ones, above, zeros], axis=1)
        return (cumulative[:, :-1] - cumulative[:, 1:]).astype(np.float32)


def load_head(path: Path) -> LinearHead:
    """A head written by :meth:`LinearHead.save` or :meth:`OrdinalHead.save`."""
    with np.load(path, allow_pickle=False) as data:
        kind = str(data["kind"]) if "kind" in data.files else "linear"
        head_type = OrdinalHead if kind == "ordinal" else LinearHead
        weights: Weights
        if "weights_data" in data.files:
            weights = csr_matrix(
                (data["weights_data"], data["weights_indices"], data["weights_indptr"]),
                shape=tuple(int(n) for n in data["weights_shape"]),
                dtype=np.float32,
            )
        else:
            weights = data["weights"].astype(np.float32)
        return head_type(
            classes=tuple(str(c) for c in data["classes"]),
            weights=weights,
            bias=data["bias"].astype(np.float32),
        )
