"""What a head reads: named feature blocks, side by side, the same at training and serving.

A head's manifest entry lists its blocks (``features``): ``embedding`` (the sentence
vector), ``cues`` (the 0/1 phrase-list features of :mod:`nlp.components.cues`) and
``lexical`` (hashed character n-grams, :mod:`nlp.components.lexical`). Serving builds them
from the docs (:func:`doc_features`), training from the texts (:func:`text_features`); both
go through :func:`_side_by_side`, so a head sees the same columns in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix, hstack, vstack

from nlp.components.base import Doc, stacked
from nlp.components.cues import cue_features, find_cues
from nlp.components.lexical import CharNgrams

BLOCKS = ("embedding", "cues", "lexical")
LEGACY_FEATURES = {"churn": ("embedding", "cues"), "severity": ("embedding", "cues")}
"""Heads written before manifests named their features read these."""

Dense: TypeAlias = npt.NDArray[np.float32]
Features: TypeAlias = Dense | csr_matrix


def head_features(name: str, entry: dict[str, Any]) -> tuple[str, ...]:
    """The blocks head ``name`` reads, from its manifest entry."""
    listed: Sequence[str] = entry.get("features") or LEGACY_FEATURES.get(name) or ("embedding",)
    blocks = tuple(listed)
    unknown = [b for b in blocks if b not in BLOCKS]
    if unknown or blocks[:1] != ("embedding",):
        raise ValueError(
            f"head {name!r}: features {list(blocks)} must start with 'embedding' "
            f"and name only {list(BLOCKS)}"
        )
    return blocks


def _side_by_side(
    blocks: Sequence[str], embeddings: Dense, cues: Dense | None, lexical: csr_matrix | None
) -> Features:
    dense = [embeddings] + ([cues] if "cues" in blocks and cues is not None else [])
    x = np.concatenate(dense, axis=1).astype(np.float32) if len(dense) > 1 else embeddings
    if "lexical" not in blocks:
        return x
    if lexical is None:
        raise ValueError("a lexical head needs the lexical component before it")
    return csr_matrix(hstack([csr_matrix(x), lexical]), dtype=np.float32)


def doc_features(docs: list[Doc], blocks: Sequence[str]) -> Features:
    """The batch's features for a head reading ``blocks`` (what earlier components set)."""
    cues = None
    if "cues" in blocks:
        found = [d.cues for d in docs]
        if any(c is None for c in found):
            raise ValueError("a head reading cues needs the cues component before it")
        cues = cue_features(found)  # type: ignore[arg-type]
    lexical = None
    if "lexical" in blocks:
        rows = [d.lexical for d in docs]
        if any(r is None for r in rows):
            raise ValueError("a head reading lexical features needs the lexical component")
        lexical = csr_matrix(vstack(rows), dtype=np.float32)
    return _side_by_side(blocks, stacked(docs), cues, lexical)


def text_features(
    embeddings: Dense,
    texts: Sequence[str],
    blocks: Sequence[str],
    lexical: CharNgrams | None = None,
) -> Features:
    """Training's features for ``blocks``: ``texts`` are the normalised serving texts, and
    ``lexical`` the fitted n-gram weighting (needed when ``blocks`` name it)."""
    cues = cue_features([find_cues(t) for t in texts]) if "cues" in blocks else None
    rows = None
    if "lexical" in blocks:
        if lexical is None:
            raise ValueError("lexical features need a fitted CharNgrams")
        rows = lexical.transform(texts)
    return _side_by_side(blocks, embeddings, cues, rows)
