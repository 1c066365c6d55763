"""dbt made ready ahead of a build: a warm process loads dbt, parses ahead when needed, runs the build's
command as that command would have run, and never stands in the build's way."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from partner_center_assets import dbt_warm
from partner_center_assets.dbt_ahead import PARSE_FILE, start_ahead
from partner_center_assets.dbt_command import dbt_build_command
from partner_center_assets.dbt_target import build_target_path, dbt_target_env, remove_build_target
from partner_center_assets_tests.processes import still_running_after


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A DuckDB database of its own, and so a dbt build folder of its own (removed afterwards)."""
    url = f"duckdb:///{tmp_path / 'hunter.duckdb'}"
    yield url
    dbt_warm.discard()
    remove_build_target(url)


def _build_dir(url: str) -> Path:
    return build_target_path(*dbt_target_env(url))


def _as_the_build_runs_it(warm: dbt_warm.WarmDbt, *args: str) -> subprocess.CompletedProcess[str]:
    """``partner-center-dbt args`` started as dagster-dbt starts it, pointed at ``warm``."""
    env = {**os.environ, dbt_warm.WARM_VARIABLE: warm.socket_path}
    return subprocess.run(
        [dbt_build_command(), *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )


def test_a_warm_process_parses_ahead_into_a_build_folder_without_a_saved_parse(database_url: str) -> None:
    warm = start_ahead(database_url, dbt_build_command(), started_by="a test")
    assert warm is not None

    ran = _as_the_build_runs_it(warm, "--version")  # answered once the parse is done

    assert ran.returncode == 0
    assert (_build_dir(database_url) / PARSE_FILE).stat().st_size > 0
    assert warm.close() == (True, "adopted")
    assert not warm.folder.exists()


def test_no_parse_is_made_when_the_build_folder_has_a_saved_parse(database_url: str) -> None:
    build_dir = _build_dir(database_url)
    build_dir.mkdir(parents=True)
    (build_dir / PARSE_FILE).write_bytes(b"saved by an earlier build")
    warm = start_ahead(database_url, dbt_build_command(), started_by="a test")
    assert warm is not None

    ran = _as_the_build_runs_it(warm, "--version")

    assert ran.returncode == 0
    assert warm.close() == (True, None)
    assert (build_dir / PARSE_FILE).read_bytes() == b"saved by an earlier build"


def test_the_command_runs_in_the_warm_process_with_the_callers_streams_and_status(database_url: str) -> None:
    warm = start_ahead(database_url, dbt_build_command(), started_by="a test")
    assert warm is not None
    cold = subprocess.run(
        [dbt_build_command(), "--no-such-option"], capture_output=True, text=True, timeout=180, check=False
    )

    ran = _as_the_build_runs_it(warm, "--no-such-option")

    assert warm.close()[0] is True
    assert ran.returncode == cold.returncode == 2
    assert "No such option '--no-such-option'" in ran.stderr
    assert ran.stderr == cold.stderr


def test_the_build_runs_dbt_itself_when_no_warm_process_listens(tmp_path: Path) -> None:
    env = {**os.environ, dbt_warm.WARM_VARIABLE: str(tmp_path / "nobody.sock")}

    ran = subprocess.run(
        [dbt_build_command(), "--version"], env=env, capture_output=True, text=True, timeout=180, check=False
    )

    assert ran.returncode == 0
    assert "Core:" in ran.stdout


def test_a_warm_process_that_ends_before_the_command_starts_leaves_it_to_the_caller(tmp_path: Path) -> None:
    path = str(tmp_path / "dbt.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)

    def accept_and_hang_up() -> None:
        connection, _ = listener.accept()
        connection.close()

    threading.Thread(target=accept_and_hang_up, daemon=True).start()
    try:
        assert dbt_warm.run_warm(path, ["partner-center-dbt", "build"]) is None
    finally:
        listener.close()


SERVER = textwrap.dedent(
    """
    import socket, sys, time
    from partner_center_assets import dbt_warm

    def command():
        try:
            print("started", flush=True)
            time.sleep(60)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sys.argv[1])
    listener.listen(1)
    sys.exit(dbt_warm.serve(listener, lambda: command, idle_seconds=float(sys.argv[2])))
    """
)
CLIENT = (
    "import sys; from partner_center_assets import dbt_warm; sys.exit(dbt_warm.run_warm(sys.argv[1], ['x']))"
)


def _server(
    path: Path, idle_seconds: float = 60.0, *, ignoring_sigint: bool = False
) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(path), str(idle_seconds)],
        text=True,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignoring_sigint else None,
    )
    deadline = time.monotonic() + 30
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return server


