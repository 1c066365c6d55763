"""Running the Partner Center assets against the emulator, for the end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from partner_center_assets.defs.partner_center import assets, checks
from partner_center_assets.defs.partner_center.resources import HunterDatabase, PartnerCenter, SyncStorage
from partner_center_assets.emulator import Emulator
from partner_center_assets.settings import PREFIX

REPO = Path(__file__).resolve().parents[1]

PYTHON_ASSETS = [
    assets.raw_referral_pages,
    assets.normalized_referrals,
    assets.resolved_referrals,
    assets.hunter_tables,
]
CHECKS = [
    checks.skipped_by_reason,
    checks.unique_referral_ids,
    checks.one_link_per_ingested_referral,
    checks.no_pending_scan_duplicates,
    checks.max_pages_not_reached,
]


def point_at_emulator(monkeypatch: pytest.MonkeyPatch, emulator: Emulator, home: Path) -> None:
    """Configure the product, through its environment variables, to use ``emulator``."""
    for name, value in emulator.product_environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(PREFIX + "REQUESTS_PER_MINUTE", "0")
    monkeypatch.setenv(PREFIX + "TOKEN_CACHE", str(home / "token_cache.json"))
    monkeypatch.setenv("DAGSTER_HOME", str(home))


class Pipeline:
    """Materializes the Python assets and their checks, as the daily job does."""

    def __init__(self, database_url: str, staging: Path) -> None:
        self.database_url = database_url
        self.staging = staging
        self.engine = sa.create_engine(database_url, poolclass=sa.NullPool)

    def resources(self) -> dict[str, Any]:
        return {
            "partner_center": PartnerCenter(),
            "hunter_db": HunterDatabase(url=self.database_url),
            "sync_storage": SyncStorage(directory=str(self.staging)),
        }

    def run(
        self,
        *,
        full_refresh: bool = False,
        raise_on_error: bool = True,
        instance: dg.DagsterInstance | None = None,
    ):
        run_config = {"ops": {"raw_referral_pages": {"config": {"full_refresh": full_refresh}}}}
        return dg.materialize(
            [*PYTHON_ASSETS, *CHECKS],
            resources=self.resources(),
            run_config=run_config,
            raise_on_error=raise_on_error,
            instance=instance,
        )

    def rows(self, sql: str) -> list[tuple]:
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql)).all()]

    def scalar(self, sql: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar()

    def state(self) -> dict[str, list[tuple]]:
        """Everything a clean run and a faulty run must agree on (ids assigned by sequences aside)."""
        return {
            "referrals": self.rows(
                "SELECT id, status, substatus, deal_value, currency, domain, payload_hash "
                "FROM partner_center_referrals ORDER BY id"
            ),
            "companies": self.rows("SELECT domain, name, country FROM companies ORDER BY domain"),
            "leads": self.rows("SELECT domain, source, external_id FROM leads ORDER BY source, external_id"),
            "links": self.rows(
                "SELECT k.referral_id, k.link_type, l.external_id FROM partner_center_lead_links k "
                "JOIN leads l ON l.id = k.lead_id ORDER BY k.referral_id"
            ),
            "scans": self.rows(
                "SELECT domain, status, referral_id FROM domain_scan_requests ORDER BY domain"
            ),
            "watermark": self.rows(
                "SELECT MAX(watermark) FROM partner_center_sync_runs WHERE status = 'success'"
            ),
        }

    def close(self) -> None:
        self.engine.dispose()


def metadata_of(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization and materialization.asset_key == dg.AssetKey(asset):
            return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
    raise AssertionError(f"{asset} was not materialized")


def check_result(result: dg.ExecuteInProcessResult, name: str):
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.check_name == name:
            return evaluation
    raise AssertionError(f"check {name} did not run")


@contextmanager
def emulator_running(**kwargs: Any) -> Iterator[Emulator]:
    with Emulator(**kwargs) as emulator:
        yield emulator


def dagster_job_execute(*options: str) -> subprocess.CompletedProcess[str]:
    """`dagster job execute` of the daily job from the repository, as an operator runs it."""
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "job", "execute", "-m", "partner_center_assets.definitions"]
    return subprocess.run(
        [*command, "-j", "partner_center_daily_sync", *options],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
