"""Keeping Python's cyclic garbage collector off the objects a process holds for its whole life.

A sync step makes millions of short-lived containers (parsed pages, rows). Each of the collector's
full passes also walks every object the process already holds (Dagster, the dbt manifest, loaded
modules), so those passes come often and cost more the bigger the process is. Freezing the existing
objects for the length of a step takes them out of those passes; nothing is leaked, they are moved
back when the step ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Exclude the objects alive now from garbage collection until the block ends."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
