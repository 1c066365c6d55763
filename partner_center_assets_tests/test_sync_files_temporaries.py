"""Intermediate files are replaced whole, and killed writers leave no temporary file for good."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from partner_center_assets.sync_files import ABANDONED_AFTER_SECONDS, SyncFiles


def _gone_pid() -> int:
    """The id of a process that ran and has ended."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(child.stdout)


def _leftover(target: Path, pid: int, *, age: float) -> Path:
    """A temporary file of ``target`` named as writer ``pid`` names it, last touched ``age`` seconds ago."""
    path = target.with_name(f"{target.name}.{pid}-0badf00d.partial")
    path.write_bytes(b'{"stream": "discovery", "page": 1,"body":{"value":[]}}\n')
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


@pytest.fixture
def files(tmp_path: Path) -> SyncFiles:
    files = SyncFiles(tmp_path / "partner_center")
    files.directory.mkdir()
    return files


def test_a_file_replaces_the_previous_one_only_when_written_whole(files: SyncFiles) -> None:
    files.raw_pages.write_text("before\n")

    with pytest.raises(RuntimeError), files.writing(files.raw_pages) as temporary:
        temporary.write_text("half")
        raise RuntimeError("killed halfway")

    assert files.raw_pages.read_text() == "before\n"
    assert list(files.directory.iterdir()) == [files.raw_pages]


def test_a_killed_writers_old_temporary_file_is_removed_by_the_next_writer(files: SyncFiles) -> None:
    left = _leftover(files.raw_pages, _gone_pid(), age=ABANDONED_AFTER_SECONDS + 60)

    with files.writing(files.raw_pages) as temporary:
        temporary.write_text("fresh\n")

    assert not left.exists()
    assert files.raw_pages.read_text() == "fresh\n"


def test_a_running_writers_temporary_file_is_kept_however_old(files: SyncFiles) -> None:
    kept = _leftover(files.raw_pages, os.getpid(), age=ABANDONED_AFTER_SECONDS + 60)

    with files.writing(files.raw_pages) as temporary:
        temporary.write_text("fresh\n")

    assert kept.exists()


def test_a_recently_touched_temporary_file_is_kept_even_if_its_writer_seems_gone(files: SyncFiles) -> None:
    kept = _leftover(files.raw_pages, _gone_pid(), age=5)

    with files.writing(files.raw_pages) as temporary:
        temporary.write_text("fresh\n")

    assert kept.exists()


def test_only_the_temporary_files_of_the_file_being_written_are_looked_at(files: SyncFiles) -> None:
    other = _leftover(files.normalized, _gone_pid(), age=ABANDONED_AFTER_SECONDS + 60)

    with files.writing(files.raw_pages) as temporary:
        temporary.write_text("fresh\n")

    assert other.exists()
