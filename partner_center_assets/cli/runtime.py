"""What the CLI commands share: the Dagster home and running the daily job in-process."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from partner_center_assets.defs.partner_center.failures import failure_lines
from partner_center_assets.heap import loading_without_collection
from partner_center_assets.hunter_db.engine import create_hunter_engine
from partner_center_assets.hunter_db.sync_writer import SyncOutcome
from partner_center_assets.instance_storage import dagster_yaml, written_by_partner_center
from partner_center_assets.settings import Settings, home_dir
from partner_center_assets.sync_files import SyncFiles
from partner_center_assets.sync_step import write_resolved_referrals

UPSTREAM_ASSETS = ("raw_referral_pages", "normalized_referrals", "resolved_referrals")


def ensure_dagster_home() -> Path:
    """Use ``$DAGSTER_HOME``, or ``./.hunter``, so runs persist and ``dagster dev`` shows them.

    A new home gets the embedded instance's ``dagster.yaml``, and one written for the home's old
    place follows it; a file someone else wrote is left alone.
    """
    home = home_dir().resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    config = home / "dagster.yaml"
    wanted = dagster_yaml(home)
    current = config.read_text(encoding="utf-8") if config.exists() else None
    if current != wanted and (current is None or written_by_partner_center(current)):
        config.write_text(wanted, encoding="utf-8")
    return home


DRY_RUN_TAG = "partner_center/dry_run"


def run_daily_job(
    *, full_refresh: bool = False, only: tuple[str, ...] | None = None, tags: dict[str, str] | None = None
) -> dg.ExecuteInProcessResult:
    """Run ``partner_center_daily_sync`` as the schedule does, or only the assets named in ``only``.

    Raises :class:`SyncConfigurationError` when a setting keeps the job from loading or starting.
    """
    try:
        with loading_without_collection():
            from partner_center_assets.definitions import defs
    except ValueError as exc:  # the schedule's settings are checked when the definitions load
        raise SyncConfigurationError(str(exc)) from exc
    from partner_center_assets.defs.partner_center.console import CONSOLE_RUN_CONFIG
    from partner_center_assets.defs.partner_center.schedules import DAILY_JOB_NAME

    job = defs.resolve_job_def(DAILY_JOB_NAME)
    run_config = {
        **CONSOLE_RUN_CONFIG,
        "ops": {"raw_referral_pages": {"config": {"full_refresh": full_refresh}}},
    }
    selection = [dg.AssetKey(key) for key in only] if only else None
    with _instance() as instance:
        try:
            return job.execute_in_process(
                run_config=run_config,
                instance=instance,
                raise_on_error=False,
                asset_selection=selection,
                tags=tags,
            )
        except dg.DagsterInvalidConfigError as exc:
            raise SyncConfigurationError(_configuration_problem(exc)) from exc


class SyncConfigurationError(Exception):
    """A setting with which the daily job cannot load or start; the message names the variable."""


def _configuration_problem(error: dg.DagsterInvalidConfigError) -> str:
    """The contract's own message for the setting (as ``doctor`` words it), else Dagster's first line."""
    try:
        Settings.from_env()
    except ValueError as exc:
        return str(exc)
    lines = [line.strip() for e in error.errors for line in e.message.splitlines() if line.strip()]
    named = [line for line in lines if "env variable" in line]
    return (named or lines or [str(error)])[0]


@contextmanager
def _instance() -> Iterator[dg.DagsterInstance]:
    """The Dagster instance of ``$DAGSTER_HOME``, its storage created under a file lock.

    Two syncs started at once in a new home would otherwise both create the SQLite tables and
    one would fail with "table runs already exists".
    """
    lock_path = Path(os.environ["DAGSTER_HOME"]) / ".partner_center_instance.lock"
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            instance = dg.DagsterInstance.get()
            instance.get_runs(limit=1)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    with instance:
        yield instance


def dry_run_sync(*, full_refresh: bool = False) -> tuple[dg.ExecuteInProcessResult, SyncOutcome | None]:
    """Fetch, normalize and resolve for real, then run the write in a transaction that is rolled back.

    The Hunter tables are not materialized, so the UI and the freshness policy never mistake a dry
    run for a sync, and the run carries the tag ``partner_center/dry_run: true``.
    """
    result = run_daily_job(full_refresh=full_refresh, only=UPSTREAM_ASSETS, tags={DRY_RUN_TAG: "true"})
    if not result.success:
        return result, None
    engine = create_hunter_engine(Settings.from_env().database_url)
    try:
        outcome, _ = write_resolved_referrals(engine, SyncFiles(), result.run_id, dry_run=True)
    finally:
        engine.dispose()
    return result, outcome


def _plain(value: Any) -> Any:
    if isinstance(value, dg.TimestampMetadataValue):
        try:
            return datetime.fromtimestamp(value.value, UTC).isoformat()
        except (OverflowError, OSError, ValueError):
            return value.value
    return getattr(value, "value", value)


def sync_metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    """The counters the write step recorded on ``partner_center_referrals``."""
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization and materialization.asset_key == dg.AssetKey("partner_center_referrals"):
            return {key: _plain(value) for key, value in materialization.metadata.items()}
    return {}


def outcome_summary(outcome: SyncOutcome) -> dict[str, Any]:
    """The same keys as :func:`sync_metadata`, for a dry run's outcome."""
    from partner_center_assets.defs.partner_center.previews import actions_preview

    return {
        **outcome.counters(),
        "skipped": sum(outcome.skipped.values()),
        "watermark": outcome.watermark.isoformat() if outcome.watermark else "none",
        "preview": actions_preview(outcome.actions),
    }


def failure_messages(result: dg.ExecuteInProcessResult) -> list[str]:
    """One line per cause of a failed run: ERROR checks with their description, failed steps' errors."""
    return failure_lines(result.all_events, result.get_asset_check_evaluations())
