"""Reading the next page in a thread while the current one is handled."""

import threading
import time
from collections.abc import Iterator

import pytest

from partner_center_assets.client.read_ahead import read_ahead


class Pages:
    """A page iterator that records what it produced, whether it was closed, and on which thread."""

    def __init__(self, count: int, *, fail_at: int | None = None, delay: float = 0.0) -> None:
        self.count, self.fail_at, self.delay = count, fail_at, delay
        self.produced: list[int] = []
        self.closed = False
        self.threads: set[str] = set()

    def __iter__(self) -> Iterator[int]:
        try:
            for n in range(self.count):
                self.threads.add(threading.current_thread().name)
                time.sleep(self.delay)
                if n == self.fail_at:
                    raise ConnectionError(f"page {n} failed")
                self.produced.append(n)
                yield n
        finally:
            self.closed = True


def test_items_come_in_order_and_all_of_them():
    pages = Pages(50)
    assert list(read_ahead(pages)) == list(range(50))
    assert pages.closed


def test_items_are_produced_on_another_thread():
    pages = Pages(3)
    list(read_ahead(pages, name="reader"))
    assert pages.threads == {"reader"}


def test_an_error_of_the_iterator_comes_after_the_items_before_it():
    received: list[int] = []
    with pytest.raises(ConnectionError, match="page 3 failed"):
        for item in read_ahead(Pages(10, fail_at=3)):
            received.append(item)
    assert received == [0, 1, 2]


def test_a_consumer_that_stops_early_stops_the_reader_and_closes_the_iterator():
    pages = Pages(1000)
    for item in read_ahead(pages):
        if item == 2:
            break
    assert pages.closed
    assert len(pages.produced) <= 5
    assert not any(thread.name == "read-ahead" for thread in threading.enumerate())


def test_an_error_of_the_consumer_stops_the_reader():
    pages = Pages(1000)
    with pytest.raises(OSError, match="disk full"):
        for item in read_ahead(pages):
            if item == 1:
                raise OSError("disk full")
    assert pages.closed
    assert len(pages.produced) <= 4


def test_the_next_item_is_produced_while_the_consumer_handles_this_one():
    second_produced = threading.Event()

    def pages() -> Iterator[int]:
        yield 0
        second_produced.set()
        yield 1

    handled_first_while_second_was_read = []
    for item in read_ahead(pages()):
        if item == 0:
            handled_first_while_second_was_read.append(second_produced.wait(timeout=10))
    assert handled_first_while_second_was_read == [True]
