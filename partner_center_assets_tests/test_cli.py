"""The ``partner-center`` command: its help, ``sync`` against the emulator, and ``db``.

``sync`` runs ``partner_center_daily_sync`` in this process (dbt included, found beside this Python),
on a DuckDB file and a Dagster home of the test's own.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from partner_center_assets.cli import main
from partner_center_assets.cli.runtime import DRY_RUN_TAG
from partner_center_assets.command import _builds_models
from partner_center_assets.emulator import Emulator
from partner_center_assets.hunter_db import migrate
from partner_center_assets.ingest.reasons import SKIP_REASONS
from partner_center_assets_tests.pipeline_harness import point_at_emulator

pytest_plugins = ["partner_center_assets_tests.emulator_fixtures"]
pytestmark = [
    pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:AssetExecutionContext.op is deprecated:DeprecationWarning"),
]

HUNTER_TABLES = (
    "partner_center_referrals",
    "companies",
    "leads",
    "partner_center_lead_links",
    "domain_scan_requests",
    "partner_center_sync_runs",
)
COUNTERS = ("fetched", "inserted", "updated", "unchanged", "skipped")

COMMAND_HELP = {
    (): ["demo", "sync", "login", "doctor", "emulator", "db"],
    ("demo",): ["--count", "--seed", "emulator"],
    ("sync",): ["--full-refresh", "--dry-run", "partner_center_daily_sync"],
    ("login",): ["device code"],
    ("doctor",): ["configuration", "database"],
    ("emulator",): ["--port", "--count", "--data", "--page-size"],
    ("db",): ["upgrade", "current", "HUNTER_DATABASE_URL"],
    ("db", "upgrade"): ["migrations"],
    ("db", "current"): ["revision"],
}


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), prog_name="partner-center")


def counters(output: str) -> dict[str, int]:
    """The counter lines of a sync summary (``  inserted   77``), by name."""
    names = "|".join((*COUNTERS, *SKIP_REASONS))
    return {m[1]: int(m[2]) for m in re.finditer(rf"^\s+({names})\s+(\d+)$", output, re.MULTILINE)}


def row_counts(database_url: str) -> dict[str, int]:
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return {
                t: int(conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar_one()) for t in HUNTER_TABLES
            }
    finally:
        engine.dispose()


@pytest.fixture
def hunter_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A DuckDB file and a Dagster home of this test's own; no other ``HUNTER_`` variable set."""
    for name in [name for name in os.environ if name.startswith("HUNTER_")]:
        monkeypatch.delenv(name)
    url = f"duckdb:///{tmp_path / 'hunter.duckdb'}"
    monkeypatch.setenv("HUNTER_DATABASE_URL", url)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    return url


