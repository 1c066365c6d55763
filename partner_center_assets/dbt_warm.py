"""A dbt process started ahead of a build, that runs the build's dbt command with dbt already loaded.

The warm process (``partner-center-dbt`` with :data:`SERVE_VARIABLE` set) inherits a listening
Unix socket, loads dbt, parses the project ahead when asked to
(:func:`partner_center_assets.dbt_ahead.parse_into`), then waits. When the build's
``partner-center-dbt`` starts, it finds the socket in :data:`WARM_VARIABLE` and hands over its
command line, working folder, environment and standard streams (:func:`run_warm`). The warm
process runs dbt's own command line with them, as the build's process would have, and sends back
the exit status, which the build's process exits with; dagster-dbt reads the same output from the
same pipe. SIGINT and SIGTERM of the build's process are passed on. When the warm process is not
there, or ends before the command starts, the build's process runs dbt itself, as before.

A warm process serves one command, dies with the process that started it, and leaves by itself
after :data:`IDLE_SECONDS` without a command. This module is loaded by every ``partner-center-dbt``,
so it imports nothing heavy.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

PARENT_VARIABLE = "PARTNER_CENTER_DBT_PARENT"
"""When set (to the starting process's pid), this dbt dies with that process: a warm dbt process is
of no use once the sync is gone."""
SERVE_VARIABLE = "PARTNER_CENTER_DBT_SERVE"
"""Set for a warm process: the socket it listens on."""
PARSE_VARIABLE = "PARTNER_CENTER_DBT_PARSE_INTO"
"""Set for a warm process that parses ahead: the build folder its saved parse goes to."""
WARM_VARIABLE = "PARTNER_CENTER_DBT_WARM"
"""Set for a build's ``partner-center-dbt``: the socket of the warm process that runs its command."""
IDLE_SECONDS = 600.0
"""How long a warm process waits for its command before leaving."""
PREPARE_NICENESS = 19
"""Niceness while loading and parsing: only CPU time the sync leaves idle goes to it."""
SOCKET_NAME = "dbt.sock"
SERVED_MARK = "served"
PARSE_OUTCOME = "parse-outcome"

_LENGTH = struct.Struct("!I")
_STARTED = b"S"
_FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


# --- the warm process -----------------------------------------------------------------------------


def serve(
    listener: socket.socket,
    prepare: Callable[[], Callable[[], object]],
    *,
    idle_seconds: float = IDLE_SECONDS,
) -> int:
    """Get the command ready (``prepare()``), then run it for the first caller on ``listener``.

    The socket is bound and listening before this process starts, so a caller that comes early
    waits for the preparation instead of loading dbt a second time. Returns the exit status of the
    command, or 0 when none came.
    """
    path = listener.getsockname()
    with _yielding_cpu():
        command = prepare()
    listener.settimeout(idle_seconds)
    try:
        connection, _ = listener.accept()
    except TimeoutError:
        return 0
    finally:
        listener.close()
        Path(path).unlink(missing_ok=True)
    connection.settimeout(None)
    request, fds = _receive_request(connection)
    Path(path).with_name(SERVED_MARK).touch()
    for fd, standard in zip(fds, (0, 1, 2), strict=True):
        os.dup2(fd, standard)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()  # a TZ of the build's own, as its process would have read it at start
    sys.argv = list(request["argv"])
    connection.sendall(_STARTED)
    # Started with SIGINT ignored (``nohup … &``, some schedulers) or these signals blocked, the command
    # could not be interrupted.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _FORWARDED_SIGNALS)
    finished = threading.Event()
    threading.Thread(target=_pass_on_signals, args=(connection, finished), daemon=True).start()
    try:
        status = _exit_status(command)
    finally:
        finished.set()
    with contextlib.suppress(OSError):  # the build's process may be gone, and its pipe with it
        sys.stdout.flush()
        sys.stderr.flush()
        connection.sendall(_LENGTH.pack(status))
    return status


@contextlib.contextmanager
def _yielding_cpu() -> Iterator[None]:
    """Run the block at the lowest CPU priority, so that the sync's own steps keep their CPUs.

    Back to the normal priority afterwards where the system allows it (raising a priority again
    may need privileges); the command it then runs mostly waits on the database anyway.
    """
    normal = os.getpriority(os.PRIO_PROCESS, 0)
    os.setpriority(os.PRIO_PROCESS, 0, PREPARE_NICENESS)
    try:
        yield
    finally:
        with contextlib.suppress(PermissionError):
            os.setpriority(os.PRIO_PROCESS, 0, normal)


def write_parse_outcome(listener: socket.socket, outcome: str) -> None:
    """Leave what became of the parse made ahead beside the socket, for the sync to log."""
    Path(listener.getsockname()).with_name(PARSE_OUTCOME).write_text(outcome, encoding="utf-8")


def _receive_request(connection: socket.socket) -> tuple[dict, list[int]]:
    message, fds, _, _ = socket.recv_fds(connection, _LENGTH.size, 3)
    if len(message) < _LENGTH.size or len(fds) != 3:
        raise ConnectionError("the build's process sent no command")
    (length,) = _LENGTH.unpack(message)
    return json.loads(_receive_exactly(connection, length)), fds


def _pass_on_signals(connection: socket.socket, finished: threading.Event) -> None:
    """Raise in the main thread each signal the build's process received; when that process is gone,
    interrupt the command and leave 30 s later at the latest.

    The signal goes to the main thread itself, where Python runs signal handlers: sent to the
    process, the kernel could hand it to this thread and leave the main thread's wait uninterrupted.
    """
    main = threading.main_thread().ident
    assert main is not None
    while True:
        try:
            data = connection.recv(1)
        except OSError:  # reset: the build's process died with data of ours unread
            data = b""
        if finished.is_set():
            return
        if not data:
            signal.pthread_kill(main, signal.SIGINT)
            timer = threading.Timer(30.0, os._exit, args=(2,))
            timer.daemon = True
            timer.start()
            return
        signal.pthread_kill(main, data[0])


def _exit_status(command: Callable[[], object]) -> int:
    """The exit status the process would have after ``command()``, as ``sys.exit`` would set it."""
    try:
        command()
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code & 0xFF
        print(exc.code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception:
        traceback.print_exc()
        return 1
    return 0


# --- the build's process ---------------------------------------------------------------------------


def run_warm(path: str, argv: Sequence[str]) -> int | None:
    """Have the warm process at ``path`` run ``argv`` with this process's streams; its exit status.

    None when no warm process took the command (nothing was run): the caller runs it itself.
    """
    try:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.connect(path)
    except OSError:
        return None
    with connection:
        env = {name: value for name, value in os.environ.items() if name != WARM_VARIABLE}
        body = json.dumps({"argv": list(argv), "cwd": os.getcwd(), "env": env}).encode()
        # Forwarders go in before the command can start, and the signals they forward are held
        # until it has started: one that comes meanwhile reaches the command, or, if no warm
        # process takes it, this process's own handlers, as if it had just come.
        previous = {number: signal.signal(number, _forwarder(connection)) for number in _FORWARDED_SIGNALS}
        unheld = signal.pthread_sigmask(signal.SIG_BLOCK, _FORWARDED_SIGNALS)
        taken = False
        try:
            socket.send_fds(connection, [_LENGTH.pack(len(body))], [0, 1, 2])
            connection.sendall(body)
            taken = connection.recv(1) == _STARTED
            if not taken:
                return None
            # Unblocked whatever mask this process was started with: the command must get them.
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _FORWARDED_SIGNALS)
            reply = _receive_exactly(connection, _LENGTH.size)
        except ConnectionError:
            if not taken:
                return None
            print("partner-center-dbt: the dbt process ended without an exit status", file=sys.stderr)
            return 2
        except OSError:
            if not taken:
                return None
            raise
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
            signal.pthread_sigmask(signal.SIG_SETMASK, unheld)
    return _LENGTH.unpack(reply)[0]


def _forwarder(connection: socket.socket) -> Callable[[int, FrameType | None], None]:
    def forward(number: int, frame: FrameType | None) -> None:
        with contextlib.suppress(OSError):  # the dbt process has ended: nothing to interrupt
            connection.send(bytes([number]))

    return forward


def _receive_exactly(connection: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the other process closed the connection")
        data += chunk
    return bytes(data)


# --- the process that starts it ------------------------------------------------------------------------


@dataclass
class WarmDbt:
    """A warm dbt process for one profile environment, until :meth:`close`."""

    profile_env: dict[str, str]
    process: subprocess.Popen[bytes]
    folder: Path
    started_by: str = "this process"
    """What started it, for the sync's log."""
    started_for: int = field(default_factory=os.getpid)
    _closed: tuple[bool, str | None] = (False, None)

    @property
    def socket_path(self) -> str:
        return str(self.folder / SOCKET_NAME)

    def waiting_for(self, profile_env: dict[str, str]) -> bool:
        """Whether this process, started by this one, still waits to run a build with ``profile_env``."""
        return (
            self.profile_env == profile_env
            and self.started_for == os.getpid()
            and self.process.poll() is None
            and not (self.folder / SERVED_MARK).exists()
        )

    def close(self) -> tuple[bool, str | None]:
        """Stop the process unless it has ended and remove its folder: whether it took a command,
        and what became of its parse made ahead (None when it made none). Closing again repeats the
        answer."""
        global _warm
        with _lock:
            if _warm is self:
                _warm = None
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self.folder.exists():
            outcome_file = self.folder / PARSE_OUTCOME
            self._closed = (
                (self.folder / SERVED_MARK).exists(),
                outcome_file.read_text(encoding="utf-8") if outcome_file.exists() else None,
            )
            shutil.rmtree(self.folder, ignore_errors=True)
        return self._closed


_warm: WarmDbt | None = None
_lock = threading.Lock()


def start(
    dbt_command: str,
    profile_env: dict[str, str],
    *,
    parse_into: Path | None = None,
    started_by: str = "this process",
) -> WarmDbt | None:
    """Start a warm process for builds with ``profile_env`` (parsing ahead into ``parse_into``),
    in place of one this process holds for another environment or that has ended; one still waiting
    for these builds is kept. None when it cannot start."""
    global _warm
    with _lock:
        current = _warm
    if current is not None and current.waiting_for(profile_env):
        return current
    discard()
    try:
        folder = Path(tempfile.mkdtemp(prefix="dbt-hunter-warm-"))
    except OSError:
        return None
    listener: socket.socket | None = None
    try:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(folder / SOCKET_NAME))
        listener.listen(1)
        env = {
            **os.environ,
            **profile_env,
            SERVE_VARIABLE: str(listener.fileno()),
            PARENT_VARIABLE: str(os.getpid()),
        }
        env.pop(WARM_VARIABLE, None)
        if parse_into is not None:
            env[PARSE_VARIABLE] = str(parse_into)
        process = subprocess.Popen(
            [dbt_command],
            env=env,
            pass_fds=(listener.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        return None
    finally:
        if listener is not None:
            listener.close()
    warm = WarmDbt(dict(profile_env), process, folder, started_by)
    with _lock:
        _warm = warm
    return warm


def discard() -> None:
    """Stop the warm process this process holds, if any."""
    with _lock:
        warm = _warm
    if warm is not None:
        warm.close()


def take(profile_env: dict[str, str]) -> WarmDbt | None:
    """The warm process this process started for ``profile_env``, if it is still there; the caller
    closes it after the build. One for another environment is stopped."""
    global _warm
    with _lock:
        warm, _warm = _warm, None
    if warm is None:
        return None
    if not warm.waiting_for(profile_env):
        warm.close()
        return None
    return warm
