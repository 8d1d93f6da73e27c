"""Worker benchmark: analysis docs/s of one worker, end to end through Postgres.

Baseline, measured in the same run: the encoder alone on the same texts, the
floor cost of the one encoder pass every item needs; the ratio shows what the
heads, the normalisation and the database writes add.

Profile maintenance, in the same run: the same texts analysed twice, once as feedback
without a ``customer_ref`` (no profile to maintain) and once spread over ``--customers``
customers who already have ``--interactions-each`` interactions, so every batch refreshes
and rescores its customers' profiles in the analysis transaction
(workers.customers.update_profiles). The batches of the two runs alternate, each pair in
alternating order, so the noise of a shared machine falls on both alike. Printed: both
rates and their ratio (issue #14: maintenance costs at most 10%, a ratio >= 0.90).

    python -m eval.bench_worker [--items 2000] [--batch 32] [--sentences 1]
                                [--customers 200] [--interactions-each 5]

Uses LANGNGHE_DATABASE_URL if set, else an embedded pgserver in a temporary directory.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from uuid import UUID

from eval.bench_ingest import _database
from eval.synthetic import feedback_texts
from nlp.pipeline import Pipeline
from store import feedback as feedback_store
from store import interactions as interactions_store
from store import tenants as tenants_store
from store.db import Database
from store.migrate import apply_migrations
from workers.analysis import analyze_batch


def _feedback(
    db: Database, texts: list[str], refs: list[str | None], interactions_each: int
) -> list[UUID]:
    """A new tenant's feedback, one item per text with its ref, and each ref's interactions."""
    start = datetime.now(UTC) - timedelta(days=90)
    with db.transaction() as conn:
        tenant = tenants_store.create_tenant(conn, f"bench-{time.time_ns()}")
        customers = sorted({r for r in refs if r})
        interactions_store.insert_interactions(
            conn,
            tenant.id,
            [
                interactions_store.NewInteraction(
                    source="bench",
                    customer_ref=ref,
                    type="order",
                    occurred_at=start + timedelta(days=7 * k),
                    external_id=f"{ref}-{k}",
                    value=100.0,
                )
                for ref in customers
                for k in range(interactions_each)
            ],
        )
        inserted = feedback_store.insert_feedback(
            conn,
            tenant.id,
            [
                feedback_store.NewFeedback("bench", "review", text, customer_ref=ref)
                for text, ref in zip(texts, refs, strict=True)
            ],
        )
    return [i.id for i in inserted]


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--sentences", type=int, default=1)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--interactions-each", type=int, default=5)
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
        anonymous = _feedback(db, texts, [None] * len(texts), 0)
        refs = [f"cust-{k % args.customers:05d}" for k in range(len(texts))]
        profiled = _feedback(db, texts, list(refs), args.interactions_each)
        seconds = {"without": 0.0, "with": 0.0}
        for k, start in enumerate(range(0, len(texts), args.batch)):
            pair = [("without", anonymous), ("with", profiled)]
            for name, ids in pair if k % 2 == 0 else pair[::-1]:
                t0 = time.perf_counter()
                analyze_batch(db, pipeline, ids[start : start + args.batch], max_attempts=5)
                seconds[name] += time.perf_counter() - t0
        db.close()
    without = len(texts) / seconds["without"]
    with_profiles = len(texts) / seconds["with"]

    print(f"items: {len(texts)}, ~{args.sentences} sentence(s) each, batches of {args.batch}")
    print(f"baseline, encoder alone:            {encoder_rate:8.1f} docs/s")
    print(
        f"worker, analyse + write to Postgres: {without:8.1f} docs/s"
        f"  ({without / encoder_rate:.2f}x baseline)"
    )
    print(
        f"  with profile maintenance ({args.customers} customers, "
        f"{args.interactions_each} interactions each): {with_profiles:8.1f} docs/s"
        f"  ({with_profiles / without:.2f}x without)"
    )


if __name__ == "__main__":
    main()
