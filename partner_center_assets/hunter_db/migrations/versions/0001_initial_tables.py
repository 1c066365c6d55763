"""Initial Hunter tables written by the Partner Center sync.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from partner_center_assets.hunter_db.existing_tables import column_names, ensure_lookup_indexes

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def _seq_id(sequence: str) -> sa.Column:
    return sa.Column("id", sa.BigInteger, server_default=sa.text(f"nextval('{sequence}')"), primary_key=True)


def upgrade() -> None:
    is_postgres = op.get_bind().dialect.name == "postgresql"
    for sequence in ("companies_id_seq", "leads_id_seq", "domain_scan_requests_id_seq"):
        op.execute(sa.schema.CreateSequence(sa.Sequence(sequence), if_not_exists=True))

    op.create_table(
        "partner_center_referrals",
        sa.Column("id", sa.Text, primary_key=True),
        *(
            sa.Column(name, sa.Text)
            for name in (
                "engagement_id",
                "external_reference_id",
                "name",
                "status",
                "substatus",
                "type",
                "qualification",
                "direction",
                "customer_name",
                "customer_country",
            )
        ),
        sa.Column("deal_value", sa.Double),
        sa.Column("currency", sa.Text),
        sa.Column("domain", sa.Text),
        sa.Column("domain_source", sa.Text),
        sa.Column("raw_payload", JSON),
        sa.Column("payload_hash", sa.Text),
        sa.Column("created_at", TS),
        sa.Column("updated_at", TS),
        sa.Column("first_synced_at", TS, nullable=False),
        sa.Column("last_synced_at", TS, nullable=False),
        if_not_exists=True,
    )
    op.create_table(
        "companies",
        _seq_id("companies_id_seq"),
        sa.Column("domain", sa.Text, nullable=False, unique=True),
        sa.Column("name", sa.Text),
        sa.Column("country", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        if_not_exists=True,
    )
    op.create_table(
        "leads",
        _seq_id("leads_id_seq"),
        sa.Column("company_id", sa.BigInteger),
        sa.Column("domain", sa.Text),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("external_id", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("source", "external_id", name="uq_leads_source_external_id"),
        if_not_exists=True,
    )
    op.create_table(
        "partner_center_lead_links",
        sa.Column("referral_id", sa.Text, primary_key=True),
        sa.Column("lead_id", sa.BigInteger, nullable=False),
        sa.Column("link_type", sa.Text, nullable=False),
        sa.Column("linked_at", TS, nullable=False),
        if_not_exists=True,
    )
    op.create_table(
        "domain_scan_requests",
        _seq_id("domain_scan_requests_id_seq"),
        sa.Column("domain", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("referral_id", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("requested_at", TS, nullable=False),
        if_not_exists=True,
    )
    op.create_table(
        "partner_center_sync_runs",
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("fetched", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("inserted", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("updated", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("unchanged", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("skipped", JSON),
        sa.Column("watermark", TS),
        sa.Column("full_refresh", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("pages", sa.BigInteger),
        sa.Column("max_pages_reached", sa.Boolean),
        sa.Column("error", sa.Text),
        if_not_exists=True,
    )
    scans_indexable = {"domain", "status"} <= column_names("domain_scan_requests")
    if is_postgres and scans_indexable and "domain" in column_names("leads"):
        ensure_lookup_indexes()
    # Hunter's own tables without these columns get them, and then these indexes, from 0003.
    op.create_index("ix_partner_center_sync_runs_started_at", "partner_center_sync_runs", ["started_at"])


def downgrade() -> None:
    for table in (
        "partner_center_sync_runs",
        "domain_scan_requests",
        "partner_center_lead_links",
        "leads",
        "companies",
        "partner_center_referrals",
    ):
        op.drop_table(table)
    for sequence in ("domain_scan_requests_id_seq", "leads_id_seq", "companies_id_seq"):
        op.execute(sa.schema.DropSequence(sa.Sequence(sequence)))