@contextmanager
def _command_running(
    path: Path, *, ignoring_sigint: bool = False
) -> Iterator[tuple[subprocess.Popen[str], subprocess.Popen[str]]]:
    """A warm process and a build's process whose command, run by the warm one, has started."""
    server = _server(path, ignoring_sigint=ignoring_sigint)
    client = subprocess.Popen([sys.executable, "-c", CLIENT, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdout is not None
        assert client.stdout.readline() == "started\n"
        yield server, client
    finally:
        client.kill()
        server.kill()


def test_an_interrupt_of_the_builds_process_reaches_the_command_in_the_warm_process(tmp_path: Path) -> None:
    with _command_running(tmp_path / "dbt.sock") as (server, client):
        client.send_signal(signal.SIGINT)

        assert client.stdout is not None and client.stdout.read() == "interrupted\n"
        assert client.wait(timeout=30) == 130
        assert server.wait(timeout=30) == 130


def test_the_command_is_interrupted_even_in_a_warm_process_started_with_sigint_ignored(
    tmp_path: Path,
) -> None:
    with _command_running(tmp_path / "dbt.sock", ignoring_sigint=True) as (server, client):
        client.send_signal(signal.SIGINT)

        assert client.stdout is not None and client.stdout.read() == "interrupted\n"
        assert server.wait(timeout=30) == 130


def test_a_terminated_builds_process_terminates_the_warm_process(tmp_path: Path) -> None:
    with _command_running(tmp_path / "dbt.sock") as (server, client):
        client.send_signal(signal.SIGTERM)

        assert client.wait(timeout=30) == 2  # the warm process ended without sending an exit status
        assert server.wait(timeout=30) == -signal.SIGTERM


def test_a_killed_builds_process_stops_the_command_in_the_warm_process(tmp_path: Path) -> None:
    with _command_running(tmp_path / "dbt.sock") as (server, client):
        client.kill()

        assert server.wait(timeout=30) == 130


def test_a_warm_process_leaves_after_waiting_idle(tmp_path: Path) -> None:
    path = tmp_path / "dbt.sock"
    server = _server(path, idle_seconds=0.2)

    assert server.wait(timeout=30) == 0
    assert not path.exists()


SILENT_CLIENT = textwrap.dedent(
    """
    import json, os, socket, sys, time
    from partner_center_assets import dbt_warm

    body = json.dumps({"argv": ["x"], "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.connect(sys.argv[1])
    socket.send_fds(connection, [dbt_warm._LENGTH.pack(len(body))], [0, 1, 2])
    connection.sendall(body)
    time.sleep(60)  # never reads the warm process's answer
    """
)


def test_a_build_process_killed_before_reading_the_start_still_stops_the_command(tmp_path: Path) -> None:
    path = tmp_path / "dbt.sock"
    server = _server(path)
    client = subprocess.Popen(
        [sys.executable, "-c", SILENT_CLIENT, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert client.stdout is not None and client.stdout.readline() == "started\n"
        client.kill()

        assert server.wait(timeout=30) == 130
    finally:
        client.kill()
        server.kill()


def test_only_partner_center_dbt_can_be_warm(database_url: str) -> None:
    assert start_ahead(database_url, "dbt", started_by="a test") is None


def test_a_url_dbt_cannot_build_on_starts_nothing() -> None:
    assert start_ahead("duckdb:///:memory:", dbt_build_command(), started_by="a test") is None


def test_starting_again_for_the_same_database_keeps_the_process_waiting_for_its_build(
    database_url: str,
) -> None:
    first = start_ahead(database_url, dbt_build_command(), started_by="partner-center sync")

    again = start_ahead(database_url, dbt_build_command(), started_by="the fetch")

    assert again is first is not None
    assert first.process.poll() is None
    assert dbt_warm.take(dbt_target_env(database_url)[1]) is first


def test_a_warm_process_for_another_database_is_stopped_not_used(database_url: str, tmp_path: Path) -> None:
    warm = start_ahead(database_url, dbt_build_command(), started_by="a test")
    assert warm is not None
    other = f"duckdb:///{tmp_path / 'other.duckdb'}"

    assert dbt_warm.take(dbt_target_env(other)[1]) is None
    assert warm.process.returncode is not None
    assert not warm.folder.exists()


def test_a_parse_that_cannot_be_kept_says_why(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    warm = dbt_warm.start(
        dbt_build_command(), dbt_target_env(database_url)[1], parse_into=tmp_path / "a-file" / "build"
    )
    assert warm is not None

    ran = _as_the_build_runs_it(warm, "--version")

    assert ran.returncode == 0
    assert warm.close() == (True, "not kept: Not a directory")


def test_the_warm_process_dies_with_a_killed_sync_process(database_url: str) -> None:
    script = textwrap.dedent(
        f"""
        import os, sys, time
        from partner_center_assets.dbt_ahead import start_ahead
        from partner_center_assets.dbt_command import dbt_build_command

        warm = start_ahead({database_url!r}, dbt_build_command(), started_by='a test')
        os.write(1, f"{{warm.process.pid}}\\n".encode())
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


def test_no_scratch_folder_starts_nothing_and_fails_nothing(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(*args: object, **kwargs: object) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(dbt_warm.tempfile, "mkdtemp", no_space)

    assert start_ahead(database_url, dbt_build_command(), started_by="a test") is None
