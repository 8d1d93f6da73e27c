"""Reconciliation run: N items ingested over HTTP, analysed by real workers, events delivered.

Prints the time each stage took and checks, at the end, that
ingested = analysed = ``feedback.analyzed`` events, that every complaint has its
``complaint.flagged`` event, and that a webhook receiver got every event (after
deduplication by id) with a valid signature.

Baseline, measured in the same run on the same texts: the configured encoder alone, in
batches of ``LANGNGHE_ANALYZE_BATCH_SIZE``, in one process on every core (the baseline of
``eval.bench_worker`` and ``eval.bench_nlp``) and in a process per core (each on its share,
as `langnghe up` runs them), once before the workers start and once after they stop (the
machine is shared; the mean of the two is the baseline). The end-to-end rate is printed as
a ratio to the better of the two and to the one-process rate. The end-to-end
clock starts at the first POST after a warm-up batch has gone all the way through (so
model loading is not counted) and stops when every event is delivered; the ratio of the
two rates is what the queue, the heads, the transactions and the delivery cost.

    python -m eval.reconcile [--items 10000] [--batch 500] [--workers 1] [--concurrency N]
                             [--pool solo|prefork|threads] [--warmup 64]

Uses LANGNGHE_DATABASE_URL if set, else an embedded pgserver in a temporary
directory; LANGNGHE_BROKER_URL if set, else the embedded broker. Not a test: it
takes minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg

from eval.bench_ingest import _api, _database
from eval.synthetic import feedback_items
from store import tenants as tenants_store
from store.db import Database
from store.migrate import apply_migrations
from workers.concurrency import available_cores, encoder_threads, share_cores

SECRET = "reconcile-secret-0123456789"


class Receiver:
    """A webhook consumer that checks signatures and dedupes by event id."""

    def __init__(self) -> None:
        self.posts = 0
        self.bad = 0
        self.ids: set[str] = set()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            # Keep-alive, as a production receiver: not a new connection per event.
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                header = self.headers["X-Langnghe-Signature"]
                ok = any(hmac.compare_digest(expected, s.strip()) for s in header.split(","))
                with receiver.lock:
                    receiver.posts += 1
                    if ok:
                        receiver.ids.add(json.loads(body)["id"])
                    else:
                        receiver.bad += 1
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@contextmanager
def _workers(
    env: dict[str, str], count: int, concurrency: int | None, pool: str | None, log_dir: Path
) -> Iterator[None]:
    """``count`` ``langnghe worker`` processes (the first with beat); their defaults unless told.

    Several workers on this one machine share its cores as one prefork worker's processes
    do (``workers.concurrency.share_cores``), unless LANGNGHE_ENCODER_THREADS says otherwise.
    """
    env = dict(env)
    share_cores(env, count * (concurrency or 1))
    processes = []
    for n in range(count):
        args = [sys.executable, "-m", "langnghe", "worker"]
        if n == 0:
            args.append("--beat")
        if concurrency is not None:
            args += ["--concurrency", str(concurrency)]
        if pool is not None:
            args += ["--pool", pool]
        out = (log_dir / f"worker-{n}.log").open("ab")
        processes.append(
            subprocess.Popen(args, env=env, stdout=out, stderr=out, start_new_session=True)
        )
    try:
        yield
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


def _counts(database_url: str, tenant_id: Any) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            """
            SELECT (SELECT count(*) FROM feedback WHERE tenant_id = %(t)s),
                   (SELECT count(*) FROM feedback WHERE tenant_id = %(t)s AND status = 'done'),
                   (SELECT count(*) FROM feedback WHERE tenant_id = %(t)s AND status = 'failed'),
                   (SELECT count(*) FROM analyses WHERE tenant_id = %(t)s),
                   (SELECT count(*) FROM events WHERE tenant_id = %(t)s),
                   (SELECT count(*) FROM events WHERE tenant_id = %(t)s
                      AND type = 'feedback.analyzed'),
                   (SELECT count(*) FROM complaints WHERE tenant_id = %(t)s),
                   (SELECT count(*) FROM events WHERE tenant_id = %(t)s
                      AND type = 'complaint.flagged'),
                   (SELECT count(*) FROM deliveries WHERE tenant_id = %(t)s
                      AND status = 'succeeded'),
                   (SELECT count(*) FROM deliveries WHERE tenant_id = %(t)s AND status = 'dead')
            """,
            {"t": tenant_id},
        ).fetchone()
    assert row is not None
    names = (
        "ingested",
        "done",
        "failed",
        "analyses",
        "events",
        "analyzed_events",
        "complaints",
        "flagged_events",
        "delivered",
        "dead",
    )
    return dict(zip(names, (int(v) for v in row), strict=True))


def _encode_share(texts: list[str], batch_size: int, threads: int | None, start: Any) -> float:
    """Seconds this process's encoder takes over ``texts``, timed from ``start`` (a barrier)."""
    from langnghe.config import Settings
    from nlp.encoders.registry import encoder_options, load_encoder

    settings = Settings()
    options = {**encoder_options(settings), "threads": threads or settings.encoder_threads}
    encoder = load_encoder(settings.encoder, **options)
    encoder.encode(texts[:batch_size])  # first calls allocate; not part of the rate
    start.wait()
    started = time.perf_counter()
    for n in range(0, len(texts), batch_size):
        encoder.encode(texts[n : n + batch_size])
    return time.perf_counter() - started


