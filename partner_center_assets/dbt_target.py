"""The dbt target and profile variables that point dbt_hunter at the Hunter database.

The pipeline knows its database only as ``HUNTER_DATABASE_URL`` (a SQLAlchemy URL); the dbt profile
``dbt_hunter`` reads plain environment variables instead. This module is the one translation between
the two, so the Python assets and the dbt models always read and write the same database.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import sqlalchemy as sa

from partner_center_assets.settings import default_database_url

DUCKDB_TARGET = "duckdb"
POSTGRES_TARGET = "postgres"

TARGET_VAR = "DBT_HUNTER_TARGET"
SOURCE_SCHEMA_VAR = "DBT_HUNTER_SOURCE_SCHEMA"
DUCKDB_PATH_VAR = "DBT_HUNTER_DUCKDB_PATH"
PG_HOST_VAR = "DBT_HUNTER_PG_HOST"
PG_PORT_VAR = "DBT_HUNTER_PG_PORT"
PG_USER_VAR = "DBT_HUNTER_PG_USER"
PG_DBNAME_VAR = "DBT_HUNTER_PG_DBNAME"
PG_SSLMODE_VAR = "DBT_HUNTER_PG_SSLMODE"
# dbt scrubs the values of DBT_ENV_SECRET_* variables from its logs and artifacts.
PG_PASSWORD_VAR = "DBT_ENV_SECRET_HUNTER_PG_PASSWORD"

PROFILE_VARS = (
    TARGET_VAR,
    SOURCE_SCHEMA_VAR,
    DUCKDB_PATH_VAR,
    PG_HOST_VAR,
    PG_PORT_VAR,
    PG_USER_VAR,
    PG_DBNAME_VAR,
    PG_SSLMODE_VAR,
    PG_PASSWORD_VAR,
)

SOURCE_SCHEMAS = {DUCKDB_TARGET: "main", POSTGRES_TARGET: "public"}

DBT_HUNTER_DIR = Path(__file__).resolve().parents[1] / "dbt_hunter"
"""The dbt project (its ``target-path`` is ``target``, dagster-dbt's default too)."""


def database_url_from_env(environ: Mapping[str, str] | None = None) -> str:
    """``HUNTER_DATABASE_URL``, or the embedded DuckDB default of the contract when it is unset."""
    env = os.environ if environ is None else environ
    return env.get("HUNTER_DATABASE_URL", "").strip() or default_database_url(env)


def dbt_target_env(url: str | None = None) -> tuple[str, dict[str, str]]:
    """Map a SQLAlchemy URL (default: from the environment) to a dbt target and its profile variables.

    Every variable of ``PROFILE_VARS`` that the target does not use is set to ``""`` so that a value
    left in the environment by an earlier run can never leak into this one.

    Raises:
        ValueError: the URL is neither DuckDB on a file nor PostgreSQL (the message never holds the
            password).
    """
    parsed = sa.make_url(url if url is not None else database_url_from_env())
    env = dict.fromkeys(PROFILE_VARS, "")
    backend = parsed.get_backend_name()
    if backend == "duckdb":
        database = parsed.database or ""
        if not database or database == ":memory:":
            raise ValueError(
                "dbt_hunter needs a DuckDB file shared with the sync; an in-memory DuckDB URL cannot be used"
            )
        env[DUCKDB_PATH_VAR] = str(Path(database).expanduser().absolute())
        target = DUCKDB_TARGET
    elif backend == "postgresql":
        query = {key: value if isinstance(value, str) else value[-1] for key, value in parsed.query.items()}
        user = parsed.username or getpass.getuser()
        env[PG_HOST_VAR] = parsed.host or query.get("host", "") or "localhost"
        env[PG_PORT_VAR] = str(parsed.port or query.get("port", "") or 5432)
        env[PG_USER_VAR] = user
        env[PG_DBNAME_VAR] = parsed.database or user
        env[PG_SSLMODE_VAR] = query.get("sslmode", "")
        env[PG_PASSWORD_VAR] = parsed.password or ""
        target = POSTGRES_TARGET
    else:
        raise ValueError(
            f"dbt_hunter runs on DuckDB or PostgreSQL, not {parsed.drivername!r} "
            f"({parsed.render_as_string(hide_password=True)})"
        )
    env[TARGET_VAR] = target
    env[SOURCE_SCHEMA_VAR] = SOURCE_SCHEMAS[target]
    return target, env


def build_target_path(target: str, profile_env: Mapping[str, str]) -> Path:
    """dbt's target folder for the builds on one database (its profile variables, as resolved).

    dbt only reuses its parse (``partial_parse.msgpack``) for the profile it was made with, so a
    folder per database lets every build after the first skip the full parse; dagster-dbt's default,
    a new folder per run, parsed everything every time and left about 3 MB behind on each sync.
    Builds on one database never overlap (``models_build_lock``). The name holds a hash of the
    variables without the password, never their values.
    """
    shown = sorted((name, value) for name, value in profile_env.items() if name != PG_PASSWORD_VAR)
    key = hashlib.sha256(repr(shown).encode("utf-8")).hexdigest()[:16]
    return DBT_HUNTER_DIR / "target" / f"build-{target}-{key}"


def remove_build_target(url: str) -> None:
    """Delete the target folder of the builds on ``url``, for a database that is being dropped."""
    shutil.rmtree(build_target_path(*dbt_target_env(url)), ignore_errors=True)
