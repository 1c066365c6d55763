"""The Hunter tables this product writes, as SQLAlchemy Core metadata.

Migrations create them; the writer and the checks read column names from here. Text columns are
unbounded ``TEXT`` so that no value from the API can fail a write by its length.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

metadata = sa.MetaData()

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)

companies_id_seq = sa.Sequence("companies_id_seq", metadata=metadata)
leads_id_seq = sa.Sequence("leads_id_seq", metadata=metadata)
domain_scan_requests_id_seq = sa.Sequence("domain_scan_requests_id_seq", metadata=metadata)

partner_center_referrals = sa.Table(
    "partner_center_referrals",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("engagement_id", sa.Text),
    sa.Column("external_reference_id", sa.Text),
    sa.Column("name", sa.Text),
    sa.Column("status", sa.Text),
    sa.Column("substatus", sa.Text),
    sa.Column("type", sa.Text),
    sa.Column("qualification", sa.Text),
    sa.Column("direction", sa.Text),
    sa.Column("customer_name", sa.Text),
    sa.Column("customer_country", sa.Text),
    sa.Column("deal_value", sa.Double),
    sa.Column("currency", sa.Text),
    sa.Column("domain", sa.Text),
    sa.Column("domain_source", sa.Text),
    sa.Column("raw_payload", JSONType),
    sa.Column("payload_hash", sa.Text),
    sa.Column("created_at", Timestamp),
    sa.Column("updated_at", Timestamp),
    sa.Column("first_synced_at", Timestamp, nullable=False),
    sa.Column("last_synced_at", Timestamp, nullable=False),
)

companies = sa.Table(
    "companies",
    metadata,
    sa.Column("id", sa.BigInteger, server_default=sa.text("nextval('companies_id_seq')"), primary_key=True),
    sa.Column("domain", sa.Text, nullable=False, unique=True),
    sa.Column("name", sa.Text),
    sa.Column("country", sa.Text),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

leads = sa.Table(
    "leads",
    metadata,
    sa.Column("id", sa.BigInteger, server_default=sa.text("nextval('leads_id_seq')"), primary_key=True),
    sa.Column("company_id", sa.BigInteger),
    sa.Column("domain", sa.Text),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("external_id", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.UniqueConstraint("source", "external_id", name="uq_leads_source_external_id"),
)

partner_center_lead_links = sa.Table(
    "partner_center_lead_links",
    metadata,
    sa.Column("referral_id", sa.Text, primary_key=True),
    sa.Column("lead_id", sa.BigInteger, nullable=False),
    sa.Column("link_type", sa.Text, nullable=False),
    sa.Column("linked_at", Timestamp, nullable=False),
)

domain_scan_requests = sa.Table(
    "domain_scan_requests",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger,
        server_default=sa.text("nextval('domain_scan_requests_id_seq')"),
        primary_key=True,
    ),
    sa.Column("domain", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("referral_id", sa.Text),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("requested_at", Timestamp, nullable=False),
)

partner_center_sync_runs = sa.Table(
    "partner_center_sync_runs",
    metadata,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("finished_at", Timestamp),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("fetched", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("inserted", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("updated", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("unchanged", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("skipped", JSONType),
    sa.Column("watermark", Timestamp),
    sa.Column("full_refresh", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("pages", sa.BigInteger),
    sa.Column("max_pages_reached", sa.Boolean),
    sa.Column("error", sa.Text),
)

HUNTER_TABLES: tuple[str, ...] = tuple(
    table.name
    for table in (
        partner_center_referrals,
        companies,
        leads,
        partner_center_lead_links,
        domain_scan_requests,
        partner_center_sync_runs,
    )
)
"""The tables one sync writes, in the order it writes them."""

LINK_TYPES = ("linked_existing", "created")
SCAN_STATUSES = ("pending", "in_progress", "done", "failed")
RUN_STATUSES = ("success", "failed")
SCAN_SOURCE = "partner_center"
LEAD_SOURCE = "partner_center"


def table_columns(conn: Connection, table: str) -> list[str]:
    """Column names of ``table`` as it exists, in table order (information_schema: DuckDB lacks the
    catalog SQLAlchemy inspects)."""
    rows = conn.execute(
        sa.text(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = :table AND table_schema = current_schema() ORDER BY ordinal_position"
        ),
        {"table": table},
    )
    return [row[0] for row in rows]
