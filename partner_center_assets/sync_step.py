"""The write step of a sync, from the files of the upstream assets to the Hunter database.

Shared by the ``hunter_tables`` asset and ``partner-center sync --dry-run``, which runs the same
write inside a transaction that is rolled back.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from partner_center_assets.hunter_db.sync_writer import (
    SyncOutcome,
    SyncRunInfo,
    record_failed_run,
    write_sync,
)
from partner_center_assets.sync_files import FetchSummary, SyncFiles


def write_resolved_referrals(
    engine: Engine, files: SyncFiles, run_id: str, *, dry_run: bool = False
) -> tuple[SyncOutcome, FetchSummary]:
    """Apply the latest resolved referrals; a failed real write is recorded as a failed sync."""
    summary = files.read_summary()
    started = datetime.fromisoformat(summary.started_at) if summary.started_at else datetime.now(UTC)
    run = SyncRunInfo(
        run_id=run_id,
        started_at=started,
        full_refresh=summary.full_refresh,
        pages=summary.pages,
        max_pages_reached=summary.max_pages_reached,
    )
    files.require(files.resolved, "resolved_referrals")
    try:
        outcome = write_sync(engine, files.resolved, run, dry_run=dry_run)
    except Exception as exc:
        if not dry_run:
            record_failed_run(engine, run, f"{type(exc).__name__}: {exc}", fetched=summary.records)
        raise
    return outcome, summary
