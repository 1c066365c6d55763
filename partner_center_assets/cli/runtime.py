"""What the CLI commands share: the Dagster home and running the daily job in-process."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg

from partner_center_assets.settings import home_dir


def ensure_dagster_home() -> Path:
    """Use ``$DAGSTER_HOME``, or ``./.hunter``, so runs persist and ``dagster dev`` shows them."""
    home = home_dir().resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    return home


def run_daily_job(*, full_refresh: bool = False, dry_run: bool = False) -> dg.ExecuteInProcessResult:
    """Run ``partner_center_daily_sync`` as the schedule does (a dry run stops before dbt)."""
    from partner_center_assets.definitions import defs
    from partner_center_assets.defs.partner_center.assets import PIPELINE_ASSETS
    from partner_center_assets.defs.partner_center.schedules import DAILY_JOB_NAME

    job = defs.resolve_job_def(DAILY_JOB_NAME)
    run_config: dict[str, Any] = {
        "ops": {
            "raw_referral_pages": {"config": {"full_refresh": full_refresh}},
            "hunter_tables": {"config": {"dry_run": dry_run}},
        }
    }
    selection = [dg.AssetKey(key) for key in PIPELINE_ASSETS] if dry_run else None
    with dg.DagsterInstance.get() as instance:
        return job.execute_in_process(
            run_config=run_config, instance=instance, raise_on_error=False, asset_selection=selection
        )


def sync_metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    """The counters the write step recorded on ``partner_center_referrals``."""
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization and materialization.asset_key == dg.AssetKey("partner_center_referrals"):
            return {key: getattr(value, "value", value) for key, value in materialization.metadata.items()}
    return {}


def failure_messages(result: dg.ExecuteInProcessResult) -> list[str]:
    messages = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            messages.append(f"{event.step_key}: {event.step_failure_data.error.message.strip()}")
    return messages
