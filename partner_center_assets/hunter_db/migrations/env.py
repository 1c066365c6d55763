"""Alembic environment: runs on the connection handed over by ``migrate.upgrade``."""

from __future__ import annotations

from alembic import context

from partner_center_assets.hunter_db.migrate import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table=VERSION_TABLE, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
