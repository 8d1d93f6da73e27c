"""Worker benchmark: analysis docs/s of one worker, end to end through Postgres.

Baseline, measured in the same run: the encoder alone on the same texts, the
floor cost of the one encoder pass every item needs; the ratio shows what the
heads, the normalisation and the database writes add.

    python -m eval.bench_worker [--items 2000] [--batch 32] [--sentences 1]

Uses LANGNGHE_DATABASE_URL if set, else an embedded pgserver in a temporary directory.
"""

from __future__ import annotations

import argparse
import time

from eval.bench_ingest import _database
from eval.synthetic import feedback_texts
from nlp.pipeline import Pipeline
from store import feedback as feedback_store
from store import tenants as tenants_store
from store.db import Database
from store.migrate import apply_migrations
from workers.analysis import analyze_batch


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--sentences", type=int, default=1)
    args = parser.parse_args()

    texts = list(feedback_texts(args.items, sentences=args.sentences, seed=3))
    pipeline = Pipeline()
    encoder = pipeline.encoder
    encoder.encode(texts[:8])

    started = time.perf_counter()
    for start in range(0, len(texts), args.batch):
        encoder.encode(texts[start : start + args.batch])
    encoder_rate = len(texts) / (time.perf_counter() - started)

    with _database() as database_url:
        apply_migrations(database_url)
        db = Database(database_url, 1, 2)
        db.open()
        with db.transaction() as conn:
            tenant = tenants_store.create_tenant(conn, f"bench-{time.time_ns()}")
            inserted = feedback_store.insert_feedback(
                conn,
                tenant.id,
                [feedback_store.NewFeedback("bench", "review", text) for text in texts],
            )
        ids = [i.id for i in inserted]
        started = time.perf_counter()
        for start in range(0, len(ids), args.batch):
            analyze_batch(db, pipeline, ids[start : start + args.batch], max_attempts=5)
        worker_rate = len(ids) / (time.perf_counter() - started)
        db.close()

    print(f"items: {len(texts)}, ~{args.sentences} sentence(s) each, batches of {args.batch}")
    print(f"baseline, encoder alone:            {encoder_rate:8.1f} docs/s")
    print(
        f"worker, analyse + write to Postgres: {worker_rate:8.1f} docs/s"
        f"  ({worker_rate / encoder_rate:.2f}x baseline)"
    )


if __name__ == "__main__":
    main()
