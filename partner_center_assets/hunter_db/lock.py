"""One sync writes at a time.

PostgreSQL: a transaction-scoped advisory lock, waited for up to a deadline, then a clear error.
DuckDB: the file admits one writing process; inside a process a lock serialises threads.
"""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection

ADVISORY_LOCK_KEY = 0x50435359  # "PCSY"
_process_lock = threading.Lock()


class SyncLockedError(RuntimeError):
    """Another sync holds the write lock."""


def acquire_sync_lock(conn: Connection, *, wait_seconds: float = 300.0, poll_seconds: float = 0.5) -> None:
    """Take the sync lock inside the current transaction, waiting up to ``wait_seconds``."""
    deadline = time.monotonic() + wait_seconds
    if conn.dialect.name == "postgresql":
        while True:
            got = conn.execute(sa.text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            if got.scalar():
                return
            if time.monotonic() >= deadline:
                raise SyncLockedError(
                    f"another Partner Center sync has been writing for more than {wait_seconds:.0f}s; "
                    "wait for it to finish (see partner_center_sync_runs) and run again"
                )
            time.sleep(poll_seconds)
    if not _process_lock.acquire(timeout=max(wait_seconds, 0.0)):
        raise SyncLockedError("another Partner Center sync in this process holds the DuckDB database")
    conn.info["partner_center_process_lock"] = True


def release_sync_lock(conn: Connection) -> None:
    """Release what ``acquire_sync_lock`` took outside the transaction (DuckDB only)."""
    if conn.info.pop("partner_center_process_lock", False):
        _process_lock.release()
