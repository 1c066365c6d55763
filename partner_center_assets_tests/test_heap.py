"""A heavy step keeps the garbage collector off the objects the process already held."""

from __future__ import annotations

import gc

from partner_center_assets.heap import frozen_heap


def test_objects_alive_when_a_step_starts_are_left_out_of_collection_while_it_runs() -> None:
    held = [object() for _ in range(10)]
    with frozen_heap():
        assert gc.get_freeze_count() >= len(held)
    assert gc.get_freeze_count() == 0


def test_the_objects_are_collectable_again_after_a_failed_step() -> None:
    try:
        with frozen_heap():
            raise RuntimeError("step failed")
    except RuntimeError:
        pass
    assert gc.get_freeze_count() == 0
