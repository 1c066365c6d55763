"""What the benchmark and the reliability suite share.

Both drive the product the way an operator does: the emulator runs in its own process
(``partner-center emulator``), each sync is a child process of its own (so its peak RSS is its own,
read from ``wait4``), and every sync writes a throwaway database. Also here: the Hunter state a sync
leaves, in a form two runs can be compared by, and the sync without dbt that the fast reliability
cases use (dbt costs ~15 s per run whatever the data, and touches no Hunter table).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from partner_center_assets.dbt_target import remove_build_target
from partner_center_assets.defs.partner_center.events import SUMMARY as SUMMARY_EVENT
from partner_center_assets.hunter_db.schema import HUNTER_TABLES
from partner_center_assets.settings import PREFIX

REPO_DIR = Path(__file__).resolve().parent.parent
BIN_DIR = Path(sys.executable).parent
PARTNER_CENTER = str(BIN_DIR / "partner-center")
PG_ADMIN_URL = os.environ.get("HUNTER_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

CLI_SYNC = [PARTNER_CENTER, "sync"]
SYNC_WITHOUT_DBT = [sys.executable, "-c", "import bench, sys; sys.exit(bench.sync_without_dbt(sys.argv[1:]))"]


# --- child processes ---------------------------------------------------------------------------


@dataclass
class ChildResult:
    """How one child process ended, what it printed (stdout and stderr, merged) and what it cost."""

    argv: list[str]
    returncode: int
    seconds: float
    peak_rss_mb: float
    output: list[str]
    killed: bool = False
    line_times: list[float] = field(default_factory=list)
    rss_samples: list[tuple[float, float]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.output)

    def peak_rss_by_step(self) -> dict[str, float]:
        """The child's own largest sampled RSS (MB) while each Dagster step ran, from the times its
        step start and finish lines arrived."""
        spans: dict[str, list[float]] = {}
        for line, at in zip(self.output, self.line_times, strict=False):
            match = _STEP_LINE.search(line)
            if match:
                spans.setdefault(match.group(2) or match.group(3), []).append(at)
        peaks = {}
        for step, times in spans.items():
            begin, end = times[0], times[-1] if len(times) > 1 else self.seconds
            inside = [mb for at, mb in self.rss_samples if begin <= at <= end]
            if inside:
                peaks[step] = max(inside)
        return peaks

    def events(self, name: str) -> list[dict[str, Any]]:
        """The structured events ``name`` the child logged (one JSON object per log line)."""
        return [event for line in self.output if (event := parse_event(line, name)) is not None]

    def summary(self) -> dict[str, Any] | None:
        found = self.events(SUMMARY_EVENT)
        return found[-1] if found else None

    def failure_lines(self) -> list[str]:
        return [line for line in self.output if line.startswith("FAILED ")]


_STEP_LINE = re.compile(r'(Started|Finished) execution of step "([^"]+)"|Execution of step "([^"]+)" failed')


def parse_event(line: str, name: str | None = None) -> dict[str, Any] | None:
    """The JSON event on a log line, if it holds one (and it is ``name``, when given)."""
    start = line.find('{"event"')
    if start < 0:
        return None
    try:
        event = json.loads(line[start:])
    except ValueError:
        return None
    if not isinstance(event, dict) or (name is not None and event.get("event") != name):
        return None
    return event


class Child:
    """A running child process in its own session; ``wait()`` gives its :class:`ChildResult`.

    ``watch`` sees every output line as it arrives and may call :meth:`kill`. Peak RSS is the
    child's ``ru_maxrss`` from ``wait4``: the largest of the child and the descendants it waited for.
    With ``sample_rss`` the child's own RSS is also read from ``/proc`` ten times a second.
    """

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        *,
        cwd: Path = REPO_DIR,
        watch: Callable[[str, Child], None] | None = None,
        timeout: float | None = None,
        sample_rss: bool = False,
    ) -> None:
        self.argv = argv
        self.output: list[str] = []
        self.line_times: list[float] = []
        self.rss_samples: list[tuple[float, float]] = []
        self.killed = False
        self._watch = watch
        self._started = time.monotonic()
        self.process = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pid = self.process.pid
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._sampler: threading.Thread | None = None
        if sample_rss:
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()
        self._timer: threading.Timer | None = None
        if timeout is not None:
            self._timer = threading.Timer(timeout, self.kill_tree)
            self._timer.daemon = True
            self._timer.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.line_times.append(time.monotonic() - self._started)
            self.output.append(line)
            if self._watch is not None and not self.killed:
                self._watch(line, self)

    def _sample(self) -> None:
        status = Path(f"/proc/{self.pid}/status")
        while self.running():
            try:
                text = status.read_text()
            except OSError:
                return
            match = re.search(r"^VmRSS:\s+(\d+) kB", text, re.MULTILINE)
            if match:
                self.rss_samples.append((time.monotonic() - self._started, int(match.group(1)) / 1024.0))
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the child itself (not its own children), as an OOM kill or a crash would."""
        if not self.killed:
            self.killed = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def kill_tree(self) -> None:
        self.killed = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)

    def running(self) -> bool:
        """Whether the child is still running, without reaping it (``wait`` does that)."""
        try:
            status = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return False
        return status is None

    def wait(self) -> ChildResult:
        _, status, usage = os.wait4(self.pid, 0)
        seconds = time.monotonic() - self._started
        self.process.returncode = os.waitstatus_to_exitcode(status)
        if self._timer is not None:
            self._timer.cancel()
        if self.killed:
            # What the killed sync left running (dbt) goes too: the whole process tree crashed.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
        self._reader.join(timeout=30)
        if self._sampler is not None:
            self._sampler.join(timeout=5)
        return ChildResult(
            argv=self.argv,
            returncode=self.process.returncode,
            seconds=seconds,
            peak_rss_mb=usage.ru_maxrss / 1024.0,
            output=list(self.output),
            killed=self.killed and self.process.returncode == -signal.SIGKILL,
            line_times=list(self.line_times),
            rss_samples=list(self.rss_samples),
        )