def encoder_rate(texts: list[str], batch_size: int, processes: int = 1) -> float:
    """Docs/s of the configured encoder alone on ``texts``, in batches of ``batch_size``.

    With several ``processes``, each encodes its share of the texts on its share of the
    cores (as the processes of a prefork worker do), all starting together; the rate is
    the texts over the slowest one's time.
    """
    if processes == 1:
        return len(texts) / _encode_share(texts, batch_size, None, threading.Barrier(1))
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(processes, context) as pool:
        start = manager.Barrier(processes)
        threads = encoder_threads(processes)
        runs = [
            pool.submit(_encode_share, texts[n::processes], batch_size, threads, start)
            for n in range(processes)
        ]
        return len(texts) / max(run.result() for run in runs)


def encoder_baseline(texts: list[str], batch_size: int) -> dict[int, float]:
    """The encoder's rate in one process on every core and, on a multi-core machine, in a
    process per core (each on its share), keyed by the number of processes."""
    rates = {1: encoder_rate(texts, batch_size)}
    if available_cores() > 1:
        rates[available_cores()] = encoder_rate(texts, batch_size, available_cores())
    print(
        "encoder alone: "
        + ", ".join(f"{n} process(es) {rate:.1f} docs/s" for n, rate in rates.items()),
        flush=True,
    )
    return rates


def _wait_delivered(
    database_url: str, tenant_id: Any, expected: int, timeout_s: float
) -> tuple[float | None, float]:
    """Poll until ``expected`` items are finished and every event is delivered or dead.

    Returns the seconds (from now) at which analysis finished (None if it did not) and
    at which the last event was delivered (or the timeout hit).
    """
    started = time.perf_counter()
    deadline = time.monotonic() + timeout_s
    analysed_s = None
    while time.monotonic() < deadline:
        c = _counts(database_url, tenant_id)
        if analysed_s is None and c["done"] + c["failed"] >= expected:
            analysed_s = time.perf_counter() - started
        if analysed_s is not None and c["delivered"] + c["dead"] >= c["events"]:
            break
        # A coarser poll would add up to its interval to a run of a few seconds.
        time.sleep(0.25)
    return analysed_s, time.perf_counter() - started


