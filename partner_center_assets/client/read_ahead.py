"""Reading the next page while the caller stores the current one.

A sync spends about as long storing each page (the file, its Dagster event) as it waits for the API
to send the next. :func:`read_ahead` runs an iterator in a thread, a bounded number of items ahead,
so the two overlap. Items arrive in order; an exception of the iterator is raised to the caller at
the point it was reached; when the caller stops early, the thread stops after its current item.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

_END = object()
_POLL_SECONDS = 0.1


@contextmanager
def read_ahead(items: Iterable[T], *, depth: int = 2) -> Iterator[Iterator[T]]:
    """Iterate ``items`` at most ``depth`` items ahead of the caller, in a thread of its own."""
    if depth < 1:
        raise ValueError("depth must be at least 1")
    ready: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(entry: tuple[Any, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                ready.put(entry, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not hand_over((item, None)):
                    return
            hand_over((_END, None))
        except BaseException as exc:  # handed to the caller, who raises it
            hand_over((_END, exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    def consume() -> Iterator[T]:
        while True:
            item, error = ready.get()
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        thread.join()
