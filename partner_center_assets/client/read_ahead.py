"""Reading the next page while the current one is being stored.

Each page of a stream is a request the API answers in its own time; the fetch step also writes and
logs every page. :func:`read_ahead` runs a page iterator in a thread one item ahead of its consumer,
so the wait for page N+1 overlaps the handling of page N. Order, errors and the point where the
stream stops are the iterator's own.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


class _End:
    """What the thread puts after the last item: nothing, or the error the iterator raised."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def read_ahead(items: Iterable[T], *, name: str = "read-ahead") -> Iterator[T]:
    """Yield ``items`` in order, producing each next one in a thread while the caller handles this one.

    An error of ``items`` is raised here, after the items before it. When the caller stops early
    (an error of its own, ``break``, closing this generator), the thread is told to stop: the item
    being produced is finished (one request, with its retries) and dropped, and ``items`` is closed
    in the thread before this returns.
    """
    handoff: queue.Queue[T | _End] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                handoff.put(item)
                if stop.is_set():
                    break
        except BaseException as exc:  # handed to the consumer, which raises it
            handoff.put(_End(exc))
            return
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
        handoff.put(_End())

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item = handoff.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            try:
                handoff.get(timeout=0.05)
            except queue.Empty:
                continue
        worker.join()
