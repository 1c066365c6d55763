"""Work spread over forked workers: results in task order, errors where they belong, no orphans."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from partner_center_assets.parallel import IN_FLIGHT_PER_WORKER, WorkerDied, can_fork, ordered_map
from partner_center_assets_tests.processes import still_running_after

needs_fork = pytest.mark.skipif(not can_fork(), reason="workers are forked on Linux only")


def _square_with_pid(offset: int, task: int) -> tuple[int, int]:
    return offset + task * task, os.getpid()


def _fail_on_three(_: None, task: int) -> int:
    if task == 3:
        raise ValueError("task 3 is bad")
    return task


def _exit_on_two(_: None, task: int) -> int:
    if task == 2:
        os._exit(9)
    return task


def _record_start(directory: Path, task: int) -> int:
    (directory / str(task)).touch()
    time.sleep(0.05)
    return task


def _collector_on(_: None, task: int) -> bool:
    return gc.isenabled()


def _with_lock(lock: threading.Lock, task: int) -> bool:
    return isinstance(lock, type(threading.Lock())) and task >= 0


@needs_fork
def test_results_come_back_in_task_order_from_other_processes() -> None:
    results = list(ordered_map(_square_with_pid, 100, list(range(40)), workers=3))

    assert [value for value, _ in results] == [100 + task * task for task in range(40)]
    assert os.getpid() not in {pid for _, pid in results}


@needs_fork
def test_the_context_reaches_workers_without_being_pickled() -> None:
    assert all(ordered_map(_with_lock, threading.Lock(), list(range(6)), workers=2))


def test_one_worker_runs_the_tasks_in_this_process() -> None:
    results = list(ordered_map(_square_with_pid, 0, [1, 2, 3], workers=1))

    assert results == [(1, os.getpid()), (4, os.getpid()), (9, os.getpid())]


@pytest.mark.parametrize("workers", [1, 2])
def test_tasks_run_without_the_collectors_passes(workers: int) -> None:
    assert list(ordered_map(_collector_on, None, [1, 2, 3], workers=workers)) == [False] * 3
    assert gc.isenabled()


def test_a_single_task_runs_in_this_process_whatever_the_workers() -> None:
    assert list(ordered_map(_square_with_pid, 0, [5], workers=4)) == [(25, os.getpid())]


@needs_fork
def test_a_failing_task_raises_after_the_results_before_it() -> None:
    seen: list[int] = []
    with pytest.raises(ValueError, match="task 3 is bad"):
        for value in ordered_map(_fail_on_three, None, list(range(10)), workers=2):
            seen.append(value)

    assert seen == [0, 1, 2]


@needs_fork
def test_a_worker_that_dies_fails_the_step_with_a_clear_error() -> None:
    with pytest.raises(WorkerDied, match="ended before finishing its task"):
        list(ordered_map(_exit_on_two, None, list(range(6)), workers=2))


@needs_fork
def test_leaving_the_loop_early_starts_no_further_tasks(tmp_path: Path) -> None:
    workers = 2
    for _ in ordered_map(_record_start, tmp_path, list(range(50)), workers=workers):
        break

    started = len(list(tmp_path.iterdir()))
    assert 1 <= started <= 1 + workers * IN_FLIGHT_PER_WORKER


@needs_fork
def test_workers_die_with_a_killed_sync_process(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import os, sys, time
        from partner_center_assets.parallel import ordered_map

        def report_and_wait(_, task):
            os.write(1, f"{os.getpid()}\\n".encode())  # one write: two workers' lines never interleave
            time.sleep(120)
            return task

        for _ in ordered_map(report_and_wait, None, list(range(4)), workers=2):
            pass
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        workers = {int(parent.stdout.readline()), int(parent.stdout.readline())}
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)

        assert still_running_after(workers) == []
    finally:
        parent.kill()
