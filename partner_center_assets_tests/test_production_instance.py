"""The production ``dagster.yaml``: runs, events and check results stored in real PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from partner_center_assets.definitions import defs
from partner_center_assets.defs.partner_center.schedules import DAILY_JOB_NAME
from partner_center_assets.emulator import Emulator
from partner_center_assets_tests.pipeline_harness import PYTHON_ASSETS, point_at_emulator

DEPLOY_CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "dagster.yaml"


@pytest.fixture
def postgres_instance(postgres_url, tmp_path, monkeypatch):
    url = sa.make_url(postgres_url)
    monkeypatch.setenv("DAGSTER_PG_USERNAME", url.username or "postgres")
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", url.password or "")
    monkeypatch.setenv("DAGSTER_PG_HOST", url.host or "127.0.0.1")
    monkeypatch.setenv("DAGSTER_PG_DB", url.database)
    monkeypatch.setenv("DAGSTER_PG_PORT", str(url.port or 5432))
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY_CONFIG, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        yield instance, postgres_url


def test_deploy_config_uses_postgres_storage_and_a_queued_run_coordinator(postgres_instance):
    instance, _ = postgres_instance
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"


def test_deploy_config_lets_one_daily_sync_run_at_a_time(postgres_instance):
    instance, _ = postgres_instance
    limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    job_tags = defs.resolve_job_def(DAILY_JOB_NAME).tags
    assert {"key": "partner_center/sync", "limit": 1} in limits
    assert job_tags["partner_center/sync"] == "daily"


def test_sync_run_its_events_and_check_results_are_stored_in_postgres(
    postgres_instance, tmp_path, monkeypatch
):
    instance, postgres_url = postgres_instance
    hunter_url = f"duckdb:///{tmp_path / 'hunter.duckdb'}"
    monkeypatch.setenv("HUNTER_DATABASE_URL", hunter_url)
    with Emulator(count=60, seed=5) as emulator:
        point_at_emulator(monkeypatch, emulator, Path(instance.root_directory))
        job = defs.resolve_job_def(DAILY_JOB_NAME)
        result = job.execute_in_process(
            instance=instance, asset_selection=[spec.key for a in PYTHON_ASSETS for spec in a.specs]
        )
    assert result.success
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        stored_run = conn.execute(
            sa.text("SELECT status FROM runs WHERE run_id = :id"), {"id": result.run_id}
        )
        assert stored_run.scalar() == "SUCCESS"
        events = conn.execute(
            sa.text("SELECT count(*) FROM event_logs WHERE run_id = :id"), {"id": result.run_id}
        ).scalar()
        assert events > 10
    engine.dispose()
    history = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey("partner_center_referrals"), "skipped_by_reason"), limit=1
    )
    assert history and history[0].run_id == result.run_id
