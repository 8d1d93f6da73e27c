"""Two real fine-tuning steps on CPU with a tiny BERT, and serving the result."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from typer.testing import CliRunner

from langnghe.cli import app
from models import load_manifest
from nlp.heads import LinearHead
from nlp.pipeline import HEADS, Pipeline
from nlp.torch_encoder import TorchEncoder
from nlp.types import FeedbackText
from tests.unit.torch_fixtures import write_tiny_model


def test_two_step_finetune_writes_a_servable_model(
    tmp_path: Path, labelled_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = write_tiny_model(tmp_path / "base")
    before = TorchEncoder(base, device="cpu").encode(["giao hàng chậm quá"])
    monkeypatch.setenv("LANGNGHE_DEVICE", "cpu")
    args = ["train", "--finetune", "--data", str(labelled_dir), "--base", str(base)]
    args += ["--out", str(tmp_path / "out"), "--max-steps", "2", "--batch-size", "4"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (target,) = (tmp_path / "out").glob("finetuned-*")
    assert sorted(p.name for p in (target / "checkpoints").iterdir()) == ["step-000002"]
    assert (target / "checkpoints" / "step-000002" / "heads.pt").is_file()
    report = json.loads((target / "report.json").read_text())
    assert report["steps"] == 2 and np.isfinite(report["final_loss"])
    assert set(HEADS) <= set(report)
    card = (target / "CARD.md").read_text()
    assert "frozen encoder" in card and "2 steps" in card

    encoder = TorchEncoder(target / "encoder", device="cpu")
    assert load_manifest(target)["encoder"] == encoder.name
    assert not np.allclose(encoder.encode(["giao hàng chậm quá"]), before)  # weights moved
    head = LinearHead.load(target / "sentiment" / "head.npz")
    assert head.classes == ("negative", "neutral", "positive")

    (analysis,) = Pipeline(encoder, target).analyze([FeedbackText(text="Giao hàng quá chậm")])
    assert analysis.sentiment in head.classes
    assert analysis.model_versions["encoder"] == encoder.name
