"""``partner-center db``: the Hunter database schema."""

from __future__ import annotations

import click

from partner_center_assets.hunter_db import migrate
from partner_center_assets.hunter_db.engine import create_hunter_engine, describe
from partner_center_assets.settings import Settings


@click.group("db")
def db() -> None:
    """Manage the Hunter database schema (HUNTER_DATABASE_URL)."""


@db.command("upgrade")
def upgrade() -> None:
    """Apply pending migrations (the sync job also does this before it writes)."""
    url = Settings.from_env().database_url
    engine = create_hunter_engine(url)
    try:
        before = migrate.current_revision(engine)
        after = migrate.upgrade(engine)
    finally:
        engine.dispose()
    click.echo(f"{describe(url)}: {before or 'empty'} -> {after}")


@db.command("current")
def current() -> None:
    """Print the schema revision and whether migrations are pending."""
    url = Settings.from_env().database_url
    engine = create_hunter_engine(url)
    try:
        revision = migrate.current_revision(engine)
    finally:
        engine.dispose()
    head = migrate.head_revision()
    state = "up to date" if revision == head else f"pending (head {head})"
    click.echo(f"{describe(url)}: {revision or 'empty'}, {state}")
