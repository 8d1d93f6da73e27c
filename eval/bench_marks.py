"""What restoring the marks of unaccented Vietnamese costs: the pipeline with and without its
``marks`` step, in one run.

    python -m eval.bench_marks [--items 2000] [--rounds 3]

On the README's synthetic sample (``python -m eval.synthetic``'s texts: Vietnamese, a third of
it typed without diacritics, and English) the shipped pipeline analyses every item once per
round with the ``marks`` component and once without, alternating (the machine is shared, so
only figures taken side by side compare); it prints the best round's items per second of each
and their ratio, and the restorer's own time per unaccented Vietnamese text.
"""

from __future__ import annotations

import argparse
import time

from eval.synthetic import document_text, topic_documents, topic_sentence_pool
from nlp.components.language import detect_language
from nlp.components.marks import MarksStep, typed_without_marks
from nlp.pipeline import DEFAULT_COMPONENTS, Pipeline
from nlp.types import FeedbackText

BATCH = 64


def _rate(pipeline: Pipeline, items: list[FeedbackText]) -> float:
    """Items per second of one pass over ``items`` in batches."""
    start = time.perf_counter()
    for offset in range(0, len(items), BATCH):
        pipeline.run(items[offset : offset + BATCH])
    return len(items) / (time.perf_counter() - start)


def main() -> None:
    """Time both pipelines round by round and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    pool = topic_sentence_pool(per_template=40, seed=0)
    texts = [document_text(picks, pool) for picks, _ in topic_documents(args.items, pool, 0)]
    items = [FeedbackText(text=t, channel="review") for t in texts]
    with_marks = Pipeline()
    marks = next(c for c in with_marks.components if isinstance(c, MarksStep))
    if marks.model is None:
        raise SystemExit("the shipped manifest names no mark model")
    without = Pipeline(
        encoder=with_marks.encoder,
        components=[c for c in DEFAULT_COMPONENTS if c != "marks"],
    )
    _rate(with_marks, items[:BATCH])  # warm-up: the encoder's first pass allocates
    rates: dict[str, list[float]] = {"with marks": [], "without": []}
    for _ in range(args.rounds):
        rates["with marks"].append(_rate(with_marks, items))
        rates["without"].append(_rate(without, items))
    plain = [t for t in texts if detect_language(t) == "vi" and typed_without_marks(t)]
    start = time.perf_counter()
    for text in plain:
        marks.model.restore(text)
    per_text_ms = 1000 * (time.perf_counter() - start) / max(len(plain), 1)
    best = {name: max(values) for name, values in rates.items()}
    print(f"items: {len(items)} ({len(plain)} unaccented Vietnamese), {args.rounds} rounds")
    for name, value in best.items():
        rounds = ", ".join(f"{v:.1f}" for v in rates[name])
        print(f"{name:11} {value:7.1f} items/s (rounds: {rounds})")
    print(f"ratio with/without: {best['with marks'] / best['without']:.3f}")
    print(f"restore: {per_text_ms:.2f} ms per unaccented Vietnamese text")


if __name__ == "__main__":
    main()
