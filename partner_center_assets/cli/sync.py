"""``partner-center sync``: run the daily job without the UI, as the schedule does."""

from __future__ import annotations

import click

from partner_center_assets.cli.report import print_summary
from partner_center_assets.cli.runtime import (
    SyncConfigurationError,
    dry_run_sync,
    ensure_dagster_home,
    failure_messages,
    outcome_summary,
    run_daily_job,
    sync_metadata,
)


@click.command("sync")
@click.option(
    "--full-refresh", is_flag=True, help="Read every page (up to MAX_PAGES), ignoring the watermark."
)
@click.option(
    "--dry-run",
    is_flag=True,
    help=(
        "Fetch, normalize and resolve; compute what would change inside a rolled-back "
        "transaction; write no row (pending schema migrations are applied, as by `db upgrade`)."
    ),
)
def sync(full_refresh: bool, dry_run: bool) -> None:
    """Run partner_center_daily_sync now (the same job the daily schedule runs)."""
    home = ensure_dagster_home()
    click.echo(f"Dagster home: {home}")
    try:
        if dry_run:
            result, outcome = dry_run_sync(full_refresh=full_refresh)
            metadata = outcome_summary(outcome) if outcome else {}
        else:
            result = run_daily_job(full_refresh=full_refresh)
            metadata = sync_metadata(result)
    except SyncConfigurationError as exc:
        click.echo(f"FAILED configuration: {exc}", err=True)
        raise SystemExit(1) from None
    if metadata:
        print_summary(metadata, dry_run=dry_run)
    if not result.success:
        for message in failure_messages(result):
            click.echo(f"FAILED {message}", err=True)
        raise SystemExit(1)
    click.echo(f"Run {result.run_id} succeeded.")
