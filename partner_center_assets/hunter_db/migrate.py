"""Schema migrations of the Hunter tables, with Alembic, on DuckDB and PostgreSQL.

The migration scripts ship inside the package, so ``partner-center db upgrade`` and the sync job
need no ``alembic.ini`` on disk.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.ddl.impl import DefaultImpl
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "partner_center_alembic_version"


class AlembicDuckDBImpl(DefaultImpl):
    """Teaches Alembic the DuckDB dialect (DDL is transactional there too)."""

    __dialect__ = "duckdb"
    transactional_ddl = True


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head() or ""


def is_known_revision(revision: str) -> bool:
    """Whether ``revision`` is one of this package's migrations (a newer release's is not)."""
    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except Exception:  # Alembic raises several types for an unknown or malformed id
        return False


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it has never been migrated."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Apply pending migrations; returns the revision reached."""
    with engine.begin() as conn:
        command.upgrade(_config(conn), revision)
    return current_revision(engine)


def pending(engine: Engine) -> bool:
    return current_revision(engine) != head_revision()
