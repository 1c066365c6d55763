"""Unique keys the sync's upserts rely on, added to Hunter tables that existed without them.

``companies`` and ``leads`` belong to Hunter: when they were there before the first migration,
0001 left them as they were, and the sync's ``ON CONFLICT (domain)`` and
``ON CONFLICT (source, external_id)`` need a unique key on exactly those columns. Rows that
already break one make this migration fail, naming the duplicated key, before any sync runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from partner_center_assets.hunter_db.existing_tables import UNIQUE_KEYS, ensure_unique_keys

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # an embedded DuckDB file is created by 0001 itself, keys included
    ensure_unique_keys()  # a table without the key columns gets them, and then the key, from 0003


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    inspector = sa.inspect(bind)
    for table, _, name in UNIQUE_KEYS:
        if any(index["name"] == name for index in inspector.get_indexes(table)):
            op.drop_index(name, table_name=table)
