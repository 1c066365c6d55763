"""A sync process takes Arrow's buffers from the system allocator, and a heavy step keeps the
garbage collector off the objects the process already held."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import pytest

from partner_center_assets.dbt_command import DBT_WRAPPER
from partner_center_assets.defs.dbt_hunter.resources import dbt_hunter_resource
from partner_center_assets.heap import (
    ARROW_POOL_VARIABLE,
    MMAP_THRESHOLD_VARIABLE,
    collection_paused,
    frozen_heap,
    loading_without_collection,
)


def arrow_backend(environment: dict[str, str]) -> str:
    """The Arrow pool of a new process that imports the package, then pyarrow."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import partner_center_assets, pyarrow as pa; print(pa.default_memory_pool().backend_name)",
        ],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return loaded.stdout.strip()


def test_arrow_buffers_come_from_the_system_allocator() -> None:
    environment = {k: v for k, v in os.environ.items() if k != ARROW_POOL_VARIABLE}
    assert arrow_backend(environment) == "system"


def test_an_arrow_pool_chosen_in_the_environment_is_kept() -> None:
    assert arrow_backend({**os.environ, ARROW_POOL_VARIABLE: "mimalloc"}) == "mimalloc"


FREED_BLOCKS_PROBE = """
from partner_center_assets.heap import unmap_large_blocks_when_freed

unmap_large_blocks_when_freed()

def resident_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024

large = bytearray(b"x") * (16 << 20)
del large  # glibc alone would now serve blocks up to 16 MB from its heap
blocks = [bytearray(b"x") * (1 << 20) for _ in range(100)]
before = resident_mb()
del blocks[:-1]  # the last block stays alive above the others
print(before - resident_mb())
"""


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's allocator")
def test_once_set_large_blocks_go_back_to_the_system_when_freed_even_below_one_still_in_use() -> None:
    environment = {k: v for k, v in os.environ.items() if k != MMAP_THRESHOLD_VARIABLE}
    probe = subprocess.run(
        [sys.executable, "-c", FREED_BLOCKS_PROBE],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(probe.stdout) >= 90


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


class _Cycle:
    def __init__(self) -> None:
        self.itself = self


def test_a_paused_block_runs_without_the_collector_and_frees_its_cycles_at_the_end() -> None:
    import weakref

    with collection_paused():
        assert not gc.isenabled()
        cycle = _Cycle()
        alive = weakref.ref(cycle)
        del cycle
        assert alive() is not None
    assert gc.isenabled()
    assert alive() is None


def test_a_collector_turned_off_before_a_paused_block_stays_off() -> None:
    gc.disable()
    try:
        with collection_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_command_line_leaves_its_heap_out_of_the_collections_at_exit() -> None:
    """An exit handler registered before the CLI is imported runs after the CLI's own."""
    probe = (
        "import atexit, gc; "
        "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0)); "
        "import partner_center_assets.cli"
    )
    finished = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert finished.stdout.strip() == "frozen at exit: True"


def test_modules_load_with_the_collector_off_and_stay_out_of_its_passes_after() -> None:
    try:
        with loading_without_collection():
            assert not gc.isenabled()
            loaded = [{"module": n} for n in range(100)]
        assert gc.isenabled()
        assert gc.get_freeze_count() >= len(loaded)
    finally:
        gc.unfreeze()


def test_a_collector_turned_off_before_loading_stays_off() -> None:
    gc.disable()
    try:
        with loading_without_collection():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()


def test_the_dbt_builds_run_through_dbts_own_command_line() -> None:
    ran = subprocess.run([str(DBT_WRAPPER), "--version"], capture_output=True, text=True, check=False)

    assert dbt_hunter_resource().dbt_executable == str(DBT_WRAPPER)
    assert ran.returncode == 0
    assert "installed:" in ran.stdout