def run_child(argv: list[str], env: dict[str, str], **options: Any) -> ChildResult:
    return Child(argv, env, **options).wait()


def sync_without_dbt(argv: list[str]) -> int:
    """``partner_center_daily_sync`` without its dbt step, in this process (the fast reliability cases).

    The same job, resources, checks and Dagster instance as ``partner-center sync``; only the dbt
    assets are left out of the selection, as the CLI's own dry run does.
    """
    from partner_center_assets.cli.report import print_summary
    from partner_center_assets.cli.runtime import (
        ensure_dagster_home,
        failure_messages,
        run_daily_job,
        sync_metadata,
    )
    from partner_center_assets.defs.partner_center.assets import PIPELINE_ASSETS

    ensure_dagster_home()
    result = run_daily_job(full_refresh="--full-refresh" in argv, only=PIPELINE_ASSETS)
    metadata = sync_metadata(result)
    if metadata:
        print_summary(metadata)
    if not result.success:
        for message in failure_messages(result):
            print(f"FAILED {message}", file=sys.stderr)
        return 1
    print(f"Run {result.run_id} succeeded.")
    return 0


# --- the emulator in its own process -----------------------------------------------------------


class EmulatorProcess:
    """``partner-center emulator`` in a child process, steered through its ``/_emulator/`` endpoints."""

    def __init__(self, state_dir: Path, *, page_size: int = 100, token_lifetime: int = 3600) -> None:
        self.state_dir = state_dir
        self.page_size = page_size
        self.token_lifetime = token_lifetime
        self.exports: dict[str, str] = {}
        self.process: subprocess.Popen[bytes] | None = None
        self._session = requests.Session()

    def start(self, timeout: float = 60.0) -> EmulatorProcess:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.state_dir / "emulator.log"
        log = log_path.open("wb")
        self.process = subprocess.Popen(
            [
                PARTNER_CENTER,
                "emulator",
                "--port",
                "0",
                "--count",
                "0",
                "--quiet",
                "--state-dir",
                str(self.state_dir),
                "--page-size",
                str(self.page_size),
                "--token-lifetime",
                str(self.token_lifetime),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=REPO_DIR,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = log_path.read_text(encoding="utf-8", errors="replace")
            if "Press Ctrl-C" in text:
                for line in text.splitlines():
                    match = re.match(r"\s*export (\w+)=(.*)$", line)
                    if match:
                        self.exports[match.group(1)] = shlex.split(match.group(2))[0]
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"the emulator exited at start:\n{text}")
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the emulator did not start in time")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self._session.close()

    def __enter__(self) -> EmulatorProcess:
        return self if self.process is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return self.exports[PREFIX + "BASE_URL"]

    @property
    def ca_path(self) -> str:
        return self.exports[PREFIX + "CA_BUNDLE"]

    @property
    def credentials(self) -> dict[str, str]:
        """The emulator's sign-in values (client secret, user, password) as it printed them."""
        return {name[len(PREFIX) :]: value for name, value in self.exports.items() if name.startswith(PREFIX)}

    def product_env(self) -> dict[str, str]:
        """The contract variables that point the product at this emulator."""
        return {name: value for name, value in self.exports.items() if name.startswith(PREFIX)}

    def admin(self, method: str, endpoint: str, payload: Any = None) -> Any:
        response = self._session.request(
            method,
            f"{self.base_url}/_emulator/{endpoint}",
            data=json.dumps(payload).encode("utf-8") if payload is not None else None,
            headers={"Content-Type": "application/json"},
            timeout=600,
            verify=self.ca_path,
        )
        if response.status_code >= 400:
            raise RuntimeError(f"emulator {method} {endpoint}: {response.status_code} {response.text[:300]}")
        return response.json()

    def load(self, referrals: Iterable[dict[str, Any]], *, chunk: int = 5000) -> int:
        """Replace the emulator's referrals, sent in chunks so neither side holds them all as JSON."""
        batch: list[dict[str, Any]] = []
        first = True
        count = 0
        for referral in referrals:
            batch.append(referral)
            if len(batch) >= chunk:
                count = self.admin("PUT" if first else "POST", "referrals", batch)["count"]
                first, batch = False, []
        if batch or first:
            count = self.admin("PUT" if first else "POST", "referrals", batch)["count"]
        return count

    def upsert(self, referrals: list[dict[str, Any]]) -> int:
        return self.admin("POST", "referrals", referrals)["count"]

    def add_faults(self, faults: list[dict[str, Any]]) -> None:
        if faults:
            self.admin("POST", "faults", faults)

    def clear_faults(self) -> None:
        self.admin("DELETE", "faults")

    def pending_faults(self) -> list[dict[str, Any]]:
        return self.admin("GET", "faults")["faults"]

    def requests(self) -> list[dict[str, Any]]:
        return self.admin("GET", "requests")

    def api_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests() if r["path"].startswith("/v1.0/engagements/referrals")]

    def reset_requests(self) -> None:
        self.admin("DELETE", "requests")

    def expire_tokens(self) -> None:
        self.admin("POST", "tokens/expire")

    def user_token(self) -> str:
        """An App+User access token by the password grant (for clients other than the product)."""
        creds = self.credentials
        response = self._session.post(
            f"{creds['AUTHORITY_HOST']}/{creds['TENANT_ID']}/oauth2/v2.0/token",
            data={
                "grant_type": "password",
                "client_id": creds["CLIENT_ID"],
                "client_secret": creds.get("CLIENT_SECRET", ""),
                "username": creds["USERNAME"],
                "password": creds["PASSWORD"],
                "scope": "https://api.partner.microsoft.com/.default offline_access openid profile",
            },
            timeout=60,
            verify=self.ca_path,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])


