"""The embedded Dagster instance: Dagster's SQLite files, each run's event log kept open."""

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from partner_center_assets.cli.runtime import ensure_dagster_home
from partner_center_assets.instance_storage import (
    EARLIER_DAGSTER_YAML,
    OPEN_SHARDS,
    PooledSqliteEventLogStorage,
    dagster_yaml,
)


def _line(run_id: str, text: str) -> EventLogEntry:
    return EventLogEntry(
        error_info=None, level=logging.INFO, user_message=text, run_id=run_id, timestamp=time.time()
    )


def _messages(storage: SqliteEventLogStorage, run_id: str) -> list[str]:
    records = storage.get_records_for_run(run_id, limit=10_000).records
    return [record.event_log_entry.user_message for record in records]


def _open_event_logs(base_dir: Path) -> int:
    """Event-log files of ``base_dir`` this process holds open."""
    fds = Path("/proc/self/fd")
    links = {str(fd.readlink()) for fd in fds.iterdir() if fd.is_symlink()}
    return sum(1 for link in links if link.startswith(str(base_dir)) and link.endswith(".db"))


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    return ensure_dagster_home()


def test_a_new_dagster_home_uses_the_pooled_sqlite_storage(home):
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        assert Path(instance.event_log_storage.path_for_shard("x")).parent == home / "history" / "runs"


def test_the_earlier_default_dagster_yaml_is_replaced(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(EARLIER_DAGSTER_YAML, encoding="utf-8")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    ensure_dagster_home()
    assert (home / "dagster.yaml").read_text(encoding="utf-8") == dagster_yaml(home)


def test_a_moved_home_gets_its_dagster_yaml_pointed_at_its_new_place(tmp_path, monkeypatch):
    old, new = tmp_path / "old", tmp_path / "new"
    monkeypatch.setenv("DAGSTER_HOME", str(old))
    ensure_dagster_home()
    old.rename(new)
    monkeypatch.setenv("DAGSTER_HOME", str(new))
    ensure_dagster_home()
    with dg.DagsterInstance.get() as instance:
        assert Path(instance.event_log_storage.path_for_shard("x")).parent == new / "history" / "runs"


def test_a_dagster_yaml_written_by_someone_else_is_left_alone(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    own = "telemetry:\n  enabled: true\n"
    (home / "dagster.yaml").write_text(own, encoding="utf-8")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    ensure_dagster_home()
    assert (home / "dagster.yaml").read_text(encoding="utf-8") == own


def test_a_job_run_on_the_embedded_instance_keeps_its_events(home):
    @dg.op
    def talkative(context: dg.OpExecutionContext) -> None:
        for n in range(50):
            context.log.info(f"line {n}")

    @dg.job
    def chatter() -> None:
        talkative()

    with dg.DagsterInstance.get() as instance:
        result = chatter.execute_in_process(instance=instance)
        logged = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert result.success
    assert [f"line {n}" for n in range(50)] == [m for m in logged if m.startswith("line ")]


def test_events_are_read_by_dagsters_own_sqlite_event_log(tmp_path):
    pooled = PooledSqliteEventLogStorage(str(tmp_path))
    for n in range(20):
        pooled.store_event(_line("run-a", f"line {n}"))
    assert _messages(SqliteEventLogStorage(str(tmp_path)), "run-a") == [f"line {n}" for n in range(20)]


def test_a_log_message_is_stored_as_the_row_dagster_stores(tmp_path):
    entry = EventLogEntry(
        error_info=None,
        level=logging.DEBUG,
        user_message='{"event": "partner_center_referrals_fetched", "page": 1}',
        run_id="run-a",
        timestamp=time.time(),
        step_key="raw_referral_pages",
        job_name="partner_center_daily_sync",
    )
    PooledSqliteEventLogStorage(str(tmp_path / "pooled")).store_event(entry)
    SqliteEventLogStorage(str(tmp_path / "dagster")).store_event(entry)

    def rows(base: Path) -> list[tuple]:
        with sqlite3.connect(base / "run-a.db") as conn:
            return conn.execute(
                "SELECT run_id, event, dagster_event_type, timestamp, step_key, asset_key, partition "
                "FROM event_logs"
            ).fetchall()

    assert rows(tmp_path / "pooled") == rows(tmp_path / "dagster")
    assert len(rows(tmp_path / "pooled")) == 1


def test_events_written_by_another_process_storage_are_read(tmp_path):
    pooled = PooledSqliteEventLogStorage(str(tmp_path))
    pooled.store_event(_line("run-a", "first"))
    SqliteEventLogStorage(str(tmp_path)).store_event(_line("run-a", "from elsewhere"))
    pooled.store_event(_line("run-a", "last"))
    assert _messages(pooled, "run-a") == ["first", "from elsewhere", "last"]


def test_a_wiped_event_log_is_written_again(tmp_path):
    pooled = PooledSqliteEventLogStorage(str(tmp_path))
    pooled.store_event(_line("run-a", "before"))
    pooled.wipe()
    pooled.store_event(_line("run-a", "after"))
    assert _messages(SqliteEventLogStorage(str(tmp_path)), "run-a") == ["after"]


def test_an_event_log_file_removed_underneath_is_created_again(tmp_path):
    pooled = PooledSqliteEventLogStorage(str(tmp_path))
    pooled.store_event(_line("run-a", "before"))
    os.unlink(pooled.path_for_shard("run-a"))
    pooled.store_event(_line("run-a", "after"))
    assert _messages(SqliteEventLogStorage(str(tmp_path)), "run-a") == ["after"]


def test_only_a_few_event_logs_stay_open(tmp_path):
    pooled = PooledSqliteEventLogStorage(str(tmp_path))
    for n in range(OPEN_SHARDS * 3):
        pooled.store_event(_line(f"run-{n}", "line"))
    assert 0 < _open_event_logs(tmp_path) <= OPEN_SHARDS
    pooled.dispose()
    assert _open_event_logs(tmp_path) == 0


def test_events_are_committed_in_wal_mode_without_an_fsync_each(tmp_path):
    pooled = PooledSqliteEventLogStorage(str(tmp_path))
    pooled.store_event(_line("run-a", "line"))
    with pooled._connect("run-a") as conn:
        journal_mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        synchronous = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    assert (journal_mode, synchronous) == ("wal", 1)  # 1 = NORMAL


_STORE_THEN_DIE = """
import logging, os, signal, sys, time
from dagster._core.events.log import EventLogEntry
from partner_center_assets.instance_storage import PooledSqliteEventLogStorage

pooled = PooledSqliteEventLogStorage(sys.argv[1])
for n in range(200):
    pooled.store_event(EventLogEntry(error_info=None, level=logging.INFO, user_message=f"line {n}",
                                     run_id="run-a", timestamp=time.time()))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_every_stored_event_survives_the_process_being_killed(tmp_path):
    killed = subprocess.run([sys.executable, "-c", _STORE_THEN_DIE, str(tmp_path)], check=False)
    assert killed.returncode == -signal.SIGKILL
    assert _messages(SqliteEventLogStorage(str(tmp_path)), "run-a") == [f"line {n}" for n in range(200)]
