"""Customers benchmark: interaction ingest over HTTP against a direct COPY, and profile reads.

    python -m eval.bench_customers [--interactions 200000] [--customers 100000]
                                   [--batch 1000] [--clients 4] [--rounds 5] [--reads 500]
                                   [--api-workers 1]

1. Ingest. Baseline, measured in the same run: the same number of interaction rows
   COPYed straight into ``interactions`` (no HTTP, no validation, no idempotency check,
   no profile bookkeeping). Then ``POST /v1/interactions`` in batches from ``--clients``
   concurrent clients, each batch validated, inserted idempotently, its customers marked
   for a refresh and a refresh queued, all before the 202. The two alternate in
   ``--rounds`` slices of the rows (a slice COPYed, then the same slice POSTed), so a
   change in the load of a shared machine falls on both. Printed: items/s of both and
   the ratio.
2. Reads. The COPYed tenant's ``--customers`` profiles are built (store.customers.
   refresh_profiles), then ``GET /v1/customers/{ref}`` is timed for ``--reads`` random
   customers one at a time; baseline, in the same run: the same reads in-process
   (api.customers.service.customer_detail: the same queries, no HTTP). Printed: p50 and
   p95 of both and the ratio of the p95s.

Uses LANGNGHE_DATABASE_URL if set, else an embedded pgserver in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
from psycopg.types.json import Jsonb

from api.customers.service import customer_detail
from eval.bench_ingest import _api, _database, _percentile
from store import customers as customers_store
from store import tenants as tenants_store
from store.db import Database
from store.migrate import apply_migrations

START = datetime(2026, 1, 1, tzinfo=UTC)
COPY_COLUMNS = (
    "id",
    "tenant_id",
    "source",
    "external_id",
    "customer_ref",
    "type",
    "occurred_at",
    "value",
    "attributes",
)


def interactions(n: int, customers: int, seed: int) -> Iterator[dict[str, Any]]:
    """``n`` interactions (orders and their deliveries) spread over ``customers`` customers."""
    rng = random.Random(seed)
    for k in range(n):
        at = START + timedelta(days=rng.uniform(0, 180))
        ref = f"cust-{k % customers:06d}"
        if k % 2 == 0:
            yield {
                "customer_ref": ref,
                "type": "order",
                "occurred_at": at.isoformat(),
                "value": round(rng.uniform(50, 400), 2),
                "external_id": f"{seed}-{k}",
                "source": "bench",
            }
        else:
            promised = at + timedelta(days=3)
            yield {
                "customer_ref": ref,
                "type": "delivery",
                "occurred_at": at.isoformat(),
                "external_id": f"{seed}-{k}",
                "source": "bench",
                "attributes": {
                    "promised_at": promised.isoformat(),
                    "delivered_at": (promised + timedelta(days=rng.uniform(-1, 2))).isoformat(),
                },
            }


def copy_tuples(tenant_id: UUID, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The rows as COPY tuples (built before the clock starts: the baseline is Postgres's)."""
    return [
        (
            uuid4(),
            tenant_id,
            r["source"],
            r["external_id"],
            r["customer_ref"],
            r["type"],
            datetime.fromisoformat(r["occurred_at"]),
            r.get("value"),
            Jsonb(r.get("attributes", {})),
        )
        for r in rows
    ]


