"""How many worker processes to run, and how many encoder threads each gets.

The encoder is most of a worker's CPU time, but not all of it: between two batches a
process waits on Postgres, runs the heads and delivers webhooks, and a single process
leaves the cores idle meanwhile. One process per core, each with the encoder on its
share of the cores, keeps every core busy; two processes that each ran ONNX Runtime on
every core (its default) would instead fight over them, with threads spinning while
they wait for the other's.
"""

from __future__ import annotations

import os

THREADS_ENV = "LANGNGHE_ENCODER_THREADS"


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def up_worker_options(cores: int | None = None) -> list[str]:
    """``langnghe worker`` options of ``langnghe up``: a prefork process per core, if several."""
    cores = cores or available_cores()
    return ["--concurrency", str(cores), "--pool", "prefork"] if cores > 1 else []


def encoder_threads(processes: int, cores: int | None = None) -> int:
    """Encoder threads per process when ``processes`` share ``cores`` (default: all)."""
    return max(1, (cores or available_cores()) // max(1, processes))


def share_cores(env: dict[str, str] | os._Environ[str], processes: int) -> None:
    """Give each of ``processes`` its share of the cores, unless threads are set already.

    Writes :data:`THREADS_ENV` into ``env`` (the worker's own environment, which its
    forked processes read their settings from).
    """
    if processes > 1 and not env.get(THREADS_ENV):
        env[THREADS_ENV] = str(encoder_threads(processes))
