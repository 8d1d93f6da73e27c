"""The fine-tuning loop on CPU with a tiny BERT: outputs, resume, the consistency loss."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tqdm import tqdm

pytest.importorskip("torch")
pytest.importorskip("transformers")

from nlp.components.heads import LinearHead
from nlp.encoders.torch_runtime import TorchEncoder
from nlp.training import finetune as finetune_module
from nlp.training.corpora import Example
from nlp.training.finetune import (
    CHECKPOINT,
    FinetuneConfig,
    build_tasks,
    finetune,
    plan_epoch,
)
from tests.unit.torch_fixtures import write_tiny_model

TINY = FinetuneConfig(
    batch_size=8, train_layers=1, max_tokens=32, max_steps=2, device="cpu", checkpoint_minutes=0
)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "base")


def _quiet(_: str) -> None:
    pass


def _tensors(folder: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_plan_epoch_covers_every_row_once_in_length_sorted_batches() -> None:
    lengths = [(i * 37) % 101 for i in range(500)]
    batches = plan_epoch(lengths, 8, seed=1, epoch=0)
    assert sorted(i for b in batches for i in b) == list(range(500))
    assert all(len(b) <= 8 for b in batches)
    # within a batch the lengths are close: sorted within pools of 50 batches
    spread = np.mean(
        [lengths[max(b, key=lengths.__getitem__)] - min(lengths[i] for i in b) for b in batches]
    )
    assert spread < 10
    assert plan_epoch(lengths, 8, seed=1, epoch=0) == batches
    assert plan_epoch(lengths, 8, seed=1, epoch=1) != batches


def test_finetune_writes_encoder_heads_and_report(
    tmp_path: Path, base: Path, labelled_dir: Path
) -> None:
    out = finetune([labelled_dir], base, tmp_path / "run", TINY, progress=_quiet)
    report = json.loads((out / "report.json").read_text())
    assert report["steps"] == 2 and np.isfinite(report["final_loss"])
    assert report["train_rows"] == 24 and report["variant_rows"] > 0
    assert np.isfinite(report["cosine_unaccented_before"])
    assert np.isfinite(report["cosine_unaccented_after"])
    assert {"sentiment", "complaint", "category", "csat"} <= set(report["dev"])
    assert (out / CHECKPOINT).is_file()

    # Only the top layer trained: the embeddings and layer 0 are the base's, layer 1 moved.
    before, after = _tensors(base), _tensors(out / "encoder")
    for name, tensor in before.items():
        same = bool((after[name] == tensor).all())
        assert same == (not name.startswith("encoder.layer.1.")), name
    meta = json.loads((out / "encoder" / "langnghe.json").read_text())
    assert meta["trained_layers"] == [1] and meta["fine_tuned_from"] == "tiny-bert"
    # a name of its own: the embedding cache and the heads' manifest key on it
    assert meta["name"].startswith("tiny-bert-ft-") and meta["name"] != "tiny-bert"
    assert "equivalent_to" not in meta

    head = LinearHead.load(out / "heads" / "sentiment.npz")
    assert head.classes == ("negative", "neutral", "positive")
    assert LinearHead.load(out / "heads" / "complaint.npz").classes == ("no", "yes")
    vectors = TorchEncoder(out / "encoder", device="cpu").encode(["giao hàng chậm quá"])
    assert vectors.shape == (1, 32)
    assert head.predict_proba(vectors).sum() == pytest.approx(1.0, abs=1e-5)

    # A second round from this one: named after the family, not "...-ft-...-ft-...".
    again = finetune([labelled_dir], out / "encoder", tmp_path / "again", TINY, progress=_quiet)
    second = json.loads((again / "encoder" / "langnghe.json").read_text())
    assert second["fine_tuned_from"] == meta["name"]
    assert second["name"].startswith("tiny-bert-ft-") and second["name"].count("-ft-") == 1
    assert second["name"] != meta["name"]


def test_an_interrupted_run_resumes_from_its_checkpoint(
    tmp_path: Path, base: Path, labelled_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = replace(TINY, max_steps=3)

    class Interrupted(Exception):
        pass

    class StopsAtStepTwo(tqdm):
        def update(self, n: float | None = 1) -> bool | None:
            if self.n + (n or 0) >= 2:
                raise Interrupted
            return super().update(n)

    monkeypatch.setattr(finetune_module, "tqdm", StopsAtStepTwo)
    with pytest.raises(Interrupted):
        finetune([labelled_dir], base, tmp_path / "run", config, progress=_quiet)
    assert not (tmp_path / "run" / "encoder").exists()
    import torch

    state = torch.load(tmp_path / "run" / CHECKPOINT, weights_only=False)
    assert state["step"] == 1
    monkeypatch.setattr(finetune_module, "tqdm", tqdm)

    said: list[str] = []
    out = finetune([labelled_dir], base, tmp_path / "run", config, progress=said.append)
    assert any(s.startswith("resuming from step 1 of 3") for s in said), said
    assert json.loads((out / "report.json").read_text())["steps"] == 3
    assert torch.load(out / CHECKPOINT, weights_only=False)["step"] == 3

    with pytest.raises(ValueError, match="another configuration"):
        finetune([labelled_dir], base, tmp_path / "run", replace(config, seed=14))


def _variant_cosine(encoder_dir: Path) -> float:
    """Mean cosine between the Vietnamese fixture texts and their variant spellings."""
    from nlp.training.variants import variant
    from tests.unit.conftest import fixture_rows

    texts = [str(r["text"]) for r in fixture_rows() if r["lang"] == "vi"]
    pairs = [(t, v) for i, t in enumerate(texts) if (v := variant(t, str(i)))]
    encoder = TorchEncoder(encoder_dir, device="cpu")
    a = encoder.encode([t for t, _ in pairs])
    b = encoder.encode([v for _, v in pairs])
    return float((a * b).sum(1).mean())


def test_consistency_loss_pulls_variants_onto_their_originals(
    tmp_path: Path, base: Path, labelled_dir: Path
) -> None:
    # 12 steps (4 epochs of 3 batches), a high learning rate: the tiny model has to move
    config = replace(TINY, epochs=4.0, max_steps=None, encoder_lr=1e-2, checkpoint_minutes=60.0)
    without = finetune(
        [labelled_dir], base, tmp_path / "c0", replace(config, consistency=0.0), progress=_quiet
    )
    with_ = finetune(
        [labelled_dir], base, tmp_path / "c50", replace(config, consistency=50.0), progress=_quiet
    )
    plain, pulled = _variant_cosine(without / "encoder"), _variant_cosine(with_ / "encoder")
    assert 1 - pulled < 0.9 * (1 - plain), (plain, pulled)  # a tenth of the distance at least
    report = json.loads((with_ / "report.json").read_text())
    assert report["cosine_unaccented_after"] > report["cosine_unaccented_before"]


def test_cli_finetune_says_how_to_resume_and_export(
    tmp_path: Path, base: Path, labelled_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from langnghe.cli import app

    monkeypatch.setenv("LANGNGHE_DEVICE", "cpu")
    out = tmp_path / "out"
    args = ["train", "--finetune", "--data", str(labelled_dir), "--base", str(base)]
    args += ["--out", str(out), "--max-steps", "1", "--batch-size", "8", "--train-layers", "1"]
    args += ["--max-tokens", "32", "--consistency", "1.5"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "the same command again resumes" in result.output
    assert f"langnghe models export {out}" in result.output
    config = json.loads((out / "report.json").read_text())["config"]
    assert config["train_layers"] == 1 and config["max_tokens"] == 32
    assert config["consistency"] == 1.5 and config["epochs"] == 1.0
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "resuming from step 1 of 1" in again.output


def test_tasks_cover_every_head_and_leave_out_the_sets_a_head_skips() -> None:
    rows = [
        Example(
            "ours",
            "1",
            "a",
            "vi",
            complaint=True,
            category="delivery",
            churn_risk=True,
            severity="high",
        ),
        Example(
            "ours",
            "2",
            "b",
            "en",
            complaint=True,
            category="app_website",
            churn_risk=False,
            severity="low",
        ),
        # airline reasons map onto categories only roughly: the category head skips them
        Example("twitter-airline", "3", "c", "en", complaint=True, category="delivery"),
    ]
    tasks = build_tasks(rows)
    assert {"churn", "severity", "category", "complaint"} <= set(tasks.classes)
    delivery = tasks.classes["category"].index("delivery")
    assert tasks.targets["category"] == [delivery, 1 - delivery, -1]
    assert tasks.targets["churn"][2] == -1
