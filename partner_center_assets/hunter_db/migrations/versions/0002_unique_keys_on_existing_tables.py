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

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UNIQUE_KEYS = (
    ("companies", ("domain",), "ux_companies_domain"),
    ("leads", ("source", "external_id"), "ux_leads_source_external_id"),
)


def _has_unique_key(inspector: sa.Inspector, table: str, columns: tuple[str, ...]) -> bool:
    wanted = set(columns)
    keys = [set(c["column_names"]) for c in inspector.get_unique_constraints(table)]
    keys += [set(i["column_names"]) for i in inspector.get_indexes(table) if i.get("unique")]
    keys.append(set(inspector.get_pk_constraint(table).get("constrained_columns") or ()))
    return wanted in keys


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # an embedded DuckDB file is created by 0001 itself, keys included
    inspector = sa.inspect(bind)
    for table, columns, name in UNIQUE_KEYS:
        present = {column["name"] for column in inspector.get_columns(table)}
        if set(columns) <= present and not _has_unique_key(inspector, table, columns):
            op.create_index(name, table, list(columns), unique=True)
    # A table without the key columns gets them, and then the key, from 0003.


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    inspector = sa.inspect(bind)
    for table, _, name in UNIQUE_KEYS:
        if any(index["name"] == name for index in inspector.get_indexes(table)):
            op.drop_index(name, table_name=table)
