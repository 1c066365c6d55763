"""``partner-center db``: the Hunter database schema."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from partner_center_assets.hunter_db import migrate
from partner_center_assets.hunter_db.engine import create_hunter_engine, describe
from partner_center_assets.settings import Settings


@click.group("db")
def db() -> None:
    """Manage the Hunter database schema (HUNTER_DATABASE_URL)."""


@contextmanager
def _database(url: str) -> Iterator[Engine]:
    """The engine for ``url``; a database error ends the command with its first line, not a traceback."""
    try:
        engine = create_hunter_engine(url)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield engine
    except sa.exc.SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        first = next((line for line in str(cause).splitlines() if line.strip()), type(cause).__name__)
        raise click.ClickException(f"{describe(url)}: {type(cause).__name__}: {first}") from None
    finally:
        engine.dispose()


@db.command("upgrade")
def upgrade() -> None:
    """Apply pending migrations (the sync job also does this before it writes)."""
    url = Settings.from_env().database_url
    with _database(url) as engine:
        before = migrate.current_revision(engine)
        after = migrate.upgrade(engine)
    click.echo(f"{describe(url)}: {before or 'empty'} -> {after}")


@db.command("current")
def current() -> None:
    """Print the schema revision and whether migrations are pending."""
    url = Settings.from_env().database_url
    with _database(url) as engine:
        revision = migrate.current_revision(engine)
    head = migrate.head_revision()
    state = "up to date" if revision == head else f"pending (head {head})"
    click.echo(f"{describe(url)}: {revision or 'empty'}, {state}")