def main() -> int:
    """Run it, print the figures; exit status 1 if anything does not reconcile."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--concurrency", type=int, default=None, help="default: that of `langnghe worker`"
    )
    parser.add_argument("--pool", default=None, help="default: that of `langnghe worker`")
    parser.add_argument("--warmup", type=int, default=64, help="items sent before the clock")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()
    # A plain SIGTERM would skip the clean-up below and leave workers and Postgres running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    from langnghe.config import Settings

    batch_size = Settings().analyze_batch_size
    warm = list(feedback_items(args.warmup, seed=12))
    items = list(feedback_items(args.items, seed=11))
    texts = [str(item["text"]) for item in items]
    encoder_before = encoder_baseline(texts, batch_size)

    receiver = Receiver()
    with _database() as database_url, tempfile.TemporaryDirectory() as tmp:
        apply_migrations(database_url)
        db = Database(database_url, 1, 2)
        db.open()
        with db.transaction() as conn:
            tenant = tenants_store.create_tenant(conn, f"reconcile-{time.time_ns()}")
            key = tenants_store.create_api_key(conn, tenant.id)
        db.close()
        env = {
            **os.environ,
            "LANGNGHE_DATABASE_URL": database_url,
            "LANGNGHE_DATA_DIR": tmp,
            "LANGNGHE_LOG_LEVEL": "WARNING",
            "LANGNGHE_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
            "LANGNGHE_DELIVER_INTERVAL_S": "1",
        }
        os.environ.update(env)  # the API subprocess inherits it
        batches = [items[i : i + args.batch] for i in range(0, len(items), args.batch)]
        with (
            _api(database_url, args.port) as url,
            httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120
            ) as client,
        ):
            client.post(
                "/v1/webhooks", json={"url": receiver.url, "event_types": ["*"], "secret": SECRET}
            ).raise_for_status()
            with _workers(env, args.workers, args.concurrency, args.pool, Path(tmp)):
                accepted = 0
                if warm:
                    response = client.post("/v1/feedback", json={"items": warm})
                    response.raise_for_status()
                    accepted += response.json()["accepted"]
                    _, warm_s = _wait_delivered(database_url, tenant.id, accepted, args.timeout)
                    print(f"warm-up: {accepted} items through in {warm_s:.1f} s", flush=True)
                started = time.perf_counter()
                for batch in batches:
                    response = client.post("/v1/feedback", json={"items": batch})
                    response.raise_for_status()
                    accepted += response.json()["accepted"]
                ingest_s = time.perf_counter() - started
                print(f"ingested {len(items)} items in {ingest_s:.1f} s", flush=True)
                analysed_s, _ = _wait_delivered(database_url, tenant.id, accepted, args.timeout)
                total_s = time.perf_counter() - started
                if analysed_s is not None:
                    print(f"analysed all in {ingest_s + analysed_s:.1f} s", flush=True)
                final = _counts(database_url, tenant.id)
    print(f"delivered all in {total_s:.1f} s")
    encoder_after = encoder_baseline(texts, batch_size)
    rates = {n: (encoder_before[n] + encoder_after[n]) / 2 for n in encoder_before}
    baseline = max(rates.values())
    end_to_end = len(items) / total_s
    print(json.dumps(final))
    print(
        json.dumps(
            {
                "receiver_posts": receiver.posts,
                "receiver_distinct_events": len(receiver.ids),
                "bad_signatures": receiver.bad,
                "items_per_s_end_to_end": round(end_to_end, 1),
                "encoder_docs_per_s": round(baseline, 1),
                "ratio_to_encoder": round(end_to_end / baseline, 2),
                # The baseline (eval.bench_worker, eval.bench_nlp): one process.
                "encoder_one_process_docs_per_s": round(rates[1], 1),
                "ratio_to_one_process": round(end_to_end / rates[1], 2),
            }
        )
    )
    print(
        f"end to end {end_to_end:.1f} items/s; encoder alone {baseline:.1f} docs/s; "
        f"ratio {end_to_end / baseline:.2f}x (to one process, {rates[1]:.1f} docs/s: "
        f"{end_to_end / rates[1]:.2f}x)"
    )
    ok = (
        accepted == final["ingested"] == final["done"] == final["analyses"]
        and final["analyzed_events"] == final["done"]
        and final["flagged_events"] == final["complaints"]
        and len(receiver.ids) == final["events"]
        and receiver.bad == 0
    )
    print("RECONCILED" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
