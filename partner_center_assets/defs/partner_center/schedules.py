"""The daily job and its schedule (cron and timezone from the contract's configuration)."""

from __future__ import annotations

import dagster as dg

from partner_center_assets.defs.partner_center.console import CONSOLE_RUN_CONFIG
from partner_center_assets.settings import schedule_settings

DAILY_JOB_NAME = "partner_center_daily_sync"
DAILY_SCHEDULE_NAME = "partner_center_daily_schedule"

partner_center_daily_sync = dg.define_asset_job(
    name=DAILY_JOB_NAME,
    selection=dg.AssetSelection.groups("partner_center", "dbt_hunter"),
    executor_def=dg.in_process_executor,
    description=(
        "Fetch, normalize and resolve referrals, write Hunter's tables, then build the dbt_hunter models."
    ),
    tags={"dagster/max_runtime": str(6 * 3600), "partner_center/sync": "daily"},
    config=CONSOLE_RUN_CONFIG,
)

_cron, _timezone = schedule_settings()

partner_center_daily_schedule = dg.ScheduleDefinition(
    name=DAILY_SCHEDULE_NAME,
    job=partner_center_daily_sync,
    cron_schedule=_cron,
    execution_timezone=_timezone,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily Partner Center referrals sync (HUNTER_PARTNER_CENTER_SYNC_CRON / _SYNC_TIMEZONE).",
)
