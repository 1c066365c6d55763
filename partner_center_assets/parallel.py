"""CPU-bound step work spread over forked worker processes, the results back in task order.

The normalize and resolve steps are pure Python over independent chunks of a sync's files, and one
Python process uses one CPU. Workers are forked, so they start at once with everything the step
has loaded (domain lists, the duplicates found), and only each task and its result cross a pipe.
Where fork is not safe (anything but Linux) or one worker is asked for, the tasks run in the
calling process, through the same functions.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from partner_center_assets.heap import collection_paused
from partner_center_assets.parent_death import die_with_parent

Context = TypeVar("Context")
Task = TypeVar("Task")
Result = TypeVar("Result")

IN_FLIGHT_PER_WORKER = 2
"""Tasks handed out ahead per worker: enough to keep every worker busy, few enough that the results
waiting to be written stay a handful of chunks."""

_inherited: tuple[Callable[[Any, Any], Any], Any] | None = None
"""The function and context of the running :func:`ordered_map`, inherited by its forked workers."""


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity, where the platform tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def can_fork() -> bool:
    """Whether workers may be forked from a process that has threads and open connections."""
    return sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods()


def ordered_map(
    function: Callable[[Context, Task], Result],
    context: Context,
    tasks: Sequence[Task],
    *,
    workers: int,
) -> Iterator[Result]:
    """Yield ``function(context, task)`` for each task, in the order of ``tasks``.

    With ``workers`` > 1 and more than one task, the calls run in up to that many forked processes;
    ``context`` reaches them by the fork, not through a pipe, so it may be large. A task that
    raises makes this raise when its result is due; a worker that dies (killed, out of memory)
    makes it raise :class:`WorkerDied`. Leaving the loop early cancels the tasks not started.
    """
    workers = min(workers, len(tasks))
    if workers <= 1 or not can_fork():
        for task in tasks:
            with collection_paused():
                result = function(context, task)
            yield result
        return
    global _inherited
    if _inherited is not None:
        raise RuntimeError("ordered_map cannot be nested")
    _inherited = (function, context)
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_die_with_parent,
        initargs=(os.getpid(),),
    )
    try:
        remaining = iter(tasks)
        pending: deque[Future[Result]] = deque()
        for task in remaining:
            pending.append(pool.submit(_call, task))
            if len(pending) >= workers * IN_FLIGHT_PER_WORKER:
                break
        while pending:
            try:
                result = pending.popleft().result()
            except BrokenProcessPool as exc:
                raise WorkerDied(
                    f"a worker process of this step ended before finishing its task ({exc}); it may have "
                    "been killed or run out of memory"
                ) from None
            for task in remaining:
                pending.append(pool.submit(_call, task))
                break
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _inherited = None


class WorkerDied(RuntimeError):
    """A worker process ended without returning its task's result."""


def _call(task: Any) -> Any:
    assert _inherited is not None, "a worker runs only tasks of the ordered_map that forked it"
    function, context = _inherited
    with collection_paused():
        return function(context, task)


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this worker when the sync process dies, even by SIGKILL.

    Workers wait on a queue whose writing end they hold themselves, so they would otherwise wait
    forever for tasks from a parent that is gone.
    """
    die_with_parent(parent)