@pytest.fixture
def on_emulator(
    emulator: Emulator, hunter_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Emulator:
    """The commands pointed at the emulator (250 generated referrals)."""
    point_at_emulator(monkeypatch, emulator, tmp_path)
    return emulator


def discoverable(emulator: Emulator) -> int:
    """Referrals the default filter (Incoming, Active) selects."""
    return sum(
        1 for r in emulator.referrals if r.get("direction") == "Incoming" and r.get("status") == "Active"
    )


@pytest.mark.parametrize("path", list(COMMAND_HELP), ids=lambda path: " ".join(path) or "partner-center")
def test_help_describes_each_command(path: tuple[str, ...]) -> None:
    result = run(*path, "--help")

    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: {' '.join(('partner-center', *path))} ")
    for phrase in COMMAND_HELP[path]:
        assert phrase in result.output


def test_dry_run_prints_what_would_change_and_writes_nothing(on_emulator: Emulator, hunter_url: str) -> None:
    result = run("sync", "--dry-run")

    would = counters(result.output)
    assert result.exit_code == 0, result.output
    assert "Dry run: nothing was written. This sync would have:" in result.output
    assert set(would) == {*COUNTERS, *SKIP_REASONS}
    assert would["fetched"] == discoverable(on_emulator)
    assert would["inserted"] > 0
    assert would["inserted"] + would["skipped"] == would["fetched"]
    assert row_counts(hunter_url) == dict.fromkeys(HUNTER_TABLES, 0)


def test_a_dry_run_is_tagged_as_one_in_dagster(on_emulator: Emulator, hunter_url: str) -> None:
    assert run("sync", "--dry-run").exit_code == 0

    with dg.DagsterInstance.get() as instance:
        (dry,) = instance.get_runs()

    assert dry.tags[DRY_RUN_TAG] == "true"


def test_sync_after_a_dry_run_writes_what_the_dry_run_announced(
    on_emulator: Emulator, hunter_url: str
) -> None:
    would = counters(run("sync", "--dry-run").output)

    result = run("sync")

    did = counters(result.output)
    rows = row_counts(hunter_url)
    assert result.exit_code == 0, result.output
    assert "Sync summary:" in result.output
    assert re.search(r"^Run \S+ succeeded\.$", result.output, re.MULTILINE)
    assert did == would
    assert rows["partner_center_referrals"] == would["inserted"]
    assert rows["partner_center_sync_runs"] == 1
    assert rows["partner_center_lead_links"] == would["inserted"]


def test_db_current_on_a_new_database_reports_pending_migrations(hunter_url: str) -> None:
    result = run("db", "current")

    assert result.exit_code == 0, result.output
    assert f"empty, pending (head {migrate.head_revision()})" in result.output


def test_db_upgrade_then_current_reports_up_to_date(hunter_url: str) -> None:
    head = migrate.head_revision()

    upgraded = run("db", "upgrade")
    current = run("db", "current")

    assert upgraded.exit_code == 0, upgraded.output
    assert f"empty -> {head}" in upgraded.output
    assert current.exit_code == 0, current.output
    assert f"{head}, up to date" in current.output
    assert row_counts(hunter_url) == dict.fromkeys(HUNTER_TABLES, 0)


def test_a_failed_sync_prints_the_cause_not_the_step_wrapper(
    on_emulator: Emulator, hunter_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUNTER_PARTNER_CENTER_PASSWORD", "a-wrong-password")

    result = run("sync")

    assert result.exit_code != 0
    failed = [line for line in result.output.splitlines() if line.startswith("FAILED")]
    assert failed, result.output
    assert "PASSWORD was refused" in failed[0]
    assert "Error occurred while executing" not in failed[0]
    assert "a-wrong-password" not in result.output


def test_a_sync_failed_by_too_many_skips_prints_the_check_and_its_description(
    on_emulator: Emulator, hunter_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUNTER_PARTNER_CENTER_SKIPPED_SHARE_ERROR", "0")

    result = run("sync")

    failed = [line for line in result.output.splitlines() if line.startswith("FAILED")]
    assert result.exit_code != 0
    assert len(failed) == 1, result.output
    assert failed[0].startswith("FAILED check skipped_by_reason on partner_center_referrals: ")
    assert "HUNTER_PARTNER_CENTER_SKIPPED_SHARE_ERROR" in failed[0]


@pytest.mark.parametrize("command", ["current", "upgrade"])
def test_db_commands_report_an_unreachable_database_in_one_line_without_its_password(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUNTER_DATABASE_URL", "postgresql+psycopg://hunter:db-secret-pw@127.0.0.1:1/hunter")

    result = run("db", command)

    assert result.exit_code == 1
    masked = "postgresql+psycopg://hunter:***@127.0.0.1:1/hunter"
    assert result.output.startswith(f"Error: {masked}: OperationalError")
    assert "db-secret-pw" not in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", [("db", "current"), ("db", "upgrade"), ("doctor",)])
def test_a_database_url_that_does_not_parse_is_named_in_one_line_without_echoing_it(
    command: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUNTER_DATABASE_URL", "postgresql+psycopg://hunter:db-secret-pw@127.0.0.1:notaport/x")

    result = run(*command)

    assert result.exit_code == 1
    assert "HUNTER_DATABASE_URL is not a database URL" in result.output
    assert "db-secret-pw" not in result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, ValueError)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("HUNTER_PARTNER_CENTER_MAX_PAGES", "abc", "HUNTER_PARTNER_CENTER_MAX_PAGES must be a whole number"),
        ("HUNTER_PARTNER_CENTER_REFERRAL_DEFAULT_TOP", "2.5", "REFERRAL_DEFAULT_TOP must be a whole number"),
        ("HUNTER_PARTNER_CENTER_SYNC_CRON", "99 6 * * *", "HUNTER_PARTNER_CENTER_SYNC_CRON must be"),
    ],
)
def test_sync_with_a_setting_no_run_can_start_with_prints_one_line_naming_it(
    hunter_url: str, tmp_path: Path, name: str, value: str, message: str
) -> None:
    """In a process of its own: the code location is loaded once per process."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "partner-center"), "sync"],
        env={**os.environ, name: value},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1
    assert len(lines) == 1 and lines[0].startswith("FAILED configuration: ")
    assert message in lines[0]
    assert "Traceback" not in result.stdout + result.stderr


def test_a_sync_builds_the_models_in_the_dbt_process_it_started_before_loading_dagster(
    on_emulator: Emulator, hunter_url: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "partner-center"), "sync"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        (run,) = instance.get_runs(limit=1)
        messages = [entry.user_message for entry in instance.all_logs(run.run_id)]
    assert result.returncode == 0, result.stderr[-3000:]
    expected = (
        "dbt ran in the warm process started by partner-center sync: yes; its parse made ahead: adopted"
    )
    assert expected in messages


@pytest.mark.parametrize(
    ("args", "starts"),
    [
        (["sync"], True),
        (["sync", "--full-refresh"], True),
        (["sync", "--dry-run"], False),
        (["sync", "--help"], False),
        (["demo"], False),
        ([], False),
    ],
)
def test_only_a_sync_that_builds_the_models_starts_dbt_before_loading_dagster(
    args: list[str], starts: bool
) -> None:
    assert _builds_models(args) is starts
