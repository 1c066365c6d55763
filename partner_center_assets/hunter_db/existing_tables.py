"""What migrations need to know of Hunter's tables that may exist before the first one.

``companies``, ``leads`` and ``domain_scan_requests`` can be Hunter's own tables, created without the
columns, unique keys or indexes the sync relies on. The migrations use these idempotent helpers to
add what is missing and leave the rest alone. They run inside a migration (Alembic's ``op``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from partner_center_assets.hunter_db.schema import table_columns

UNIQUE_KEYS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("companies", ("domain",), "ux_companies_domain"),
    ("leads", ("source", "external_id"), "ux_leads_source_external_id"),
)
"""(table, columns, index name): the keys of the sync's ``ON CONFLICT`` clauses."""


def column_names(table: str) -> set[str]:
    """Column names of ``table`` as it exists."""
    return set(table_columns(op.get_bind(), table))


def _has_unique_key(inspector: sa.Inspector, table: str, columns: tuple[str, ...]) -> bool:
    wanted = set(columns)
    keys = [set(c["column_names"]) for c in inspector.get_unique_constraints(table)]
    keys += [set(i["column_names"]) for i in inspector.get_indexes(table) if i.get("unique")]
    keys.append(set(inspector.get_pk_constraint(table).get("constrained_columns") or ()))
    return wanted in keys


def ensure_unique_keys() -> None:
    """PostgreSQL: a unique index on each of :data:`UNIQUE_KEYS` whose table has the columns and no
    such key yet; rows that already break one make it fail, naming the duplicated key."""
    inspector = sa.inspect(op.get_bind())
    for table, columns, name in UNIQUE_KEYS:
        if set(columns) <= column_names(table) and not _has_unique_key(inspector, table, columns):
            op.create_index(name, table, list(columns), unique=True)


def ensure_lookup_indexes() -> None:
    """PostgreSQL: one pending scan request per domain, and the domain lookups of the link step."""
    op.execute(
        "CREATE UNIQUE INDEX IF NOT EXISTS uq_domain_scan_requests_pending_domain "
        "ON domain_scan_requests (domain) WHERE status = 'pending'"
    )
    op.execute("CREATE INDEX IF NOT EXISTS ix_domain_scan_requests_domain ON domain_scan_requests (domain)")
    op.execute("CREATE INDEX IF NOT EXISTS ix_leads_lower_domain ON leads (lower(domain))")
