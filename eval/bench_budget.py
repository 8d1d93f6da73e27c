"""The encoder's token budget (padded tokens per forward pass): speed, and how much a text's
vector depends on the texts it was batched with.

    python -m eval.bench_budget [--budgets 256,512,1024,2048,8192] [--texts 384] [--rounds 3]
                                [--threads 1]

One process, the configured encoder (``LANGNGHE_ENCODER``, default the shipped int8 ONNX
one). Texts are the synthetic feedback of ``eval.synthetic`` at one, three and eight
sentences, mixed. Each round times every budget in turn on the same texts, so each figure is
a ratio to the largest budget measured side by side (the machine is shared). Batch
dependence: each text's vector in the batched run against its vector encoded alone (cosine),
because int8 activations are quantised with one scale per batch. Prints a Markdown table;
the figures belong in the notes, not in tests.
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

from eval.synthetic import feedback_texts
from langnghe.config import Settings
from nlp.encoders.registry import encoder_options, load_encoder


def main(argv: list[str] | None = None) -> int:
    """Print docs/s per budget (median of the rounds, ratio to the largest) and parity."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budgets", default="256,512,1024,2048,8192")
    parser.add_argument("--texts", type=int, default=384)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    budgets = sorted(int(b) for b in args.budgets.split(","))
    settings = Settings(encoder_threads=args.threads)
    encoder = load_encoder(settings.encoder, **encoder_options(settings))
    if not hasattr(encoder, "token_budget"):
        parser.error(f"{encoder.name} has no token budget")
    third = args.texts // 3
    texts = list(
        itertools.chain(
            feedback_texts(third, 1, seed=1),
            feedback_texts(third, 3, seed=2),
            feedback_texts(args.texts - 2 * third, 8, seed=3),
        )
    )
    # Batched runs below batch even the int8 graph, which serves one text per pass.
    encoder.one_row_per_pass = False  # type: ignore[attr-defined]
    encoder.encode(texts[:16])  # warm-up: sessions, allocator
    alone = np.concatenate([encoder.encode([t]) for t in texts])
    rates: dict[int, list[float]] = {b: [] for b in budgets}
    rates[0] = []  # one text per pass
    cosines: dict[int, np.ndarray] = {0: (alone * alone).sum(axis=1)}
    for _ in range(args.rounds):
        start = time.perf_counter()
        for text in texts:
            encoder.encode([text])
        rates[0].append(len(texts) / (time.perf_counter() - start))
        for budget in budgets:
            encoder.token_budget = budget  # type: ignore[attr-defined]
            start = time.perf_counter()
            vectors = encoder.encode(texts)
            rates[budget].append(len(texts) / (time.perf_counter() - start))
            cosines[budget] = (vectors * alone).sum(axis=1)
    top = budgets[-1]
    print(f"{encoder.name}, {args.threads} thread(s), {len(texts)} texts, {args.rounds} rounds\n")
    print("| budget | docs/s (median) | ratio to " + str(top) + " | cosine to alone mean / min |")
    print("|---|---|---|---|")
    for budget in [0, *budgets]:
        ratios = [r / t for r, t in zip(rates[budget], rates[top], strict=True)]
        print(
            f"| {budget or 'one text per pass'} | {np.median(rates[budget]):.1f} | "
            f"{np.median(ratios):.2f} | "
            f"{cosines[budget].mean():.5f} / {cosines[budget].min():.5f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
