"""``partner-center demo``: the whole product against the local emulator, no credentials needed."""

from __future__ import annotations

import os

import click

from partner_center_assets.cli.report import print_summary
from partner_center_assets.cli.runtime import (
    SyncConfigurationError,
    ensure_dagster_home,
    failure_messages,
    run_daily_job,
    sync_metadata,
)
from partner_center_assets.hunter_db.engine import describe
from partner_center_assets.settings import PREFIX, Settings


@click.command("demo")
@click.option("--count", default=250, show_default=True, help="Referrals the emulator generates.")
@click.option("--seed", default=7, show_default=True, help="Seed of the generated data.")
def demo(count: int, seed: int) -> None:
    """Start the emulator with generated referrals and run partner_center_daily_sync on DuckDB."""
    from partner_center_assets.emulator import Emulator

    home = ensure_dagster_home()
    with Emulator(count=count, seed=seed, state_dir=home / "emulator") as emulator:
        os.environ.update(emulator.product_environment())
        os.environ[PREFIX + "REQUESTS_PER_MINUTE"] = "0"
        os.environ[PREFIX + "TOKEN_CACHE"] = str(home / "emulator" / "token_cache.json")
        settings = Settings.from_env()
        click.echo(f"Emulator: {emulator.base_url} ({count} referrals, seed {seed})")
        click.echo(f"Hunter database: {describe(settings.database_url)}")
        try:
            result = run_daily_job()
        except SyncConfigurationError as exc:
            click.echo(f"FAILED configuration: {exc}", err=True)
            raise SystemExit(1) from None
    metadata = sync_metadata(result)
    if metadata:
        print_summary(metadata)
    if not result.success:
        for message in failure_messages(result):
            click.echo(f"FAILED {message}", err=True)
        raise SystemExit(1)
    click.echo(f"Run {result.run_id} succeeded; Dagster home {home}.")
    click.echo("Open the UI on this run's history and lineage with:")
    click.echo(f"  DAGSTER_HOME={home} .venv/bin/dagster dev -w workspace.yaml")
