"""Pages are read ahead in a thread: in order, failures where they happened, nothing left running."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from partner_center_assets.client.read_ahead import read_ahead


def test_every_item_arrives_once_and_in_order() -> None:
    with read_ahead(range(1000)) as items:
        assert list(items) == list(range(1000))


def test_the_reader_runs_ahead_of_the_caller_by_at_most_the_depth() -> None:
    produced: list[int] = []

    def pages() -> Iterator[int]:
        for number in range(10):
            produced.append(number)
            yield number

    with read_ahead(pages(), depth=2) as items:
        assert next(items) == 0
        time.sleep(0.3)
        assert len(produced) == 4  # the one taken, two waiting, one held until there is room


def test_a_failure_is_raised_to_the_caller_after_the_items_before_it() -> None:
    def pages() -> Iterator[int]:
        yield 1
        yield 2
        raise ConnectionError("page 3 failed")

    received: list[int] = []
    with pytest.raises(ConnectionError, match="page 3 failed"), read_ahead(pages()) as items:
        received.extend(items)
    assert received == [1, 2]


def test_a_caller_that_stops_early_stops_the_reader_and_closes_the_iterator() -> None:
    closed = threading.Event()

    def pages() -> Iterator[int]:
        try:
            number = 0
            while True:
                number += 1
                yield number
        finally:
            closed.set()

    with pytest.raises(RuntimeError, match="storage failed"), read_ahead(pages()) as items:
        for number in items:
            if number == 3:
                raise RuntimeError("storage failed")
    assert closed.is_set()
    assert not any(thread.name == "read-ahead" for thread in threading.enumerate())


def test_depth_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="depth"), read_ahead([1], depth=0):
        pass
