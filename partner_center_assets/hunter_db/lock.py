"""One sync writes at a time, and one dbt_hunter build runs at a time.

PostgreSQL: advisory locks, waited for up to a deadline, then a clear error: transaction-scoped for
the write, session-scoped for the build. DuckDB: the file admits one writing process; inside a
process a lock serialises threads, and a lock file beside the database serialises builds.
"""

from __future__ import annotations

import fcntl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url

from partner_center_assets.hunter_db.engine import create_hunter_engine, is_postgres

ADVISORY_LOCK_KEY = 0x50435359  # "PCSY"
BUILD_LOCK_KEY = 0x50434442  # "PCDB"
_process_lock = threading.Lock()
_build_lock = threading.Lock()


class SyncLockedError(RuntimeError):
    """Another sync holds the write lock."""


def acquire_sync_lock(conn: Connection, *, wait_seconds: float = 300.0, poll_seconds: float = 0.5) -> None:
    """Take the sync lock inside the current transaction, waiting up to ``wait_seconds``."""
    if conn.dialect.name == "postgresql":
        _wait_for(
            _advisory(conn, "pg_try_advisory_xact_lock", ADVISORY_LOCK_KEY),
            wait_seconds,
            poll_seconds,
            f"another Partner Center sync has been writing for more than {wait_seconds:.0f}s; "
            "wait for it to finish (see partner_center_sync_runs) and run again",
        )
        return
    if not _process_lock.acquire(timeout=max(wait_seconds, 0.0)):
        raise SyncLockedError("another Partner Center sync in this process holds the DuckDB database")
    conn.info["partner_center_process_lock"] = True


def release_sync_lock(conn: Connection) -> None:
    """Release what ``acquire_sync_lock`` took outside the transaction (DuckDB only)."""
    if conn.info.pop("partner_center_process_lock", False):
        _process_lock.release()


@contextmanager
def models_build_lock(url: str, *, wait_seconds: float = 900.0, poll_seconds: float = 0.5) -> Iterator[None]:
    """Held while dbt_hunter builds on ``url``: two builds at once race on creating the marts schema
    and replacing the same views, and one of them fails."""
    refusal = (
        f"another dbt_hunter build has been running for more than {wait_seconds:.0f}s; "
        "wait for it to finish and run again"
    )
    parsed = make_url(url)
    if is_postgres(parsed):
        engine = create_hunter_engine(url)
        try:
            with engine.connect() as conn:
                _wait_for(
                    _advisory(conn, "pg_try_advisory_lock", BUILD_LOCK_KEY),
                    wait_seconds,
                    poll_seconds,
                    refusal,
                )
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": BUILD_LOCK_KEY})
                    conn.commit()
        finally:
            engine.dispose()
        return
    database = parsed.database
    if not database or database == ":memory:":
        if not _build_lock.acquire(timeout=wait_seconds):
            raise SyncLockedError(refusal)
        try:
            yield
        finally:
            _build_lock.release()
        return
    lock_path = Path(database).expanduser().with_name(Path(database).name + ".build.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:

        def try_lock() -> bool:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        _wait_for(try_lock, wait_seconds, poll_seconds, refusal)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _advisory(conn: Connection, function: str, key: int) -> Callable[[], bool]:
    """One try at a PostgreSQL advisory lock function, as a callable for :func:`_wait_for`."""
    statement = sa.text(f"SELECT {function}(:key)")
    return lambda: bool(conn.execute(statement, {"key": key}).scalar())


def _wait_for(take: Callable[[], bool], wait_seconds: float, poll_seconds: float, refusal: str) -> None:
    """Call ``take`` until it returns True; past the deadline raise ``SyncLockedError(refusal)``."""
    deadline = time.monotonic() + wait_seconds
    while not take():
        if time.monotonic() >= deadline:
            raise SyncLockedError(refusal)
        time.sleep(poll_seconds)
