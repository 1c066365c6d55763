"""dbt's parse made while the sync writes: kept when it is ready, stopped otherwise, never in the way."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from partner_center_assets.dbt_parse_ahead import PARSE_FILE, parsing_ahead
from partner_center_assets.dbt_target import build_target_path, dbt_target_env, remove_build_target
from partner_center_assets.defs.dbt_hunter.project import dbt_build_command
from partner_center_assets_tests.processes import still_running_after


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A DuckDB database of its own, and so a dbt build folder of its own (removed afterwards)."""
    url = f"duckdb:///{tmp_path / 'hunter.duckdb'}"
    yield url
    remove_build_target(url)


def _build_dir(url: str) -> Path:
    return build_target_path(*dbt_target_env(url))


def test_a_parse_finished_before_the_write_ends_is_kept_for_the_first_build(database_url: str) -> None:
    with parsing_ahead(database_url, dbt_build_command()) as parse:
        assert parse.process is not None
        parse.process.wait(timeout=180)

    assert parse.adopted
    assert (_build_dir(database_url) / PARSE_FILE).stat().st_size > 0
    assert parse.scratch is not None and not parse.scratch.exists()


def test_a_parse_still_running_when_the_write_ends_is_stopped_and_not_kept(database_url: str) -> None:
    with parsing_ahead(database_url, dbt_build_command()) as parse:
        pass

    assert parse.outcome == "stopped: the write ended first"
    assert parse.process is not None and parse.process.returncode is not None
    assert not (_build_dir(database_url) / PARSE_FILE).exists()
    assert parse.scratch is not None and not parse.scratch.exists()


def test_no_parse_starts_when_the_database_has_a_saved_parse(database_url: str) -> None:
    build_dir = _build_dir(database_url)
    build_dir.mkdir(parents=True)
    (build_dir / PARSE_FILE).write_bytes(b"saved by an earlier build")

    with parsing_ahead(database_url, dbt_build_command()) as parse:
        pass

    assert parse.process is None
    assert (build_dir / PARSE_FILE).read_bytes() == b"saved by an earlier build"


def test_a_failed_write_stops_the_parse_and_keeps_its_error(database_url: str) -> None:
    with (
        pytest.raises(RuntimeError, match="the write failed"),
        parsing_ahead(database_url, dbt_build_command()) as parse,
    ):
        raise RuntimeError("the write failed")

    assert parse.process is not None and parse.process.returncode is not None
    assert not (_build_dir(database_url) / PARSE_FILE).exists()


def test_a_failed_parse_is_not_kept(database_url: str) -> None:
    with parsing_ahead(database_url, "false") as parse:
        assert parse.process is not None
        parse.process.wait(timeout=30)

    assert parse.outcome == "failed: dbt parse exited with 1"
    assert not (_build_dir(database_url) / PARSE_FILE).exists()


def test_a_dbt_that_cannot_start_leaves_the_write_alone(database_url: str, tmp_path: Path) -> None:
    with parsing_ahead(database_url, str(tmp_path / "no-such-dbt")) as parse:
        written = True

    assert written
    assert parse.outcome.startswith("not possible:")
    assert parse.scratch is not None and not parse.scratch.exists()


def test_a_url_dbt_cannot_build_on_starts_nothing() -> None:
    with parsing_ahead("duckdb:///:memory:", dbt_build_command()) as parse:
        pass

    assert parse.process is None
    assert parse.outcome.startswith("not possible:")


def test_the_parse_dies_with_a_killed_sync_process(database_url: str) -> None:
    script = textwrap.dedent(
        f"""
        import os, sys, time
        from partner_center_assets.dbt_parse_ahead import parsing_ahead
        from partner_center_assets.defs.dbt_hunter.project import dbt_build_command

        with parsing_ahead({database_url!r}, dbt_build_command()) as parse:
            os.write(1, f"{{parse.process.pid}}\\n".encode())
            time.sleep(120)
        """
    )
    sync = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert sync.stdout is not None
        dbt_pid = int(sync.stdout.readline())
        os.kill(sync.pid, signal.SIGKILL)
        sync.wait(timeout=10)

        assert still_running_after([dbt_pid]) == []
    finally:
        sync.kill()
