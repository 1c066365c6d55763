"""The code location as Dagster loads it: assets, lineage, checks, job and schedule."""

from __future__ import annotations

import importlib
import json

import dagster as dg
import pytest

from partner_center_assets.definitions import defs
from partner_center_assets.defs.dbt_hunter.assets import DbtHunterTranslator
from partner_center_assets.defs.dbt_hunter.project import dbt_hunter_project
from partner_center_assets.defs.partner_center.schedules import DAILY_JOB_NAME, DAILY_SCHEDULE_NAME

PYTHON_KEYS = [
    "raw_referral_pages",
    "normalized_referrals",
    "resolved_referrals",
    "partner_center_referrals",
    "companies",
    "leads",
    "partner_center_lead_links",
    "domain_scan_requests",
    "partner_center_sync_runs",
]


def specs_by_key() -> dict[str, dg.AssetSpec]:
    return {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}


def test_definitions_are_loadable():
    dg.Definitions.validate_loadable(defs)


def test_every_pipeline_asset_is_in_the_partner_center_group_with_kinds_and_a_description():
    specs = specs_by_key()
    for key in PYTHON_KEYS:
        assert specs[key].group_name == "partner_center", key
        assert specs[key].kinds, key
        assert specs[key].description, key


def test_lineage_runs_from_raw_pages_to_the_hunter_tables():
    specs = specs_by_key()

    def upstream(key: str) -> set[str]:
        return {dep.asset_key.to_user_string() for dep in specs[key].deps}

    assert upstream("normalized_referrals") == {"raw_referral_pages"}
    assert upstream("resolved_referrals") == {"normalized_referrals"}
    assert upstream("partner_center_referrals") == {"resolved_referrals"}
    assert "partner_center_referrals" in upstream("partner_center_lead_links")
    assert "partner_center_referrals" in upstream("companies")


def test_dbt_models_sit_downstream_of_the_hunter_tables():
    specs = specs_by_key()
    staging = specs["stg_partner_center_referrals"]
    assert {dep.asset_key.to_user_string() for dep in staging.deps} == {"partner_center_referrals"}
    assert specs["referral_funnel"].group_name == "dbt_hunter"


def test_upserted_referrals_are_late_after_26_hours_without_a_sync():
    policy = specs_by_key()["partner_center_referrals"].freshness_policy
    assert policy is not None
    assert policy.fail_window.to_timedelta().total_seconds() == 26 * 3600


def test_checks_cover_skips_uniqueness_links_and_the_scan_queue():
    names = {key.name for checks in defs.asset_checks or [] for key in checks.check_keys}
    assert {
        "skipped_by_reason",
        "unique_referral_ids",
        "one_link_per_ingested_referral",
        "no_pending_scan_duplicates",
        "max_pages_not_reached",
    } <= names


def test_daily_job_materializes_the_whole_graph_in_process():
    job = defs.resolve_job_def(DAILY_JOB_NAME)
    selected = {key.to_user_string() for key in job.asset_layer.selected_asset_keys}
    assert set(PYTHON_KEYS) <= selected
    assert "referral_funnel" in selected
    assert job.executor_def.name == "in_process"


@pytest.mark.parametrize(
    ("cron", "timezone"), [(None, None), ("30 5 * * 1-5", "Europe/Berlin")], ids=["defaults", "configured"]
)
def test_daily_schedule_takes_cron_and_timezone_from_configuration(monkeypatch, cron, timezone):
    if cron:
        monkeypatch.setenv("HUNTER_PARTNER_CENTER_SYNC_CRON", cron)
        monkeypatch.setenv("HUNTER_PARTNER_CENTER_SYNC_TIMEZONE", timezone)
    from partner_center_assets.defs.partner_center import schedules

    module = importlib.reload(schedules)
    schedule = module.partner_center_daily_schedule
    assert schedule.name == DAILY_SCHEDULE_NAME
    assert schedule.cron_schedule == (cron or "0 6 * * *")
    assert schedule.execution_timezone == (timezone or "UTC")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    monkeypatch.undo()
    importlib.reload(schedules)


@pytest.mark.parametrize(
    ("url", "kind"),
    [("postgresql+psycopg://hunter@db.internal/hunter", "postgres"), ("duckdb:///hunter.duckdb", "duckdb")],
)
def test_dbt_models_show_the_kind_of_the_configured_database(monkeypatch, url, kind):
    monkeypatch.setenv("HUNTER_DATABASE_URL", url)
    manifest = json.loads(dbt_hunter_project.manifest_path.read_text())
    model = "model.dbt_hunter.referral_funnel"

    spec = DbtHunterTranslator().get_asset_spec(manifest, model, dbt_hunter_project)

    assert spec.kinds == {"dbt", kind}
