"""Columns the sync writes, added to Hunter tables that existed without them.

``companies``, ``leads`` and ``domain_scan_requests`` may be Hunter's own tables from before the
first migration, which left them as they were. Every column the sync reads or writes that such a
table lacks is added here (nullable: rows already there have no value for it), then the unique keys
of 0002 and the PostgreSQL indexes of 0001 are made sure of, for tables that lacked their columns
until now.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from partner_center_assets.hunter_db.existing_tables import (
    column_names,
    ensure_lookup_indexes,
    ensure_unique_keys,
)

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)

SYNC_COLUMNS: dict[str, tuple[tuple[str, sa.types.TypeEngine], ...]] = {
    "companies": (
        ("domain", sa.Text()),
        ("name", sa.Text()),
        ("country", sa.Text()),
        ("created_at", TS),
        ("updated_at", TS),
    ),
    "leads": (
        ("company_id", sa.BigInteger()),
        ("domain", sa.Text()),
        ("source", sa.Text()),
        ("external_id", sa.Text()),
        ("created_at", TS),
        ("updated_at", TS),
    ),
    "domain_scan_requests": (
        ("domain", sa.Text()),
        ("source", sa.Text()),
        ("referral_id", sa.Text()),
        ("status", sa.Text()),
        ("requested_at", TS),
    ),
}


def upgrade() -> None:
    for table, columns in SYNC_COLUMNS.items():
        present = column_names(table)
        for name, type_ in columns:
            if name not in present:
                op.add_column(table, sa.Column(name, type_, nullable=True))
    if op.get_bind().dialect.name != "postgresql":
        return  # DuckDB cannot add a unique index to a table with rows; 0001 made its own tables keyed
    ensure_unique_keys()
    ensure_lookup_indexes()


def downgrade() -> None:
    """Nothing to undo safely: the columns may hold the sync's rows, and Hunter may read them."""
