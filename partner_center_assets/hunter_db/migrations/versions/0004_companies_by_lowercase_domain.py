"""Companies looked up by lowercase domain.

The link step matches a referral's domain to a stored company in any case, since other writers of
``companies`` may keep ``Contoso.com``; on PostgreSQL an index on ``lower(domain)`` serves that lookup.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INDEX = "ix_companies_lower_domain"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON companies (lower(domain))")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {INDEX}")
