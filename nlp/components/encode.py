"""Component ``encode``: one encoder pass per batch, one unit vector per item."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nlp.components.base import Doc
from nlp.components.normalize import NormalizedText
from nlp.encoders.registry import Embeddings, Encoder


def weighted_embeddings(encoder: Encoder, texts: Sequence[NormalizedText]) -> Embeddings:
    """One unit vector per item: the weighted mean of its segments' embeddings, in one pass."""
    flat = [segment for text in texts for segment in text.segments]
    vectors = encoder.encode([segment.text for segment in flat])
    out = np.zeros((len(texts), vectors.shape[1] if len(flat) else encoder.dim), np.float32)
    row = 0
    for index, text in enumerate(texts):
        for segment in text.segments:
            out[index] += segment.weight * vectors[row]
            row += 1
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return (out / np.maximum(norms, 1e-12)).astype(np.float32)


class EncodeStep:
    """Embeds the normalised texts (a call transcript's customer turns weigh more)."""

    name = "encode"

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self.version = encoder.name

    def __call__(self, docs: list[Doc]) -> None:
        """Set each doc's embedding."""
        texts = [d.text for d in docs if d.text is not None]
        if len(texts) != len(docs):
            raise ValueError("the encode component needs the normalize component before it")
        for doc, vector in zip(docs, weighted_embeddings(self.encoder, texts), strict=True):
            doc.embedding = vector
            doc.out["embedding"] = vector
