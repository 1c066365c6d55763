"""Shared fixtures: a real PostgreSQL database per test and the DuckDB default.

Postgres runs on 127.0.0.1:5432 (trust auth). A test that needs it fails, never skips, when
``CI=true`` and the server is missing.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from partner_center_assets.dbt_target import DBT_HUNTER_DIR

PG_ADMIN_URL = os.environ.get("HUNTER_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_available() -> str | None:
    try:
        engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure to connect means "not available"
        return f"{type(exc).__name__}: {exc}"


@pytest.fixture(scope="session", autouse=True)
def _remove_dbt_build_folders() -> Iterator[None]:
    """Delete the dbt target folders this session's throwaway databases made (about 3 MB each)."""
    folders = DBT_HUNTER_DIR / "target"
    before = set(folders.glob("build-*"))
    yield
    for folder in set(folders.glob("build-*")) - before:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The admin URL, after checking the server answers (fail under CI, skip elsewhere)."""
    problem = _postgres_available()
    if problem is not None:
        message = f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {problem}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return PG_ADMIN_URL


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    name = f"hunter_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def duckdb_url(tmp_path) -> str:
    """An empty DuckDB file for one test."""
    return f"duckdb:///{tmp_path / 'hunter.duckdb'}"


@pytest.fixture(params=["duckdb", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Both supported databases, one after the other."""
    if request.param == "duckdb":
        return request.getfixturevalue("duckdb_url")
    return request.getfixturevalue("postgres_url")