def discoverable(
    referrals: Iterable[dict[str, Any]], direction: str = "Incoming"
) -> Iterator[dict[str, Any]]:
    """Generated referrals made to match the discovery filter (Incoming, New or Active).

    The generator's realistic mix has a quarter closed and a sixth outgoing; a benchmark of N
    referrals must read N referrals, so closed ones become active and every one incoming.
    """
    for referral in referrals:
        referral["direction"] = direction
        if referral.get("status") == "Closed":
            referral["status"], referral["substatus"] = "Active", "Accepted"
            referral["statusReason"] = None
            referral["closedDateTime"] = None
        yield referral


# --- the product's environment -----------------------------------------------------------------


def product_env(
    emulator: EmulatorProcess | None, home: Path, database_url: str, **overrides: str
) -> dict[str, str]:
    """The environment of one sync: this emulator, this Dagster home, this database, no pacing."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("HUNTER_") and name not in ("DAGSTER_HOME", "REQUESTS_CA_BUNDLE")
    }
    if emulator is not None:
        env.update(emulator.product_env())
    env.update(
        {
            "DAGSTER_HOME": str(home),
            "HUNTER_DATABASE_URL": database_url,
            PREFIX + "REQUESTS_PER_MINUTE": "0",
            PREFIX + "MAX_PAGES": "100000",
            PREFIX + "REFERRAL_DEFAULT_STATUS": "New,Active",
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_DIR), env.get("PYTHONPATH", "")) if p),
            "PYTHONUNBUFFERED": "1",
            "NO_COLOR": "1",
        }
    )
    env.update(overrides)
    home.mkdir(parents=True, exist_ok=True)
    return env


# --- throwaway databases -----------------------------------------------------------------------


class PostgresDatabase:
    """A fresh PostgreSQL database on the test server, dropped by :meth:`drop`."""

    kind = "postgres"

    def __init__(self, prefix: str, *, password: str | None = None) -> None:
        self.name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        admin_url = sa.make_url(PG_ADMIN_URL)
        self._admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
        with self._admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
        target = admin_url.set(database=self.name)
        if password is not None:
            target = target.set(password=password)
        self.url = target.render_as_string(hide_password=False)
        self.plain_url = admin_url.set(database=self.name).render_as_string(hide_password=False)

    @property
    def conninfo(self) -> str:
        """The database as a libpq URI, for psycopg."""
        return sa.make_url(self.plain_url).set(drivername="postgresql").render_as_string(hide_password=False)

    @staticmethod
    def admin_conninfo() -> str:
        return sa.make_url(PG_ADMIN_URL).set(drivername="postgresql").render_as_string(hide_password=False)

    def engine(self, **options: Any) -> sa.Engine:
        return sa.create_engine(self.plain_url, poolclass=sa.NullPool, **options)

    def drop(self) -> None:
        with self._admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self._admin.dispose()
        remove_build_target(self.url)


class DuckDBDatabase:
    """A DuckDB file that does not exist yet."""

    kind = "duckdb"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"duckdb:///{path}"
        self.plain_url = self.url

    def engine(self, **options: Any) -> sa.Engine:
        return sa.create_engine(self.url, poolclass=sa.NullPool, **options)

    def drop(self) -> None:
        for suffix in ("", ".wal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        remove_build_target(self.url)


Database = PostgresDatabase | DuckDBDatabase


# --- the Hunter state --------------------------------------------------------------------------

STATE_QUERIES = {
    "referrals": (
        "SELECT id, status, substatus, deal_value, currency, domain, payload_hash "
        "FROM partner_center_referrals ORDER BY id"
    ),
    "companies": "SELECT domain, name, country FROM companies ORDER BY domain",
    "leads": "SELECT domain, source, external_id FROM leads ORDER BY source, external_id",
    "links": (
        "SELECT k.referral_id, k.link_type, l.external_id FROM partner_center_lead_links k "
        "LEFT JOIN leads l ON l.id = k.lead_id ORDER BY k.referral_id"
    ),
    "scans": (
        "SELECT domain, source, status, referral_id FROM domain_scan_requests ORDER BY domain, referral_id"
    ),
    "watermark": "SELECT MAX(watermark) FROM partner_center_sync_runs WHERE status = 'success'",
}


def hunter_state(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Everything two runs over the same data must agree on (ids given out by sequences aside)."""
    engine = database.engine()
    try:
        with engine.connect() as conn:
            exists = sa.inspect(conn).has_table("partner_center_referrals")
            if not exists:
                return {name: [] for name in STATE_QUERIES}
            return {
                name: [_plain_row(row) for row in conn.execute(sa.text(sql)).all()]
                for name, sql in STATE_QUERIES.items()
            }
    finally:
        engine.dispose()


