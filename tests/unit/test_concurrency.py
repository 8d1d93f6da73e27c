"""Worker processes and encoder threads: each process gets its share of the cores."""

from __future__ import annotations

import os

import pytest

from workers.concurrency import (
    THREADS_ENV,
    available_cores,
    encoder_threads,
    share_cores,
    up_worker_options,
)


def test_available_cores_is_the_affinity_of_this_process() -> None:
    assert available_cores() == len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("processes", "cores", "threads"),
    [(1, 2, 2), (2, 2, 1), (3, 2, 1), (2, 8, 4), (3, 8, 2), (0, 4, 4)],
)
def test_encoder_threads_divide_the_cores(processes: int, cores: int, threads: int) -> None:
    assert encoder_threads(processes, cores) == threads


def test_share_cores_sets_threads_for_several_processes_only_when_unset() -> None:
    env: dict[str, str] = {}
    share_cores(env, 1)
    assert env == {}  # one process: ONNX Runtime's default, every core
    share_cores(env, available_cores())
    assert env == {THREADS_ENV: "1"}
    mine = {THREADS_ENV: "3"}
    share_cores(mine, 2)
    assert mine == {THREADS_ENV: "3"}  # the operator's own setting wins


def test_up_runs_a_prefork_process_per_core_when_there_are_several() -> None:
    assert up_worker_options(1) == []  # one core: the solo pool, as `langnghe worker`
    assert up_worker_options(2) == ["--concurrency", "2", "--pool", "prefork"]
    assert up_worker_options() == up_worker_options(available_cores())
