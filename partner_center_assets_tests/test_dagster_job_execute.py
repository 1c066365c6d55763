"""``dagster job execute -m partner_center_assets.definitions -j partner_center_daily_sync``, as an
operator runs it: its exit code, its console and what it writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from partner_center_assets.defs.partner_center.events import FETCHED, SUMMARY
from partner_center_assets.emulator import Emulator
from partner_center_assets_tests.pipeline_harness import dagster_job_execute, point_at_emulator

pytest_plugins = ["partner_center_assets_tests.emulator_fixtures"]

PASSWORD = "HUNTER_PARTNER_CENTER_PASSWORD"


@pytest.fixture
def hunter_url(emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in [name for name in os.environ if name.startswith("HUNTER_")]:
        monkeypatch.delenv(name)
    point_at_emulator(monkeypatch, emulator, tmp_path)
    url = f"duckdb:///{tmp_path / 'hunter.duckdb'}"
    monkeypatch.setenv("HUNTER_DATABASE_URL", url)
    return url


def test_a_successful_run_exits_0_with_one_json_event_per_line_on_stdout(hunter_url: str) -> None:
    result = dagster_job_execute()

    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"event"')]
    (summary,) = (event for event in events if event["event"] == SUMMARY)
    pages = [event for event in events if event["event"] == FETCHED]
    engine = sa.create_engine(hunter_url, poolclass=sa.NullPool)
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT count(*) FROM partner_center_referrals").scalar_one()
    engine.dispose()
    assert result.returncode == 0, result.stderr[-3000:]
    assert sum(page["records"] for page in pages) == summary["fetched"] > 0
    assert summary["inserted"] == stored > 0
    assert '"event"' not in result.stderr
    assert "RUN_SUCCESS" in result.stderr


def test_stdout_holds_only_the_structured_events_and_dbt_output_goes_to_stderr(hunter_url: str) -> None:
    result = dagster_job_execute()

    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert result.returncode == 0, result.stderr[-3000:]
    assert lines and all("event" in json.loads(line) for line in lines)
    assert "Running with dbt=" in result.stderr


def test_a_failed_run_exits_non_zero_and_says_why(hunter_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD, "not-the-password")

    result = dagster_job_execute()

    assert result.returncode != 0
    assert "PartnerCenterAuthError" in result.stderr
    assert "not-the-password" not in result.stdout + result.stderr


def test_skips_above_the_error_share_fail_the_run_before_the_dbt_models_are_built(
    hunter_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUNTER_PARTNER_CENTER_SKIPPED_SHARE_ERROR", "0")

    result = dagster_job_execute()

    engine = sa.create_engine(hunter_url, poolclass=sa.NullPool)
    tables = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    assert result.returncode != 0
    assert "skipped_by_reason" in result.stderr
    assert "HUNTER_PARTNER_CENTER_SKIPPED_SHARE_ERROR" in result.stderr
    assert "partner_center_referrals" in tables
    assert not tables & {"referral_funnel", "partner_center_leads", "sync_run_history"}


def test_a_run_config_of_ones_own_keeps_the_events_on_stdout(hunter_url: str, tmp_path: Path) -> None:
    config = tmp_path / "full_refresh.yaml"
    config.write_text("ops:\n  raw_referral_pages:\n    config:\n      full_refresh: true\n")

    result = dagster_job_execute("-c", str(config))

    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert result.returncode == 0, result.stderr[-3000:]
    assert any(json.loads(line)["event"] == SUMMARY for line in lines)
    assert '"event"' not in result.stderr


def test_the_dbt_build_runs_in_the_dbt_process_the_fetch_started(hunter_url: str) -> None:
    result = dagster_job_execute()

    assert result.returncode == 0, result.stderr[-3000:]
    expected = "dbt ran in the warm process started by the fetch: yes; its parse made ahead: adopted"
    assert expected in result.stderr
