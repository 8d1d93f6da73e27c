"""A scripted analyzer whose embeddings mean something: each word a fixed random vector.

The outcome fields come from tests.integration.scripted (words such as ``complaint``,
``neg``, ``cat=...``); the embedding is the normalised sum of a seeded random 384-d
vector per word, so texts sharing words are close - enough for prototypes and tenant
heads to learn from, without loading the real encoder.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from nlp.types import Analysis, FeedbackText
from store import tenants as tenants_store
from store.db import Database
from tests.conftest import TenantKey
from tests.integration.scripted import scripted

DIM = 384


def word_vector(word: str) -> npt.NDArray[np.float32]:
    """The fixed random vector of one word."""
    seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "big")
    return np.random.default_rng(seed).normal(size=DIM).astype(np.float32)


def embed(text: str) -> npt.NDArray[np.float32]:
    """The unit-length sum of the text's word vectors."""
    total = np.sum([word_vector(w) for w in text.lower().split()], axis=0)
    return (total / np.linalg.norm(total)).astype(np.float32)


class WordVectorAnalyzer:
    """Implements workers.analysis.Analyzer: scripted fields, word-vector embeddings."""

    def __init__(self) -> None:
        self.calls = 0

    def analyze(self, items: Sequence[FeedbackText]) -> list[Analysis]:
        """One analysis per item."""
        self.calls += 1
        return [replace(scripted(i.text), embedding=embed(i.text)) for i in items]


def new_tenant(db: Database) -> TenantKey:
    """Another tenant with a key, for isolation tests."""
    name = f"tenant-{secrets.token_hex(4)}"
    with db.transaction() as conn:
        created = tenants_store.create_tenant(conn, name)
        key = tenants_store.create_api_key(conn, created.id, "test")
    return TenantKey(created.id, name, key)
