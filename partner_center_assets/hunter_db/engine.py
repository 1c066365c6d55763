"""Engines for the Hunter database: embedded DuckDB by default, PostgreSQL in production."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

DUCKDB_MEMORY_LIMIT_VARIABLE = "HUNTER_DUCKDB_MEMORY_LIMIT"
DEFAULT_DUCKDB_MEMORY_LIMIT = "300MB"


def duckdb_config() -> dict[str, object]:
    """DuckDB would otherwise let its buffers grow to 80% of the machine's memory during a merge.

    With 300 MB a sync of 100,000 or 300,000 new referrals merges, and so does one that changes
    every payload of 300,000 stored ones (measured; 250 MB does not). New and changed referrals are
    both written as plain appends (``sync_writer``), which DuckDB moves to the file as they fill;
    updates would stay in memory until the commit. A larger limit merges faster.
    """
    limit = os.environ.get(DUCKDB_MEMORY_LIMIT_VARIABLE, "").strip() or DEFAULT_DUCKDB_MEMORY_LIMIT
    return {"memory_limit": limit, "preserve_insertion_order": False}


def is_duckdb(url: str | sa.URL) -> bool:
    return make_url(url).get_backend_name() == "duckdb"


def is_postgres(url: str | sa.URL) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def create_hunter_engine(url: str) -> Engine:
    """Build an engine for ``HUNTER_DATABASE_URL``.

    DuckDB allows one writing process per file, and dbt runs in a subprocess after the sync, so
    DuckDB connections are not pooled: closing a connection releases the file.
    """
    parsed = parse_database_url(url)
    backend = parsed.get_backend_name()
    if backend == "duckdb":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        return sa.create_engine(parsed, poolclass=NullPool, connect_args={"config": duckdb_config()})
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return sa.create_engine(parsed, pool_pre_ping=True)
    raise ValueError(
        f"HUNTER_DATABASE_URL must be a duckdb:/// or postgresql+psycopg:// URL, not {parsed.drivername!r}"
    )


def parse_database_url(url: str) -> sa.URL:
    """``url`` parsed, or an error that names ``HUNTER_DATABASE_URL`` (never the URL: it may hold a
    password)."""
    try:
        return make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        raise ValueError(
            "HUNTER_DATABASE_URL is not a database URL: use duckdb:///path/to/hunter.duckdb or "
            "postgresql+psycopg://user:password@host:port/database"
        ) from None


class HunterDatabaseUnavailableError(RuntimeError):
    """The Hunter database could not be reached or opened."""


def unavailable(url: str, error: sa.exc.DBAPIError) -> HunterDatabaseUnavailableError:
    """An error naming the database (password hidden) and the driver's first line of explanation."""
    reason = str(error.orig).strip().splitlines()[0] if error.orig is not None else type(error).__name__
    return HunterDatabaseUnavailableError(
        f"Could not open the Hunter database {describe(url)} (HUNTER_DATABASE_URL): {reason}"
    )


def describe(url: str) -> str:
    """The URL without its password, for logs and summaries."""
    return make_url(url).render_as_string(hide_password=True)
