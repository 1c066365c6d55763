"""The dbt target and profile variables that point dbt_hunter at the Hunter database.

The pipeline knows its database only as ``HUNTER_DATABASE_URL`` (a SQLAlchemy URL); the dbt profile
``dbt_hunter`` reads plain environment variables instead. This module is the one translation between
the two, so the Python assets and the dbt models always read and write the same database.
"""

from __future__ import annotations

import getpass
import os
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
