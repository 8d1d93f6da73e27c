"""The e5 encoder on ONNX Runtime (CPU): fp32, or weights quantised to int8.

``langnghe models prepare --onnx`` exports the converted checkpoint to
``<model>/onnx/model.onnx`` (the network plus masked mean pooling) and
``model.int8.onnx``, its matmul weights quantised to int8 per output channel
(activations quantised on the fly). Serving needs only ``onnxruntime`` and
``tokenizers``, not torch. Batching and pooling are those of :mod:`nlp.encoders.batching`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nlp.encoders.batching import CheckpointEncoder, IdArray, special_ids
from nlp.encoders.onnx_paths import FP32_FILE, INT8_FILE, ONNX_DIR


def export_onnx(model_dir: Path, int8: bool = True, force: bool = False) -> Path:
    """Write ``model_dir/onnx/model.onnx`` (and the int8 copy); needs torch. Returns the folder."""
    import torch
    from transformers import AutoModel

    out = model_dir / ONNX_DIR
    if (out / FP32_FILE).is_file() and (not int8 or (out / INT8_FILE).is_file()) and not force:
        return out
    out.mkdir(parents=True, exist_ok=True)
    # Eager attention: the traced SDPA path bakes in shape-dependent branches.
    net = AutoModel.from_pretrained(
        str(model_dir), add_pooling_layer=False, attn_implementation="eager"
    )

    class Pooled(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.inner(input_ids=input_ids, attention_mask=attention_mask)[0]
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * weights).sum(dim=1) / weights.sum(dim=1)

    wrapped = Pooled(net).eval()
    ids = torch.randint(4, min(1000, int(net.config.vocab_size)), (2, 16))
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The TorchScript exporter: the dynamo one needs onnxscript, which we do not ship.
        torch.onnx.export(
            wrapped,
            (ids, mask),
            str(out / FP32_FILE),
            input_names=["input_ids", "attention_mask"],
            output_names=["pooled"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "pooled": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # Per-channel int8 weights on the matmuls only: the word embedding stays fp32
        # (quantising it, or one scale per tensor, cost about 0.01 of parity cosine).
        quantize_dynamic(
            str(out / FP32_FILE),
            str(out / INT8_FILE),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
        )
    return out


class OnnxEncoder(CheckpointEncoder):
    """multilingual-e5-small (or any exported checkpoint) on ONNX Runtime's CPU provider."""

    def __init__(
        self,
        model: str | Path,
        int8: bool = False,
        token_budget: int = 8192,
        threads: int | None = None,
    ) -> None:
        """Load ``model``'s exported graph; ``threads``: intra-op threads (default: ORT's)."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(model)
        graph = folder / ONNX_DIR / (INT8_FILE if int8 else FP32_FILE)
        if not graph.is_file():
            raise FileNotFoundError(f"no {graph}; run `langnghe models prepare --onnx`")
        meta_path = folder / "langnghe.json"
        meta: dict[str, Any] = (
            json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
        )
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            # ORT's default is a thread per core in every process; worker processes that
            # each took every core would fight over them (and spin while waiting).
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.threads = threads
        self.session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self.int8 = int8
        # The int8 graph quantises activations with one scale per tensor, taken over the whole
        # pass: batched, a text's vector moved with its neighbours (cosine to itself alone
        # 0.994 mean, 0.91 at worst), so its labels could flip with what arrived beside it.
        # One window per pass makes the vector the text's own, and on CPU it was no slower
        # than 8192-token batches (python -m eval.bench_budget: 1.09x at 2 threads).
        self.one_row_per_pass = int8
        self.token_budget = max(1, token_budget)
        self.query_prefix = meta.get("query_prefix", self.query_prefix)
        self.max_tokens = int(config["max_position_embeddings"])
        self.pad_id = int(config.get("pad_token_id") or 0)
        self.head, self.tail = special_ids(
            self.tokenizer.encode("x", add_special_tokens=False).ids,
            self.tokenizer.encode("x").ids,
        )
        label = meta.get("name") or folder.name
        self._identify("onnx", label, int8, meta, int(config["hidden_size"]))
        self._ort_version = ort.__version__

    def info(self) -> dict[str, Any]:
        """Device, dtype and versions."""
        return {
            **super().info(),
            "device": "cpu",
            "dtype": "int8 weights" if self.int8 else "float32",
            "onnxruntime": self._ort_version,
            "threads": self.threads,  # None: ORT's default, a thread per core
            "one_row_per_pass": self.one_row_per_pass,
        }

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Content ids (no specials) of each prefixed text."""
        if not texts:
            return []
        encodings = self.tokenizer.encode_batch(
            [self.query_prefix + t for t in texts], add_special_tokens=False
        )
        return [e.ids for e in encodings]

    def pooled(self, ids: IdArray, mask: IdArray) -> npt.NDArray[np.float32]:
        """One ONNX Runtime run over the padded batch."""
        (result,) = self.session.run(["pooled"], {"input_ids": ids, "attention_mask": mask})
        return np.asarray(result, dtype=np.float32)
