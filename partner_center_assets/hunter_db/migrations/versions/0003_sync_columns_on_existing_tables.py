"""Columns the sync writes, added to Hunter tables that existed without them.

``companies``, ``leads`` and ``domain_scan_requests`` may be Hunter's own tables from before the
first migration, which left them as they were. Every column the sync reads or writes that such a
table lacks is added here (nullable: rows already there have no value for it), then the unique keys
of 0002 and the PostgreSQL indexes of 0001 are made sure of, for tables that lacked their columns
until now. (Each migration keeps its own copy of what it checks: a migration must not change when
a later one does.)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

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


def _columns(table: str) -> set[str]:
    """Column names of ``table`` (information_schema: DuckDB lacks the catalog SQLAlchemy inspects)."""
    rows = op.get_bind().execute(
        sa.text(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = :table AND table_schema = current_schema()"
        ),
        {"table": table},
    )
    return {row[0] for row in rows}


def upgrade() -> None:
    bind = op.get_bind()
    for table, columns in SYNC_COLUMNS.items():
        present = _columns(table)
        for name, type_ in columns:
            if name not in present:
                op.add_column(table, sa.Column(name, type_, nullable=True))
    if bind.dialect.name != "postgresql":
        return  # DuckDB cannot add a unique index to a table with rows; 0001 made its own tables keyed
    inspector = sa.inspect(bind)
    for table, key, name in UNIQUE_KEYS:
        if not _has_unique_key(inspector, table, key):
            op.create_index(name, table, list(key), unique=True)
    scan_indexes = {index["name"] for index in inspector.get_indexes("domain_scan_requests")}
    if "uq_domain_scan_requests_pending_domain" not in scan_indexes:
        op.create_index(
            "uq_domain_scan_requests_pending_domain",
            "domain_scan_requests",
            ["domain"],
            unique=True,
            postgresql_where=sa.text("status = 'pending'"),
        )
    if "ix_domain_scan_requests_domain" not in scan_indexes:
        op.create_index("ix_domain_scan_requests_domain", "domain_scan_requests", ["domain"])
    op.execute("CREATE INDEX IF NOT EXISTS ix_leads_lower_domain ON leads (lower(domain))")


def downgrade() -> None:
    """Nothing to undo safely: the columns may hold the sync's rows, and Hunter may read them."""
