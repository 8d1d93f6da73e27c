"""Ingest benchmark: items/s through the batch endpoint and latency of single POSTs.

Baseline, measured in the same run: the same rows inserted straight into Postgres
with store.feedback.insert_feedback (no HTTP, no validation, no queue), so the
ratio shows what the API layer costs.

    python -m eval.bench_ingest [--items 20000] [--batch 500] [--rate 50] [--seconds 20]

Uses LANGNGHE_DATABASE_URL if set, else an embedded pgserver in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from eval.synthetic import feedback_items
from langnghe.embedded import start_embedded_postgres
from store import feedback as feedback_store
from store import tenants as tenants_store
from store.db import Database
from store.migrate import apply_migrations


@contextmanager
def _database() -> Iterator[str]:
    if url := os.environ.get("LANGNGHE_DATABASE_URL"):
        yield url
        return
    with tempfile.TemporaryDirectory() as tmp:
        server = start_embedded_postgres(Path(tmp))
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


@contextmanager
def _api(database_url: str, port: int, workers: int = 1) -> Iterator[str]:
    env = {**os.environ, "LANGNGHE_DATABASE_URL": database_url, "LANGNGHE_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        [sys.executable, "-m", "langnghe", "api", "--port", str(port), "--workers", str(workers)],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("API did not start")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0, help="single POSTs per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    with _database() as database_url:
        apply_migrations(database_url)
        db = Database(database_url, 1, 2)
        db.open()
        with db.transaction() as conn:
            tenant = tenants_store.create_tenant(conn, f"bench-{time.time_ns()}")
            key = tenants_store.create_api_key(conn, tenant.id)
        items = list(feedback_items(args.items, seed=1))
        batches = [items[i : i + args.batch] for i in range(0, len(items), args.batch)]

        started = time.perf_counter()
        for batch in batches:
            rows = [
                feedback_store.NewFeedback(
                    source="direct",
                    channel=str(i["channel"]),
                    text=str(i["text"]),
                    external_id=str(i["external_id"]),
                )
                for i in batch
            ]
            with db.transaction() as conn:
                feedback_store.insert_feedback(conn, tenant.id, rows)
        direct_rate = len(items) / (time.perf_counter() - started)

        with (
            _api(database_url, args.port) as url,
            httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60
            ) as client,
        ):
            started = time.perf_counter()
            for batch in batches:
                response = client.post("/v1/feedback", json={"items": batch})
                response.raise_for_status()
            api_rate = len(items) / (time.perf_counter() - started)

            singles = feedback_items(int(args.rate * args.seconds) + 1, seed=2)
            latencies: list[float] = []
            interval = 1.0 / args.rate
            next_at = time.perf_counter()
            end = next_at + args.seconds
            for item in singles:
                now = time.perf_counter()
                if now >= end:
                    break
                if now < next_at:
                    time.sleep(next_at - now)
                sent = time.perf_counter()
                client.post("/v1/feedback", json=item).raise_for_status()
                latencies.append((time.perf_counter() - sent) * 1000)
                next_at += interval
        db.close()

    print(f"items: {len(items)} in batches of {args.batch}")
    print(f"baseline, direct insert (no HTTP):  {direct_rate:10.0f} items/s")
    print(
        f"POST /v1/feedback batches:          {api_rate:10.0f} items/s"
        f"  ({api_rate / direct_rate:.2f}x baseline)"
    )
    print(
        f"single POSTs at {args.rate:.0f}/s for {args.seconds:.0f}s: n={len(latencies)}"
        f"  p50={statistics.median(latencies):.1f} ms  p99={_percentile(latencies, 0.99):.1f} ms"
    )


if __name__ == "__main__":
    main()