def _plain_row(row: Iterable[Any]) -> tuple[Any, ...]:
    values = []
    for value in row:
        if hasattr(value, "isoformat") and getattr(value, "tzinfo", 1) is None:
            value = value.isoformat() + "+00:00"
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        values.append(value)
    return tuple(values)


def table_counts(database: Database) -> dict[str, int]:
    engine = database.engine()
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("partner_center_referrals"):
                return dict.fromkeys(HUNTER_TABLES, 0)
            return {
                t: int(conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar_one()) for t in HUNTER_TABLES
            }
    finally:
        engine.dispose()


@dataclass
class StateDiff:
    """How a state differs from the reference: rows missing, rows beyond it, watermark."""

    lost: dict[str, int] = field(default_factory=dict)
    extra: dict[str, int] = field(default_factory=dict)
    watermark_ok: bool = True
    examples: list[str] = field(default_factory=list)

    @property
    def rows_lost(self) -> int:
        return sum(self.lost.values())

    @property
    def rows_duplicated(self) -> int:
        return sum(self.extra.values())

    @property
    def equal(self) -> bool:
        return not self.rows_lost and not self.rows_duplicated and self.watermark_ok

    def describe(self) -> str:
        if self.equal:
            return "state equals the clean run's"
        parts = [f"{table}: {n} lost" for table, n in self.lost.items() if n]
        parts += [f"{table}: {n} extra/duplicated" for table, n in self.extra.items() if n]
        if not self.watermark_ok:
            parts.append("watermark differs")
        return "; ".join(parts) + (f" (e.g. {self.examples[0]})" if self.examples else "")


def compare_state(
    reference: dict[str, list[tuple[Any, ...]]], got: dict[str, list[tuple[Any, ...]]]
) -> StateDiff:
    diff = StateDiff()
    for table, rows in reference.items():
        if table == "watermark":
            diff.watermark_ok = got.get(table) == rows
            continue
        want, have = Counter(rows), Counter(got.get(table, []))
        lost, extra = want - have, have - want
        diff.lost[table] = sum(lost.values())
        diff.extra[table] = sum(extra.values())
        for row in list(lost)[:1]:
            diff.examples.append(f"{table} missing {row!r}"[:300])
        for row in list(extra)[:1]:
            diff.examples.append(f"{table} extra {row!r}"[:300])
    return diff
