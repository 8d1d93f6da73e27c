"""An embedding cache keyed by text hash, so re-training, evaluation and re-analysis
never encode the same text twice.

SQLite from the standard library: one file, safe across processes, no server.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlp.encoders.registry import Embeddings, Encoder, encoder_info


class CachedEncoder:
    """Wraps an encoder; looks texts up by SHA-256 before encoding the misses."""

    def __init__(self, encoder: Encoder, path: Path) -> None:
        self._encoder = encoder
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS embeddings (key BLOB PRIMARY KEY, vector BLOB NOT NULL)"
        )

    @property
    def name(self) -> str:
        """The wrapped encoder's name: cached vectors are the same vectors."""
        return self._encoder.name

    @property
    def dim(self) -> int:
        """The wrapped encoder's dimension."""
        return self._encoder.dim

    @property
    def compatible_with(self) -> tuple[str, ...]:
        """The wrapped encoder's compatible encoders (see nlp.pipeline)."""
        return tuple(getattr(self._encoder, "compatible_with", ()))

    def info(self) -> dict[str, Any]:
        """The wrapped encoder's own description."""
        return encoder_info(self._encoder)

    def _key(self, text: str) -> bytes:
        return hashlib.sha256(f"{self.name}\0{text}".encode()).digest()

    def encode(self, texts: Sequence[str]) -> Embeddings:
        """Cached vectors for known texts; the rest encoded in one call and stored."""
        keys = [self._key(t) for t in texts]
        found: dict[bytes, Embeddings] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, blob in self._db.execute(
                f"SELECT key, vector FROM embeddings WHERE key IN ({marks})", chunk
            ):
                found[key] = np.frombuffer(blob, dtype=np.float32)
        unique: dict[bytes, int] = {}
        for i, key in enumerate(keys):
            if key not in found:
                unique.setdefault(key, i)
        if unique:
            vectors = self._encoder.encode([texts[i] for i in unique.values()])
            rows = [
                (k, v.astype(np.float32).tobytes()) for k, v in zip(unique, vectors, strict=True)
            ]
            with self._db:
                self._db.executemany("INSERT OR IGNORE INTO embeddings VALUES (?, ?)", rows)
            found.update({k: v.astype(np.float32) for k, v in zip(unique, vectors, strict=True)})
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, key in enumerate(keys):
            out[i] = found[key]
        return out