def copy_rows(db: Database, tuples: list[tuple[Any, ...]]) -> None:
    """COPY the rows straight into ``interactions`` in one transaction."""
    columns = ", ".join(COPY_COLUMNS)
    with (
        db.transaction() as conn,
        conn.cursor() as cur,
        cur.copy(f"COPY interactions ({columns}) FROM STDIN") as copy,
    ):
        copy.set_types(
            ["uuid", "uuid", "text", "text", "text", "text", "timestamptz", "float4", "jsonb"]
        )
        for row in tuples:
            copy.write_row(row)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tenant(db: Database, name: str) -> tuple[UUID, str]:
    with db.transaction() as conn:
        tenant = tenants_store.create_tenant(conn, f"{name}-{time.time_ns()}")
        return tenant.id, tenants_store.create_api_key(conn, tenant.id)


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--interactions", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5, help="COPY/POST alternations")
    parser.add_argument("--reads", type=int, default=500)
    parser.add_argument("--port", type=int, default=0, help="the API's port (0: a free one)")
    parser.add_argument("--api-workers", type=int, default=1, help="API processes")
    args = parser.parse_args()
    # The reads run back to back, faster than the default 100 requests/s per key: the
    # benchmark measures latency, not the rate limit, so the API it starts has none.
    os.environ.setdefault("LANGNGHE_RATE_KEY_PER_S", "0")
    os.environ.setdefault("LANGNGHE_RATE_TENANT_PER_S", "0")

    with _database() as database_url:
        apply_migrations(database_url)
        db = Database(database_url, 1, 4)
        db.open()
        copied, _ = _tenant(db, "bench-copy")
        _, key = _tenant(db, "bench-http")
        rows = list(interactions(args.interactions, args.customers, seed=1))

        tuples = copy_tuples(copied, rows)
        # Encoded before the clock starts, as the COPY's tuples are: the client shares the
        # machine's cores with the API and Postgres, and its JSON encoding is not the API's.
        bodies = [
            json.dumps({"items": rows[i : i + args.batch]}).encode()
            for i in range(0, len(rows), args.batch)
        ]
        with _api(database_url, args.port or _free_port(), args.api_workers) as url:
            clients = [
                httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120)
                for _ in range(args.clients)
            ]

            def post(k: int) -> None:
                client = clients[k % len(clients)]
                client.post(
                    "/v1/interactions",
                    content=bodies[k],
                    headers={"Content-Type": "application/json"},
                ).raise_for_status()

            # Slices of whole batches, so each round POSTs exactly the rows it COPYed.
            per_round = -(-len(bodies) // max(1, args.rounds))
            copy_s = http_s = 0.0
            with ThreadPoolExecutor(args.clients) as pool:
                for first in range(0, len(bodies), per_round):
                    last = min(first + per_round, len(bodies))
                    started = time.perf_counter()
                    copy_rows(db, tuples[first * args.batch : last * args.batch])
                    copy_s += time.perf_counter() - started
                    started = time.perf_counter()
                    list(pool.map(post, range(first, last)))
                    http_s += time.perf_counter() - started
            copy_rate, http_rate = len(rows) / copy_s, len(rows) / http_s

            refs = sorted({r["customer_ref"] for r in rows})
            started = time.perf_counter()
            for i in range(0, len(refs), 5000):
                with db.transaction() as conn:
                    customers_store.refresh_profiles(conn, copied, refs[i : i + 5000])
            refresh_s = time.perf_counter() - started
            with db.transaction() as conn:
                profiles = customers_store.count_customers(
                    conn, copied, customers_store.CustomerFilter()
                )

            copied_key = None
            with db.transaction() as conn:
                copied_key = tenants_store.create_api_key(conn, copied)
            sample = random.Random(3).sample(refs, min(args.reads, len(refs)))
            direct: list[float] = []
            for ref in sample:
                t0 = time.perf_counter()
                customer_detail(db, copied, ref)
                direct.append((time.perf_counter() - t0) * 1000)
            over_http: list[float] = []
            reader = httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {copied_key}"}, timeout=60
            )
            for ref in sample:
                t0 = time.perf_counter()
                reader.get(f"/v1/customers/{ref}").raise_for_status()
                over_http.append((time.perf_counter() - t0) * 1000)
            for client in [*clients, reader]:
                client.close()
        db.close()

    print(
        f"interactions: {len(rows)} over {args.customers} customers, "
        f"batches of {args.batch}, {args.clients} clients, {args.rounds} rounds"
    )
    print(f"baseline, COPY into interactions:   {copy_rate:10.0f} items/s")
    print(
        f"POST /v1/interactions batches:      {http_rate:10.0f} items/s"
        f"  ({http_rate / copy_rate:.2f}x baseline)"
    )
    print(f"profiles built: {profiles} in {refresh_s:.1f} s")
    d50, d95 = statistics.median(direct), _percentile(direct, 0.95)
    h50, h95 = statistics.median(over_http), _percentile(over_http, 0.95)
    print(f"baseline, customer_detail in-process: p50={d50:.1f} ms  p95={d95:.1f} ms")
    print(
        f"GET /v1/customers/{{ref}} (n={len(over_http)}): p50={h50:.1f} ms  p95={h95:.1f} ms"
        f"  ({h95 / d95:.2f}x baseline p95)"
    )


if __name__ == "__main__":
    main()
