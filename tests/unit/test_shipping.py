"""Ship a fine-tuned encoder as layer deltas and rebuild it: ONNX (no torch) and torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from nlp.encoders.e5_tokenizer import build_tokenizer
from nlp.encoders.shipping import (
    LAYERS_FILE,
    SHIPPED_META,
    WORD_TABLE,
    RebuildError,
    export,
    rebuild,
)
from tests.unit.torch_fixtures import tiny_vocab, write_tiny_model

SHA = "0" * 64
TEXTS = ["giao hàng chậm quá shop ơi", "great product, love it", "app crash", "tệ"]
ROOT = Path(__file__).resolve().parents[2]


def _fine_tuned(base: Path, out: Path, change_embeddings: bool = False) -> Path:
    """``base`` with its top layer moved (as fine-tuning leaves it) and the meta it writes."""
    import torch
    from transformers import BertModel

    net = BertModel.from_pretrained(str(base), add_pooling_layer=False)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, param in net.named_parameters():
            if name.startswith("encoder.layer.1.") or (
                change_embeddings and name == "embeddings.word_embeddings.weight"
            ):
                param.add_(0.05 * torch.randn(param.shape, generator=generator))
    net.save_pretrained(str(out))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(base / name, out / name)
    meta = {
        "name": "tiny-ft",
        "query_prefix": "query: ",
        "fine_tuned_from": "tiny-bert",
        "trained_layers": [1],
    }
    (out / "langnghe.json").write_text(json.dumps(meta), encoding="utf-8")
    return out


def _word_table(model: Path) -> Any:
    from safetensors.numpy import load_file

    return load_file(str(model / "model.safetensors"))["embeddings.word_embeddings.weight"]


def _write_tokenizer(folder: Path) -> None:
    build_tokenizer(tiny_vocab()).save(str(folder / "tokenizer.json"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("shipping")
    base = write_tiny_model(root / "base")
    finetuned = _fine_tuned(base, root / "finetuned")
    shipped = export(finetuned, root / "shipped", _word_table(base), SHA, "tiny wheel")
    np.save(root / "table.npy", _word_table(base))
    return {"root": root, "base": base, "finetuned": finetuned, "shipped": shipped}


def _cosines(a: Any, b: Any) -> Any:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_export_ships_only_the_graph_and_the_trained_layers(tiny: dict[str, Path]) -> None:
    from safetensors.numpy import load_file

    shipped = tiny["shipped"]
    assert sorted(p.name for p in shipped.iterdir()) == sorted(
        [SHIPPED_META, LAYERS_FILE, "model.int8.onnx"]
    )
    meta = json.loads((shipped / SHIPPED_META).read_text())
    assert meta["name"] == "tiny-ft" and meta["trained_layers"] == [1]
    assert meta["base"] == {"source": "tiny wheel", "sha256": SHA}
    assert meta["word_table"]["shape"] == list(_word_table(tiny["base"]).shape)
    layers = load_file(str(shipped / LAYERS_FILE))
    assert layers and all(k.startswith("encoder.layer.1.") for k in layers)
    assert all(v.dtype == np.float16 for v in layers.values())
    # the word table is external data in a file that is not shipped; the rest is inline
    import onnx

    graph = onnx.load(str(shipped / "model.int8.onnx"), load_external_data=False)
    external = [t for t in graph.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    assert [t.name for t in external] == [meta["word_table"]["initializer"]]
    assert {e.key: e.value for e in external[0].external_data}["location"] == WORD_TABLE


def test_rebuilt_onnx_encoder_matches_the_fine_tuned_torch_model(tiny: dict[str, Path]) -> None:
    from nlp.encoders.onnx_runtime import OnnxEncoder
    from nlp.encoders.torch_runtime import TorchEncoder

    target = tiny["root"] / "rebuilt"
    rebuild(tiny["shipped"], target, _word_table(tiny["base"]), _write_tokenizer, SHA)
    assert (target / "onnx" / WORD_TABLE).is_file()
    onnx_encoder = OnnxEncoder(target, int8=True)
    assert onnx_encoder.name == "onnx:tiny-ft+int8"
    ours = onnx_encoder.encode(TEXTS)
    reference = TorchEncoder(tiny["finetuned"], device="cpu").encode(TEXTS)
    base = TorchEncoder(tiny["base"], device="cpu").encode(TEXTS)
    assert _cosines(ours, reference).min() > 0.99
    # closer to the fine-tuned weights than to the base: the trained layer is in the graph
    assert _cosines(ours, reference).mean() > _cosines(ours, base).mean()


def test_export_refuses_changed_word_embeddings(tiny: dict[str, Path]) -> None:
    moved = _fine_tuned(tiny["base"], tiny["root"] / "moved", change_embeddings=True)
    with pytest.raises(ValueError, match="word embeddings differ"):
        export(moved, tiny["root"] / "refused", _word_table(tiny["base"]), SHA, "tiny wheel")


def test_rebuild_refuses_another_base(tiny: dict[str, Path]) -> None:
    target = tiny["root"] / "wrong-base"
    with pytest.raises(RebuildError, match="different base"):
        rebuild(tiny["shipped"], target, _word_table(tiny["base"]), _write_tokenizer, "1" * 64)
    assert not target.exists()


def test_sentence_transformer_build_matches_the_fine_tuned_model(tiny: dict[str, Path]) -> None:
    pytest.importorskip("sentence_transformers")
    from sentence_transformers import SentenceTransformer

    from nlp.encoders.shipping import build_sentence_transformer, is_current_st
    from nlp.encoders.torch_runtime import TorchEncoder

    target = tiny["root"] / "st"
    build_sentence_transformer(tiny["base"], target, tiny["shipped"], equivalent_to="onnx:x")
    meta = json.loads((tiny["shipped"] / SHIPPED_META).read_text())
    assert is_current_st(target, meta)
    ours = SentenceTransformer(str(target), device="cpu").encode(TEXTS)
    reference = TorchEncoder(tiny["finetuned"], device="cpu").encode(TEXTS)
    assert np.abs(ours - reference).max() < 1e-2
    local = json.loads((target / "langnghe.json").read_text())
    assert local["equivalent_to"] == "onnx:x"


NO_TORCH = """
import json, sys
from pathlib import Path
for name in ("torch", "transformers", "sentence_transformers"):
    sys.modules[name] = None  # importing them raises ImportError
