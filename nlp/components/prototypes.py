"""A few-shot classifier for a tenant's own categories: nearest prototype on the embedding.

Each category's prototype is the mean of its members' unit embeddings (the example
texts a person wrote, plus items people corrected into it), after subtracting the
mean of all members: e5 embeddings share a large common direction, and removing it
spreads the categories apart (with a single category nothing is subtracted). Scores are
cosine similarities to the prototypes, turned into probabilities by a softmax whose
temperature is fitted on leave-one-out predictions of the members (each member scored
against prototypes built without it).

With ``open_set`` (a taxonomy that extends the default categories), a "none of these"
score competes with the prototypes: the 10th percentile of the members' leave-one-out
similarity to their own prototype. When it wins, the caller keeps the default head's
answer.

Pure numpy: no database, no encoder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]

TEMPERATURES = np.geomspace(0.005, 1.0, 60)
DEFAULT_TEMPERATURE = 0.05
OPEN_SET_QUANTILE = 10.0


def _unit(x: Matrix) -> Matrix:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def _softmax(logits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    out: npt.NDArray[np.float64] = exp / exp.sum(axis=1, keepdims=True)
    return out


@dataclass(frozen=True)
class PrototypeClassifier:
    """Calibrated nearest-prototype classification over unit embeddings."""

    classes: tuple[str, ...]
    center: Matrix
    """``(dim,)``: subtracted from every embedding before comparing."""
    prototypes: Matrix
    """``(len(classes), dim)`` unit vectors in the centred space."""
    temperature: float
    reject_similarity: float | None
    """The "none of these" score (open set), or None when a class must be chosen."""
    n_members: tuple[int, ...]

    @classmethod
    def fit(
        cls,
        labels: Sequence[str],
        embeddings: Matrix,
        classes: Sequence[str] | None = None,
        open_set: bool = False,
    ) -> PrototypeClassifier:
        """Build prototypes from members (one label and one embedding per row).

        ``classes`` fixes the order (default: sorted labels); a class without members is
        dropped. Raises ValueError when no class has a member.
        """
        x = _unit(np.asarray(embeddings, dtype=np.float32))
        if len(labels) != len(x):
            raise ValueError("one label per embedding")
        present = set(labels)
        order = tuple(c for c in (classes or sorted(present)) if c in present)
        if not order:
            raise ValueError("no class has a member")
        y = np.array([order.index(label) for label in labels if label in order])
        x = x[[i for i, label in enumerate(labels) if label in order]]
        # One class alone has no common direction to remove from it (its members would be
        # centred against themselves), so its embeddings are used as they are.
        center: Matrix = (x.mean(axis=0) if len(order) > 1 else np.zeros(x.shape[1])).astype(
            np.float32
        )
        centred = _unit(x - center)
        sums = np.zeros((len(order), x.shape[1]), np.float64)
        np.add.at(sums, y, centred)
        counts = np.bincount(y, minlength=len(order))
        prototypes = _unit((sums / counts[:, None]).astype(np.float32))
        temperature, reject = _fit_calibration(centred, y, sums, counts, open_set)
        return cls(
            classes=order,
            center=center,
            prototypes=prototypes,
            temperature=temperature,
            reject_similarity=reject,
            n_members=tuple(int(c) for c in counts),
        )

    def similarities(self, embeddings: Matrix) -> Matrix:
        """``(n, len(classes))`` cosine similarities in the centred space."""
        x = _unit(np.asarray(embeddings, dtype=np.float32).reshape(-1, self.center.shape[0]))
        return (_unit(x - self.center) @ self.prototypes.T).astype(np.float32)

    def predict_proba(self, embeddings: Matrix) -> Matrix:
        """``(n, len(classes))`` probabilities; with an open set, rows sum to at most one.

        The missing mass is the probability of "none of these".
        """
        logits = self.similarities(embeddings).astype(np.float64)
        if self.reject_similarity is not None:
            logits = np.concatenate(
                [logits, np.full((len(logits), 1), self.reject_similarity)], axis=1
            )
        probs = _softmax(logits / self.temperature)
        return probs[:, : len(self.classes)].astype(np.float32)

    def predict(self, embeddings: Matrix) -> list[tuple[str | None, float]]:
        """The best class and its probability per row; None where "none of these" wins."""
        probs = self.predict_proba(embeddings)
        out: list[tuple[str | None, float]] = []
        for row in probs:
            best = int(np.argmax(row))
            p = float(row[best])
            rest = 1.0 - float(row.sum())
            out.append((None, rest) if rest > p else (self.classes[best], p))
        return out


def _fit_calibration(
    centred: Matrix,
    y: npt.NDArray[np.int64],
    sums: npt.NDArray[np.float64],
    counts: npt.NDArray[np.int64],
    open_set: bool,
) -> tuple[float, float | None]:
    """Temperature (leave-one-out log-loss) and the open-set similarity threshold."""
    rows = [i for i in range(len(y)) if counts[y[i]] > 1]
    if not rows:
        return DEFAULT_TEMPERATURE, (0.0 if open_set else None)
    sims = np.zeros((len(rows), len(counts)), np.float64)
    for r, i in enumerate(rows):
        protos = sums.copy()
        n = counts.astype(np.float64).copy()
        protos[y[i]] -= centred[i]
        n[y[i]] -= 1
        protos = protos / np.maximum(n, 1)[:, None]
        protos /= np.maximum(np.linalg.norm(protos, axis=1, keepdims=True), 1e-12)
        sims[r] = protos @ centred[i]
        sims[r, n == 0] = -1.0
    truth = y[rows]
    reject = float(np.percentile(sims[np.arange(len(rows)), truth], OPEN_SET_QUANTILE))
    logits = sims if not open_set else np.concatenate([sims, np.full((len(rows), 1), reject)], 1)
    best_t, best_loss = DEFAULT_TEMPERATURE, np.inf
    for t in TEMPERATURES:
        probs = _softmax(logits / t)
        loss = -float(np.mean(np.log(np.maximum(probs[np.arange(len(rows)), truth], 1e-12))))
        if loss < best_loss:
            best_t, best_loss = float(t), loss
    return best_t, (reject if open_set else None)