import numpy as np
from nlp.encoders.e5_tokenizer import build_tokenizer
from nlp.encoders.onnx_runtime import OnnxEncoder
from nlp.encoders.shipping import rebuild
from tests.unit.torch_fixtures import tiny_vocab
shipped, target, table, sha = sys.argv[1:5]
def write_tokenizer(folder):
    build_tokenizer(tiny_vocab()).save(str(folder / "tokenizer.json"))
rebuild(Path(shipped), Path(target), np.load(table), write_tokenizer, sha)
vectors = OnnxEncoder(Path(target), int8=True).encode(json.loads(sys.argv[5]))
assert sys.modules["torch"] is None
print(json.dumps(vectors.tolist()))
"""


def test_default_install_rebuilds_and_serves_without_torch(tiny: dict[str, Path]) -> None:
    from nlp.encoders.torch_runtime import TorchEncoder

    target = tiny["root"] / "no-torch"
    args = [str(tiny["shipped"]), str(target), str(tiny["root"] / "table.npy"), SHA]
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(NO_TORCH), *args, json.dumps(TEXTS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    vectors = np.array(json.loads(result.stdout.strip().splitlines()[-1]), dtype=np.float32)
    reference = TorchEncoder(tiny["finetuned"], device="cpu").encode(TEXTS)
    assert _cosines(vectors, reference).min() > 0.99


def test_models_status_names_the_encoder_in_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from langnghe.cli import app
    from models import MODELS_DIR, load_manifest
    from nlp.encoders.shipping import shipped_meta

    monkeypatch.setenv("LANGNGHE_ENCODER", "auto")
    monkeypatch.setenv("LANGNGHE_ENCODER_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("LANGNGHE_ENCODER_MODEL", raising=False)
    result = CliRunner().invoke(app, ["models", "status"])
    assert result.exit_code == 0, result.output
    assert "LANGNGHE_ENCODER=auto" in result.output
    assert "heads: " in result.output
    marks = load_manifest()["marks"]
    assert f"marks: {marks['version']} ({MODELS_DIR / marks['path']})" in result.output
    meta = shipped_meta()
    if meta is not None:
        assert f"in use: onnx:{meta['name']}+int8" in result.output
        assert f"{tmp_path / 'encoders' / meta['name']}: not built" in result.output
    assert CliRunner().invoke(app, ["models"]).exit_code == 0
