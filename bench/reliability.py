"""The reliability suite: faults, crashes, database failures, concurrency, secrets and hostile input.

Every case runs the product as an operator does: ``partner-center emulator`` in its own process,
each sync a child process on a throwaway PostgreSQL database, and compares the Hunter tables with
those a clean run leaves. The fast mode (the default, also run by pytest in CI) covers each case
once, with the sync minus its dbt step; ``--long`` runs the full ``partner-center sync``, the whole
fault matrix, at least 20 crashes and the heavier variants.

    .venv/bin/python -m bench.reliability [--long] [--seed 7] [--only crash_safety,secrets]

It prints one line per case, then one figure per line, and exits 1 on any lost or duplicated row,
any leaked secret, or any case whose expectation failed.
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import random
import re
import shutil
import string
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import psycopg
import sqlalchemy as sa
from cryptography.fernet import Fernet

from bench import (
    CLI_SYNC,
    REPO_DIR,
    SYNC_WITHOUT_DBT,
    Child,
    ChildResult,
    Database,
    DuckDBDatabase,
    EmulatorProcess,
    PostgresDatabase,
    compare_state,
    discoverable,
    hunter_state,
    product_env,
    table_counts,
)
from partner_center_assets.defs.partner_center.events import FETCHED as FETCHED_EVENT
from partner_center_assets.emulator import iter_referrals

LATER = "2026-01-0{day}T00:{minute:02d}:{second:02d}.1234567Z"
SKIP_KEYS = (
    "skipped_invalid_payload",
    "skipped_duplicate",
    "skipped_direction_not_incoming",
    "skipped_status_not_allowed",
    "skipped_substatus_excluded",
    "skipped_no_domain",
)


# --- results -----------------------------------------------------------------------------------


@dataclass
class Figures:
    """The suite's figures; each case adds its own."""

    faults_injected: int = 0
    faults_survived: int = 0
    crashes: int = 0
    converged: int = 0
    database_faults: int = 0
    database_faults_clean: int = 0
    concurrent_syncs: int = 0
    concurrent_correct: int = 0
    hostile_records: int = 0
    hostile_accounted: int = 0
    poison_pages: int = 0
    poison_survived: int = 0
    rows_lost: int = 0
    rows_duplicated: int = 0
    secrets_checked: int = 0
    secrets_leaked: int = 0

    def add(self, other: Figures) -> None:
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))


@dataclass
class CaseResult:
    """One case: its figures, what failed (empty when it passed) and what is worth knowing anyway."""

    name: str
    figures: Figures = field(default_factory=Figures)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures


# --- the suite's fixtures ----------------------------------------------------------------------


def _later(index: int) -> str:
    """Distinct timestamps after every generated one, so changed referrals lead the newest-first order."""
    return LATER.format(day=1 + index // 3600, minute=(index // 60) % 60, second=index % 60)


def changes_for(v1: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """A later day at the API: some referrals updated, some closed, some new (all newer than v1)."""
    rng = random.Random(seed + 1)
    open_incoming = [r for r in v1 if r["direction"] == "Incoming" and r["status"] in ("New", "Active")]
    picked = rng.sample(open_incoming, 90)
    changed: list[dict[str, Any]] = []
    for index, referral in enumerate(picked):
        item = copy.deepcopy(referral)
        if index < 60:
            item["status"], item["substatus"] = "Active", "Accepted"
            item["details"]["dealValue"] = round(float(item["details"]["dealValue"]) + 1000.0, 2)
        else:
            item["status"], item["substatus"] = "Closed", "Won"
            item["closedDateTime"] = _later(index)
        item["updatedDateTime"] = _later(index)
        changed.append(item)
    for index, item in enumerate(discoverable(iter_referrals(40, seed + 1000)), start=len(changed)):
        item["updatedDateTime"] = _later(index)
        changed.append(item)
    return changed


class Suite:
    """The emulator, the data (v1 and a later v2), the clean-run reference states, throwaway databases."""

    def __init__(self, workdir: Path, *, long: bool = False, seed: int = 7, count: int = 2400) -> None:
        self.workdir = workdir
        self.long = long
        self.seed = seed
        self.rng = random.Random(seed)
        self.sync_argv = CLI_SYNC if long else SYNC_WITHOUT_DBT
        self.emulator = EmulatorProcess(workdir / "emulator")
        self.v1 = list(iter_referrals(count, seed))
        self.changes = changes_for(self.v1, seed)
        self.reference_v1: dict[str, list[tuple[Any, ...]]] = {}
        self.reference_v2: dict[str, list[tuple[Any, ...]]] = {}
        self.pages = 0
        self.v2_pages = 0
        self.clean_seconds = 0.0
        self._databases: list[Database] = []
        self._homes = 0
        self._outputs = 0

    # lifecycle

    def setup(self) -> None:
        self.emulator.start()
        self.load_v1()
        db = self.postgres("rel_reference")
        home = self.home("reference")
        self.emulator.reset_requests()
        first = self.sync(db, home)
        if first.returncode != 0:
            raise RuntimeError("the clean reference sync failed:\n" + "\n".join(first.output[-40:]))
        self.clean_seconds = first.seconds
        self.pages = len(self.emulator.api_requests())
        self.reference_v1 = hunter_state(db)
        self.emulator.upsert(self.changes)
        self.emulator.reset_requests()
        second = self.sync(db, home)
        if second.returncode != 0:
            raise RuntimeError("the clean incremental sync failed:\n" + "\n".join(second.output[-40:]))
        self.v2_pages = len(self.emulator.api_requests())
        self.reference_v2 = hunter_state(db)
        self.load_v1()
        self.drop(db)

    def close(self) -> None:
        self.emulator.stop()
        for db in list(self._databases):
            self.drop(db)

    def load_v1(self) -> None:
        self.emulator.clear_faults()
        self.emulator.load(self.v1)

    def load_v2(self) -> None:
        self.emulator.upsert(self.changes)

    # databases and homes

    def postgres(
        self, label: str, *, migrated: bool = False, password: str | None = None
    ) -> PostgresDatabase:
        db = PostgresDatabase(f"bench_{label}", password=password)
        self._databases.append(db)
        if migrated:
            migrate_database(db)
        return db

    def duckdb(self, label: str) -> DuckDBDatabase:
        db = DuckDBDatabase(self.home(label) / "hunter.duckdb")
        self._databases.append(db)
        return db

    def drop(self, db: Database) -> None:
        if db in self._databases:
            self._databases.remove(db)
        db.drop()

    def home(self, label: str) -> Path:
        self._homes += 1
        path = self.workdir / f"home-{self._homes:03d}-{label}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    # syncs

    def env(self, db: Database, home: Path, **overrides: str) -> dict[str, str]:
        """The product's environment; per-referral debug events are off (each costs a stored Dagster
        event, ~2.5 s per sync at the default 1,000) except where a case turns them on."""
        return product_env(
            self.emulator, home, db.url, **{"HUNTER_PARTNER_CENTER_REFERRAL_EVENT_LIMIT": "0", **overrides}
        )

    def start_sync(
        self,
        db: Database,
        home: Path,
        *,
        watch: Callable[[str, Child], None] | None = None,
        argv: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> Child:
        return Child(argv or self.sync_argv, env or self.env(db, home), watch=watch, timeout=900)

    def sync(self, db: Database, home: Path, **options: Any) -> ChildResult:
        """One sync to its end; its output is kept beside its Dagster home (see ``--keep``)."""
        result = self.start_sync(db, home, **options).wait()
        self.keep_output(home, result)
        return result

    def keep_output(self, home: Path, result: ChildResult) -> None:
        self._outputs += 1
        log = home.parent / f"{home.name}-output-{self._outputs:03d}.log"
        log.write_text(result.text, encoding="utf-8", errors="replace")

    def finish(self, child: Child, home: Path) -> ChildResult:
        result = child.wait()
        self.keep_output(home, result)
        return result

    def converge(
        self, db: Database, home: Path, reference: dict[str, list[tuple[Any, ...]]]
    ) -> tuple[bool, str, Any]:
        """One more plain sync; True when it succeeds and leaves exactly the clean-run state."""
        result = self.sync(db, home)
        diff = compare_state(reference, hunter_state(db))
        if result.returncode != 0:
            return False, "the next sync failed: " + _last_failure(result), diff
        return diff.equal, diff.describe(), diff


def migrate_database(db: Database) -> None:
    """``partner-center db upgrade``, in process, so tables exist before a sync is started."""
    from partner_center_assets.hunter_db import migrate
    from partner_center_assets.hunter_db.engine import create_hunter_engine

    engine = create_hunter_engine(db.plain_url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()


_EXCEPTION_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Shutdown|Exit))\b: ")


def _last_failure(result: ChildResult) -> str:
    """The root cause of a failed sync: the last exception line that is not Dagster's own wrapper."""
    causes = [
        line.strip()
        for line in result.output
        if (match := _EXCEPTION_LINE.match(line)) and not match.group(1).startswith("dagster.")
    ]
    lines = causes or result.failure_lines() or result.output
    return (lines[-1] if lines else "(no output)")[:400]


# --- ways to stop a sync at a chosen point -----------------------------------------------------


def kill_on_event(event: str, nth: int) -> Callable[[str, Child], None]:
    seen = [0]

    def watch(line: str, child: Child) -> None:
        if f'"event": "{event}"' in line:
            seen[0] += 1
            if seen[0] >= nth:
                child.kill()

    return watch


def kill_after_step_start(step: str, delay: float) -> Callable[[str, Child], None]:
    def watch(line: str, child: Child) -> None:
        if f'Started execution of step "{step}"' in line:
            timer = threading.Timer(delay, child.kill)
            timer.daemon = True
            timer.start()

    return watch


DBT_RESULT = re.compile(r"^\d+ of \d+ (?:OK|PASS|WARN|ERROR|FAIL)\b")
"""A line dbt prints when one of its models, snapshots or tests has finished."""
DBT_KILL_RESULTS = 40
"""The dbt kill comes after 1 to this many of dbt_hunter's 53 results, well before its last."""


def kill_on_dbt_result(nth: int) -> Callable[[str, Child], None]:
    """Kill once dbt has finished ``nth`` nodes: inside the dbt step however fast the machine is."""
    seen = [0]

    def watch(line: str, child: Child) -> None:
        if DBT_RESULT.match(line.strip()):
            seen[0] += 1
            if seen[0] >= nth:
                child.kill()

    return watch


def kill_after(delay: float) -> Callable[[str, Child], None]:
    started = [False]

    def watch(line: str, child: Child) -> None:
        if not started[0]:
            started[0] = True
            timer = threading.Timer(delay, child.kill)
            timer.daemon = True
            timer.start()

    return watch


@contextmanager
def table_lock(db: PostgresDatabase, table: str) -> Iterator[psycopg.Connection[Any]]:
    """Hold a SHARE lock on ``table``: reads go on, the sync's first write to it waits."""
    conn = psycopg.connect(db.conninfo)
    try:
        conn.execute(f"LOCK TABLE {table} IN SHARE MODE")
        yield conn
    finally:
        conn.rollback()
        conn.close()


@contextmanager
def advisory_lock(db: PostgresDatabase) -> Iterator[psycopg.Connection[Any]]:
    """Hold the sync lock itself: the sync's write step waits at its start."""
    from partner_center_assets.hunter_db.lock import ADVISORY_LOCK_KEY

    conn = psycopg.connect(db.conninfo, autocommit=True)
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        yield conn
    finally:
        conn.close()


def blocked_writer(db: PostgresDatabase, table: str, child: Child, timeout: float = 300.0) -> int | None:
    """The backend of the sync once it waits for our lock on ``table`` (None if it never does)."""
    return _poll_backend(
        db,
        child,
        "wait_event_type = 'Lock' AND (query ILIKE %s OR query ILIKE %s OR query ILIKE %s)",
        (f"INSERT INTO {table}%", f"UPDATE {table}%", f'COPY "{table}"%'),
        timeout,
        pause=0.02,
    )


def active_statement(db: PostgresDatabase, pattern: str, child: Child, timeout: float = 300.0) -> int | None:
    """The backend of the sync while it runs a statement like ``pattern`` (polled tightly)."""
    return _poll_backend(db, child, "state = 'active' AND query ILIKE %s", (pattern,), timeout, pause=0.0)


def _poll_backend(
    db: PostgresDatabase,
    child: Child,
    condition: str,
    params: tuple[str, ...],
    timeout: float,
    *,
    pause: float,
) -> int | None:
    """The pid of the first backend of ``db`` meeting ``condition``, while ``child`` runs."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(PostgresDatabase.admin_conninfo(), autocommit=True) as conn:
        while time.monotonic() < deadline and child.running():
            row = conn.execute(
                f"SELECT pid FROM pg_stat_activity WHERE datname = %s AND {condition} LIMIT 1",
                (db.name, *params),
            ).fetchone()
            if row is not None:
                return int(row[0])
            if pause:
                time.sleep(pause)
    return None


# --- fault matrix ------------------------------------------------------------------------------


def _at(after: int, faults: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**fault, "after": after} for fault in faults]


FAST_CHAIN = [
    {"kind": "drop"},
    {"kind": "malformed"},
    {"kind": "status", "status": 429, "retry_after": 1, "count": 2},
    {"kind": "status", "status": 503, "retry_after": 0},
    {"kind": "expire_token"},
]
FAULT_KINDS: dict[str, list[dict[str, Any]]] = {
    "429 storm (Retry-After: 1)": [{"kind": "status", "status": 429, "retry_after": 1, "count": 5}],
    "5xx burst (500, 502, 503, 504)": [{"kind": "status", "status": s} for s in (500, 502, 503, 504)],
    "dropped connections x3": [{"kind": "drop", "count": 3}],
    "token expiry": [{"kind": "expire_token"}],
    "malformed pages x3": [{"kind": "malformed", "count": 3}],
}


def _fault_count(faults: list[dict[str, Any]]) -> int:
    return sum(int(fault.get("count", 1)) for fault in faults)


def fault_matrix(suite: Suite) -> CaseResult:
    """Faults at the first, a middle and the last page; each run must end in the clean-run state."""
    case = CaseResult("fault_matrix")
    positions = {"first": 0, "middle": suite.pages // 2, "last": suite.pages - 1}
    runs: list[tuple[str, list[dict[str, Any]], Callable[[str, Child], None] | None]] = []
    for where, after in positions.items():
        if suite.long:
            for kind, faults in FAULT_KINDS.items():
                runs.append((f"{kind} at the {where} page", _at(after, faults), None))
        else:
            runs.append(
                (f"drop+malformed+429x2+503+expired token at the {where} page", _at(after, FAST_CHAIN), None)
            )
    if suite.long:
        token_path = f"/{suite.emulator.credentials['TENANT_ID']}/oauth2/v2.0/token"
        runs.append(
            (
                "token expiry whose refresh meets a 503 from the identity platform",
                [
                    {"kind": "expire_token", "after": positions["middle"]},
                    {
                        "kind": "status",
                        "status": 503,
                        "retry_after": 0,
                        "path_prefix": token_path,
                        "after": 1,
                    },
                ],
                None,
            )
        )
        middle = positions["middle"]

        def expire_mid_stream(line: str, child: Child) -> None:
            if f'"event": "{FETCHED_EVENT}"' in line and f'"page": {middle},' in line:
                suite.emulator.expire_tokens()

        runs.append(("every access token expired mid-stream by the identity platform", [], expire_mid_stream))
        runs.append(
            (
                "a 503 from the identity platform at sign-in",
                [{"kind": "status", "status": 503, "retry_after": 0, "path_prefix": token_path}],
                None,
            )
        )
    for label, faults, watch in runs:
        injected = _fault_count(faults) or 1
        db = suite.postgres("rel_faults")
        home = suite.home("faults")
        suite.emulator.clear_faults()
        suite.emulator.add_faults(faults)
        result = suite.sync(db, home, watch=watch)
        pending = suite.emulator.pending_faults()
        suite.emulator.clear_faults()
        diff = compare_state(suite.reference_v1, hunter_state(db))
        case.figures.faults_injected += injected
        if result.returncode == 0 and diff.equal and not pending:
            case.figures.faults_survived += injected
        elif result.returncode != 0:
            never = f" ({len(pending)} fault(s) left unfired)" if pending else ""
            case.failures.append(f"{label}: the sync failed{never}: {_last_failure(result)}")
        elif pending:
            case.failures.append(f"{label}: {len(pending)} fault(s) never fired")
        else:
            case.failures.append(f"{label}: {diff.describe()}")
        if result.returncode != 0:
            converged, detail, diff = suite.converge(db, home, suite.reference_v1)
            if not converged:
                case.failures.append(f"{label}, then a plain sync: {detail}")
        case.figures.rows_lost += diff.rows_lost
        case.figures.rows_duplicated += diff.rows_duplicated
        suite.drop(db)
    if suite.long:
        _exhausted_retries(suite, case, positions["middle"])
    return case


def _exhausted_retries(suite: Suite, case: CaseResult, after: int) -> None:
    """More failures than the retry budget: the run fails clearly, writes nothing, the next converges."""
    db = suite.postgres("rel_exhausted")
    home = suite.home("exhausted")
    suite.emulator.add_faults(
        [{"kind": "status", "status": 503, "retry_after": 0, "count": 6, "after": after}]
    )
    result = suite.sync(db, home)
    suite.emulator.clear_faults()
    counts = table_counts(db)
    written = sum(n for table, n in counts.items() if table != "partner_center_sync_runs")
    cause = _last_failure(result)
    clear = "503" in cause and "attempts" in cause
    if result.returncode == 0 or written or not clear:
        case.failures.append(
            f"retry budget exhausted: exit {result.returncode}, {written} row(s) written, message: {cause}"
        )
    converged, detail, diff = suite.converge(db, home, suite.reference_v1)
    case.figures.rows_lost += diff.rows_lost
    case.figures.rows_duplicated += diff.rows_duplicated
    if not converged:
        case.failures.append(f"retry budget exhausted, then: {detail}")
    case.notes.append(f"retry budget exhausted: failed with {cause!r}")
    suite.drop(db)


# --- crash safety ------------------------------------------------------------------------------

POSTGRES_PHASES = ("fetch", "normalize", "resolve", "staging", "merge", "links", "commit")
CLI_PHASES = ("dbt", "anytime")


@dataclass
class CrashPlan:
    phase: str
    scenario: str = "v1"  # v1: the first sync of an empty database; v2: an incremental sync
    kills: int = 1
    database: str = "postgres"


def crash_plans(suite: Suite) -> list[CrashPlan]:
    if not suite.long:
        return [CrashPlan("fetch"), CrashPlan("staging"), CrashPlan("merge", "v2"), CrashPlan("links")]
    rng = suite.rng
    plans = [CrashPlan(phase) for phase in (*POSTGRES_PHASES, *CLI_PHASES)]
    plans += [CrashPlan(phase, "v2") for phase in ("fetch", "merge", "links", "commit")]
    while len(plans) < 22:
        phase = rng.choice((*POSTGRES_PHASES, *CLI_PHASES))
        plans.append(CrashPlan(phase, rng.choice(("v1", "v1", "v2")), kills=rng.choice((1, 1, 2))))
    plans += [
        CrashPlan(phase, database="duckdb") for phase in ("fetch", "resolve", "write", "dbt", "anytime")
    ]
    return plans


def crash_safety(suite: Suite) -> CaseResult:
    """SIGKILL at chosen points, then one plain sync: it must reach the clean-run state."""
    case = CaseResult("crash_safety")
    kill_points: Counter[str] = Counter()
    for plan in crash_plans(suite):
        if plan.database == "duckdb":
            db: Database = suite.duckdb("crash")
        else:
            db = suite.postgres("rel_crash", migrated=True)
        home = suite.home(f"crash-{plan.phase}")
        reference = suite.reference_v1
        label = (
            f"{plan.phase} ({plan.database}, {'first sync' if plan.scenario == 'v1' else 'incremental sync'})"
        )
        if plan.scenario == "v2":
            reference = suite.reference_v2
            first = suite.sync(db, home)
            if first.returncode != 0:
                case.failures.append(f"{label}: the sync before the crash failed: {_last_failure(first)}")
                suite.drop(db)
                continue
            suite.load_v2()
        crashes = 0
        for _ in range(plan.kills):
            killed, where = crash_sync(suite, db, home, plan.phase, plan.scenario)
            if killed:
                crashes += 1
                kill_points[f"{where} ({plan.database}, {plan.scenario})"] += 1
            else:
                case.notes.append(f"{label}: {where}")
        case.figures.crashes += crashes
        converged, detail, diff = suite.converge(db, home, reference)
        case.figures.rows_lost += diff.rows_lost
        case.figures.rows_duplicated += diff.rows_duplicated
        if converged:
            case.figures.converged += crashes
        else:
            case.failures.append(f"killed during {label} x{crashes}: {detail}")
        if plan.scenario == "v2":
            suite.load_v1()
        suite.drop(db)
    case.notes.append(
        "killed while " + ", ".join(f"{where} x{n}" for where, n in sorted(kill_points.items()))
    )
    return case


def crash_sync(suite: Suite, db: Database, home: Path, phase: str, scenario: str) -> tuple[bool, str]:
    """Start a sync and SIGKILL it in ``phase``; returns whether it was killed and where."""
    rng = suite.rng
    pages = suite.pages if scenario == "v1" else max(suite.v2_pages - 1, 1)
    if isinstance(db, PostgresDatabase) and phase in ("merge", "links", "commit"):
        table = {
            "merge": "partner_center_referrals",
            "links": rng.choice(("companies", "partner_center_lead_links", "domain_scan_requests")),
            "commit": "partner_center_sync_runs",
        }[phase]
        with table_lock(db, table):
            child = suite.start_sync(db, home)
            if blocked_writer(db, table, child) is not None:
                child.kill()
        result = suite.finish(child, home)
        if result.killed:
            return True, f"writing {table}"
        return False, f"its write to {table} never waited (exit {result.returncode})"
    if isinstance(db, PostgresDatabase) and phase == "staging":
        where = "copying the batch into the staging table"
        with table_lock(db, "partner_center_referrals"):
            child = suite.start_sync(db, home)
            if active_statement(db, 'COPY "pc_stage"%', child) is None:
                where = "merging (the staging COPY was over before it was seen)"
                blocked_writer(db, "partner_center_referrals", child)
            child.kill()
        result = suite.finish(child, home)
        return result.killed, where if result.killed else "staging was not seen"
    if phase == "fetch":
        page = rng.randint(1, pages)
        watch, where = kill_on_event(FETCHED_EVENT, page), f"fetching (after page {page})"
    elif phase == "dbt":
        nth = rng.randint(1, DBT_KILL_RESULTS)
        watch, where = kill_on_dbt_result(nth), f"in dbt (after {nth} of its results)"
    elif phase in ("normalize", "resolve", "write"):
        step, longest = {
            "normalize": ("normalized_referrals", 0.3),
            "resolve": ("resolved_referrals", 0.3),
            "write": ("hunter_tables", 1.5),
        }[phase]
        delay = rng.uniform(0.0, longest)
        watch, where = kill_after_step_start(step, delay), f"in step {step}"
    else:
        delay = rng.uniform(1.0, max(suite.clean_seconds, 2.0))
        watch, where = kill_after(delay), "at a random moment"
    result = suite.sync(db, home, watch=watch)
    if result.killed:
        return True, where
    return False, f"the sync ended (exit {result.returncode}) before the kill point"


# --- database faults ---------------------------------------------------------------------------


def _names_connection_loss(line: str) -> bool:
    text = line.lower()
    return (
        "terminating connection" in text or "adminshutdown" in text or "server closed the connection" in text
    )


def database_faults(suite: Suite) -> CaseResult:
    """``pg_terminate_backend`` of the writer mid-transaction: a clear failure, nothing partial."""
    case = CaseResult("database_faults")
    plans = [("partner_center_referrals", "v1")]
    if suite.long:
        plans += [("leads", "v1"), ("partner_center_sync_runs", "v1"), ("partner_center_referrals", "v2")]
    for table, scenario in plans:
        db = suite.postgres("rel_dbfault", migrated=True)
        home = suite.home("dbfault")
        reference = suite.reference_v1
        label = f"terminated while writing {table} ({'first' if scenario == 'v1' else 'incremental'} sync)"
        if scenario == "v2":
            reference = suite.reference_v2
            if suite.sync(db, home).returncode != 0:
                case.failures.append(f"{label}: the sync before the fault failed")
                suite.drop(db)
                continue
            suite.load_v2()
        before = hunter_state(db)
        terminated = False
        with table_lock(db, table) as lock:
            child = suite.start_sync(db, home)
            pid = blocked_writer(db, table, child)
            if pid is not None:
                lock.execute("SELECT pg_terminate_backend(%s)", (pid,))
                terminated = True
        result = suite.finish(child, home)
        case.figures.database_faults += 1
        after = hunter_state(db)
        untouched = compare_state(before, after)
        message = _last_failure(result)
        cause = next((line for line in result.output if _names_connection_loss(line)), None)
        if cause is not None and not any(_names_connection_loss(line) for line in result.failure_lines()):
            case.notes.append(
                f"{label}: the cause is in the run's log ({cause.strip()[:120]!r}) but the closing "
                f"FAILED line says only {(result.failure_lines() or ['(none)'])[-1][:120]!r}"
            )
        problems = []
        if not terminated:
            problems.append("the writer never reached the table")
        if result.returncode == 0:
            problems.append("the run succeeded although its connection was terminated")
        if cause is None:
            problems.append(f"no error names the lost connection; last message: {message!r}")
        if not untouched.equal:
            problems.append(f"partial commit: {untouched.describe()}")
        converged, detail, diff = suite.converge(db, home, reference)
        case.figures.rows_lost += diff.rows_lost
        case.figures.rows_duplicated += diff.rows_duplicated
        if not converged:
            problems.append(f"next sync: {detail}")
        if problems:
            case.failures.append(f"{label}: " + "; ".join(problems))
        else:
            case.figures.database_faults_clean += 1
            case.notes.append(f"{label}: failed with {message[:160]!r}")
        if scenario == "v2":
            suite.load_v1()
        suite.drop(db)
    return case


# --- concurrency -------------------------------------------------------------------------------

LOCK_MESSAGES = ("SyncLockedError", "another Partner Center sync", "Could not set lock")


def concurrency(suite: Suite) -> CaseResult:
    """Two syncs started at once: one waits or fails clearly, and the final state is the clean one.

    Pages take 0.2 s each meanwhile (the real API takes longer), so the two fetches surely overlap.
    """
    case = CaseResult("concurrency")
    variants = ["postgres, one Dagster home"]
    if suite.long:
        variants += ["postgres, two Dagster homes", "duckdb, one Dagster home"]
    suite.emulator.add_faults([{"kind": "slow", "delay": 0.2, "count": None}])
    try:
        for variant in variants:
            _concurrent_pair(suite, case, variant)
    finally:
        suite.emulator.clear_faults()
    return case


def _concurrent_pair(suite: Suite, case: CaseResult, variant: str) -> None:
    """One pair of syncs started together, judged by how they end and what they leave."""
    shared_home = "one Dagster home" in variant
    home_a = suite.home("concurrent-a")
    home_b = home_a if shared_home else suite.home("concurrent-b")
    if variant.startswith("duckdb"):
        db: Database = DuckDBDatabase(home_a / "hunter.duckdb")
        children = [suite.start_sync(db, home_a), suite.start_sync(db, home_b)]
        results = [suite.finish(child, home_a) for child in children]
    else:
        pg = suite.postgres("rel_concurrent", migrated=True)
        db = pg
        with table_lock(pg, "partner_center_referrals"):
            children = [suite.start_sync(pg, home_a), suite.start_sync(pg, home_b)]
            blocked_writer(pg, "partner_center_referrals", children[0], timeout=120)
            _wait_both_writing(children, timeout=120)
        results = [suite.finish(child, home) for child, home in zip(children, (home_a, home_b), strict=True)]
    case.figures.concurrent_syncs += 2
    failed = [r for r in results if r.returncode != 0]
    diff = compare_state(suite.reference_v1, hunter_state(db))
    case.figures.rows_lost += diff.rows_lost
    case.figures.rows_duplicated += diff.rows_duplicated
    problems = []
    if len(failed) == 2:
        problems.append("both syncs failed: " + " | ".join(_last_failure(r) for r in failed))
    for result in failed:
        text = _last_failure(result)
        if not any(marker in result.text for marker in LOCK_MESSAGES):
            problems.append(f"a sync failed without saying another sync holds the lock: {text!r}")
    if not diff.equal:
        problems.append(diff.describe())
    outcome = (
        "both succeeded (one waited)" if not failed else f"one failed: {_last_failure(failed[0])[:160]!r}"
    )
    if problems:
        case.failures.append(f"{variant}: " + "; ".join(problems))
    else:
        case.figures.concurrent_correct += 2
    case.notes.append(f"{variant}: {outcome}")
    if isinstance(db, PostgresDatabase):
        suite.drop(db)
    else:
        db.drop()


def _wait_both_writing(children: list[Child], timeout: float) -> None:
    """Until each sync reached its write step (or ended), so the two writes surely overlap."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(
            not child.running() or any('step "hunter_tables"' in line for line in child.output)
            for child in children
        ):
            time.sleep(1.0)
            return
        time.sleep(0.05)


# --- secrets -----------------------------------------------------------------------------------


def token_secrets(cache_path: Path, key: str) -> set[str]:
    """The access, refresh and id tokens held by an MSAL token cache file encrypted with ``key``."""
    if not cache_path.exists():
        return set()
    data = json.loads(Fernet(key).decrypt(cache_path.read_bytes()))
    found = set()
    for section in ("AccessToken", "RefreshToken", "IdToken"):
        for entry in (data.get(section) or {}).values():
            secret = entry.get("secret") if isinstance(entry, dict) else None
            if isinstance(secret, str) and len(secret) >= 8:
                found.add(secret)
    return found


def _forms(secret: str, client_id: str) -> set[bytes]:
    """How a secret could appear: as is, URL-encoded, in a basic-auth header."""
    forms = {secret, quote(secret, safe=""), base64.b64encode(f"{client_id}:{secret}".encode()).decode()}
    return {form.encode("utf-8") for form in forms}


def secrets(suite: Suite) -> CaseResult:
    """Known secrets must not appear in output, Dagster events, metadata, errors or files."""
    case = CaseResult("secrets")
    db_password = "pw-" + "".join(
        random.Random(suite.seed).choices(string.ascii_letters + string.digits, k=24)
    )
    db = suite.postgres("rel_secrets", password=db_password)
    home = suite.home("secrets")
    cache = home / "partner_center_token_cache.json"
    cache_key = Fernet.generate_key().decode()
    webhook = "https://hooks.example.invalid/services/" + db_password[3:]
    keyed = {
        "HUNTER_PARTNER_CENTER_TOKEN_CACHE_KEY": cache_key,
        "HUNTER_PARTNER_CENTER_ALERT_WEBHOOK_URL": webhook,
    }
    started = time.time()
    runs = [suite.sync(db, home, argv=CLI_SYNC, env=suite.env(db, home, **keyed))]
    if runs[0].returncode != 0:
        case.failures.append(f"the sync with known secrets failed: {_last_failure(runs[0])}")
    tokens = token_secrets(cache, cache_key)
    suite.emulator.add_faults([{"kind": "expire_token", "count": 2}])
    runs.append(suite.sync(db, home, env=suite.env(db, home, **keyed)))
    suite.emulator.clear_faults()
    if runs[1].returncode == 0:
        case.failures.append("a sync whose token was refused twice succeeded")
    tokens |= token_secrets(cache, cache_key)
    missing_db = sa.make_url(db.url).set(database=db.name + "_missing").render_as_string(hide_password=False)
    runs.append(suite.sync(db, home, env=suite.env(db, home, HUNTER_DATABASE_URL=missing_db, **keyed)))
    if runs[2].returncode == 0:
        case.failures.append("a sync against a missing database succeeded")
    tokens |= token_secrets(cache, cache_key)
    creds = suite.emulator.credentials
    known = {
        "client secret": creds["CLIENT_SECRET"],
        "password": creds["PASSWORD"],
        "database password": db_password,
        "token cache key": cache_key,
        "alert webhook URL": webhook,
        **{f"token #{n}": token for n, token in enumerate(sorted(tokens), start=1)},
    }
    if not tokens:
        case.failures.append("no token was found in the token cache to look for")
    haystacks: dict[str, bytes] = {"token cache (encrypted)": cache.read_bytes() if cache.exists() else b""}
    for number, run in enumerate(runs, start=1):
        haystacks[f"output of run {number}"] = run.text.encode("utf-8", "replace")
    for path in sorted(home.rglob("*")):
        if path.is_file() and path.resolve() != cache.resolve():
            haystacks[f"file {path.relative_to(home)}"] = path.read_bytes()
    target = REPO_DIR / "dbt_hunter" / "target"
    for path in sorted(target.rglob("*")) if target.exists() else []:
        if path.is_file() and path.stat().st_mtime >= started:
            haystacks[f"dbt file {path.relative_to(REPO_DIR)}"] = path.read_bytes()
    haystacks["Dagster events"] = dagster_events(home)
    leaks = []
    for name, secret in known.items():
        for form in _forms(secret, creds["CLIENT_ID"]):
            for where, data in haystacks.items():
                if form in data:
                    leaks.append(f"{name} in {where}")
    case.figures.secrets_checked = len(known)
    case.figures.secrets_leaked = len({leak.split(" in ")[0] for leak in leaks})
    for leak in sorted(set(leaks)):
        case.failures.append(f"leaked: {leak}")
    case.notes.append(
        f"{len(known)} secrets looked for in {len(haystacks)} places "
        f"({sum(len(v) for v in haystacks.values()) // 1024} KiB)"
    )
    suite.drop(db)
    return case


def dagster_events(home: Path) -> bytes:
    """Every event of every run in the Dagster home, serialized (metadata and errors included)."""
    import dagster as dg

    chunks = []
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for run in instance.get_runs():
            chunks.append(dg.serialize_value(run))
            for entry in instance.all_logs(run.run_id):
                chunks.append(dg.serialize_value(entry))
    return "\n".join(chunks).encode("utf-8")


# --- bad input at volume -----------------------------------------------------------------------


@dataclass
class HostileDocument:
    text: bytes  # the JSON text as the API would send it
    invalid: bool = False  # breaks contract §4.1 (so it must be skipped as invalid_payload)


def _referral_like(base: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    doc["id"] = f"hostile-{rng.getrandbits(64):016x}"
    return doc


def _nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for level in range(depth):
        value = {"n": value} if level % 2 else [value]
    return value


def handwritten_documents(rng: random.Random, base: dict[str, Any]) -> list[HostileDocument]:
    """Documents a real API should never send, and every one of them has been seen somewhere."""
    docs: list[HostileDocument] = []

    def add(value: Any, *, invalid: bool = False, raw: bytes | None = None) -> None:
        text = raw if raw is not None else json.dumps(value, ensure_ascii=True).encode("ascii")
        docs.append(HostileDocument(text, invalid))

    def variant(**changes: Any) -> dict[str, Any]:
        doc = _referral_like(base, rng)
        doc.update(changes)
        return doc

    for value in (None, 0, 1.5, True, "referral", [], [1, 2, 3], [{"id": "in-a-list"}]):
        add(value, invalid=True)
    add({}, invalid=True)
    for bad_id in (None, 42, 4.2, True, [], {"v": 1}, "", "   ", "\t\n"):
        add(variant(id=bad_id), invalid=True)
    doc = variant()
    del doc["id"]
    add(doc, invalid=True)
    for field_name in ("createdDateTime", "updatedDateTime"):
        for bad in (
            None,
            "",
            "yesterday",
            1700000000,
            {"t": 1},
            "2024-02-30T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T25:00:00Z",
            "2024-01-01T00:00:00+25:00",
            "x" * 100_000,
        ):
            add(variant(**{field_name: bad}), invalid=True)
        missing = variant()
        del missing[field_name]
        add(missing, invalid=True)
    for stamp in (
        "0001-01-01T00:00:00Z",
        "1677-09-21T00:12:43.145224Z",
        "2262-04-11T23:47:16.854775807Z",
        "9999-12-31T23:59:59.9999999Z",
        "2024-01-01T00:00:00.123456789012345Z",
        "2024-01-01 00:00:00",
        "2024-01-01T00:00:00+14:00",
        "2024-01-01T00:00:00-23:59",
        "2024-02-29T23:59:59Z",
        "2024-01-01T23:59:60Z",
    ):
        add(variant(createdDateTime=stamp, updatedDateTime=stamp))
    huge = "A" * 5_000_000
    add(variant(name=huge))
    add(variant(id="long-" + "i" * 200_000))
    add(
        variant(
            customerProfile={**base["customerProfile"], "team": [{"email": "a" * 1_000_000 + "@contoso.com"}]}
        )
    )
    add(variant(details={**base["details"], "notes": "\u00e9" * 2_000_000}))
    nul = "\u0000"
    add(variant(id=f"nul-{nul}-{rng.getrandbits(32)}"))
    add(variant(id=nul), invalid=True)
    add(variant(name=f"Contoso{nul}Ltd", status=f"New{nul}"))
    add(variant(customerProfile={"name": nul * 100, "team": [{"email": f"sue{nul}@contoso{nul}.com"}]}))
    add(variant(**{f"key{nul}": "value", nul: nul}))
    add(variant(customerProfile=[1, 2]))
    add(variant(customerProfile="contoso.com"))
    add(variant(customerProfile={"team": {"email": "sue@contoso.com"}}))
    add(variant(customerProfile={"team": ["sue@contoso.com", None, 3, [], {"email": 5}]}))
    add(variant(customerProfile={"team": [{"email": ["sue@contoso.com"]}, {"email": {"a": 1}}]}))
    add(variant(customerProfile={"ids": "contoso.com", "website": 7}))
    add(variant(customerProfile={"ids": [{"profileType": "External", "id": None}, 5, "x"]}))
    add(variant(details="none"))
    add(variant(details={"dealValue": "1e999", "currency": 5}))
    add(variant(details={"dealValue": "abc"}))
    add(variant(details={"dealValue": 10**30}))
    add(variant(details={"dealValue": -0.0}))
    add(variant(details={"dealValue": [1]}))
    literal = json.dumps(variant(), ensure_ascii=True)
    add(
        None, raw=literal.replace('"details": {', '"details": {"dealValue": 1e400, "x": -1e400, ', 1).encode()
    )
    for status in ([], {"s": "New"}, 1, "new", "NEW", "Closed", "New\u200b"):
        add(variant(status=status))
    for direction in ("Outgoing", "incoming", None, 0, "Incoming\u0000"):
        add(variant(direction=direction))
    for email in (
        "sue@xn--fa-hia.de",
        "sue@fa\u00df.de",
        "\u7528\u6237@\u4f8b\u5b50.\u5e7f\u544a",
        "sue@con\u200btoso.com",
        "sue\uff20contoso.com",
        "sue@contoso.com.",
        "sue@@contoso.com",
        "sue@127.0.0.1",
        "sue@[::1]",
        "sue@co.uk",
        "sue@localhost",
        "@contoso.com",
        "sue@",
        "\ufeffsue@contoso.com",
        "sue@\u0441\u043e\u043d\u0442\u043e\u0455\u043e.com",
        "sue@" + "a" * 64 + "." * 10 + "com",
        "sue@" + ".".join(["a"] * 200) + ".com",
        "\ud800@contoso.com",
        "sue@\udfff.com",
        "sue@exa\u0301mple.com",
        "SUE@CONTOSO.COM",
    ):
        add(variant(customerProfile={"name": "x", "team": [{"email": email}]}))
    add(variant(customerProfile={"name": "\ud83d\ude00 \u202e RTL \u0000", "team": []}))
    add(variant(name="\ud800 lone high", engagementId="\udc00 lone low"))
    add(variant(extra=_nested(200, "deep")))
    add(variant(customerProfile={"team": _nested(300, {"email": "deep@contoso.com"})}))
    add(variant(**{f"k{i}": i for i in range(10_000)}))
    add(variant(**{"": "empty key", " ": "space key"}))
    for copies in range(3):
        dup = copy.deepcopy(base)
        dup["id"] = "hostile-duplicate-1"
        dup["updatedDateTime"] = f"2025-01-0{copies + 1}T00:00:00Z"
        add(dup)
        same = copy.deepcopy(base)
        same["id"] = "hostile-duplicate-2"
        add(same)
    return docs


def hypothesis_documents(count: int, seed: int) -> list[Any]:
    """Referral-shaped documents whose every field may be any JSON value (hypothesis, seeded).

    Hypothesis makes about 150 a second here; :func:`recombined_documents` stretches them further.
    """
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as seeded
    from hypothesis import strategies as st
    from hypothesis.provisional import domains

    leaves = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(10**20), max_value=10**20)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=40)
    )
    json_values = st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=12,
    )
    emails = st.one_of(
        st.emails(),
        st.builds(lambda local, host: f"{local}@{host}", st.text(max_size=12), domains()),
        st.builds(
            lambda local, host: f"{local}@{host}", st.text(min_size=1, max_size=8), st.text(max_size=20)
        ),
        json_values,
    )
    stamps = st.one_of(
        st.datetimes(timezones=st.just(__import__("datetime").UTC)).map(
            lambda d: d.isoformat().replace("+00:00", "Z")
        ),
        st.text(max_size=30),
        json_values,
    )
    teams = st.lists(
        st.fixed_dictionaries({"email": emails}, optional={"firstName": json_values}), max_size=3
    )
    profiles = st.one_of(
        st.fixed_dictionaries(
            {"team": st.one_of(teams, json_values)},
            optional={
                "name": json_values,
                "ids": st.one_of(
                    st.lists(
                        st.fixed_dictionaries(
                            {
                                "profileType": st.sampled_from(["External", "Duns", "x"]),
                                "id": st.one_of(domains(), json_values),
                            }
                        ),
                        max_size=2,
                    ),
                    json_values,
                ),
                "address": st.one_of(st.fixed_dictionaries({"country": json_values}), json_values),
                "website": st.one_of(domains(), json_values),
            },
        ),
        json_values,
    )
    documents = st.fixed_dictionaries(
        {
            "id": st.one_of(st.uuids().map(str), st.text(max_size=20), json_values),
            "createdDateTime": stamps,
            "updatedDateTime": stamps,
            "status": st.one_of(st.sampled_from(["New", "Active", "Closed"]), json_values),
            "direction": st.one_of(st.just("Incoming"), json_values),
            "customerProfile": profiles,
        },
        optional={
            "substatus": json_values,
            "name": json_values,
            "details": st.one_of(
                st.fixed_dictionaries({"dealValue": json_values, "currency": json_values}), json_values
            ),
            "engagementId": json_values,
        },
    )
    collected: list[Any] = []

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @seeded(seed)
    @given(documents)
    def collect(document: dict[str, Any]) -> None:
        collected.append(document)

    collect()
    return collected[:count]


def recombined_documents(pool: list[Any], count: int, rng: random.Random, base: dict[str, Any]) -> list[Any]:
    """New documents from the hypothesis pool: a real referral or a pool document, with one to four
    of its fields replaced by the same field of other pool documents (seeded, so repeatable)."""
    shaped = [doc for doc in pool if isinstance(doc, dict)]
    documents: list[Any] = []
    for _ in range(count):
        start = _referral_like(base, rng) if rng.random() < 0.5 else copy.deepcopy(rng.choice(shaped))
        for _ in range(rng.randint(1, 4)):
            donor = rng.choice(shaped)
            if donor:
                key = rng.choice(list(donor))
                start[key] = copy.deepcopy(donor[key])
        if rng.random() < 0.3:
            start["id"] = f"recombined-{rng.getrandbits(48):012x}"
        documents.append(start)
    return documents


class HostileApi:
    """A Partner Center look-alike on loopback HTTPS serving prepared JSON texts, any JSON value.

    The emulator only stores referral objects with an id; this serves what it cannot (non-objects,
    missing ids, lone surrogates, literals Python never writes). The change stream is empty.
    Certificates come from the emulator's CA, so one CA bundle serves both.
    """

    def __init__(self, documents: list[bytes], tls_dir: Path, *, page_size: int = 100) -> None:
        from partner_center_assets.emulator.tls import server_tls

        self.documents = documents
        self.page_size = page_size
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query, keep_blank_values=True))
                if parts.path != "/v1.0/engagements/referrals":
                    self._send(404, b'{"error":{"code":"itemNotFound","message":"no such resource"}}')
                    return
                closed_stream = "Closed" in query.get("$filter", "")
                offset = int(query.get("$skiptoken", "0") or 0)
                items = [] if closed_stream else api.documents[offset : offset + api.page_size]
                body = (
                    b'{"@odata.count":'
                    + str(len(api.documents)).encode()
                    + b',"value":['
                    + b",".join(items)
                    + b"]"
                )
                if not closed_stream and offset + api.page_size < len(api.documents):
                    link = f"{api.base_url}/v1.0/engagements/referrals?$skiptoken={offset + api.page_size}"
                    body += b',"@odata.nextLink":' + json.dumps(link).encode()
                self._send(200, body + b"}")

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("request-id", f"hostile-{time.monotonic_ns()}")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = server_tls(tls_dir, "127.0.0.1").context
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.base_url = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> HostileApi:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def bad_input(suite: Suite) -> CaseResult:
    """10,000 hostile documents in one sync: no crash, each ingested or skipped, counters add up."""
    case = CaseResult("bad_input")
    rng = random.Random(suite.seed)
    base = next(discoverable(iter_referrals(1, suite.seed + 7)))
    handwritten = handwritten_documents(rng, base)
    wanted = 10_000 - len(handwritten)
    pool = hypothesis_documents(wanted if suite.long else 1_000, suite.seed)
    generated = pool + recombined_documents(pool, wanted - len(pool), rng, base)
    documents = handwritten + [
        HostileDocument(json.dumps(doc, ensure_ascii=True).encode()) for doc in generated
    ]
    rng.shuffle(documents)
    texts = [doc.text for doc in documents]
    must_be_invalid = sum(doc.invalid for doc in documents)
    case.figures.hostile_records = len(texts)
    db = suite.postgres("rel_hostile")
    home = suite.home("hostile")
    with HostileApi(texts, suite.emulator.state_dir) as api:
        env = suite.env(
            db,
            home,
            HUNTER_PARTNER_CENTER_BASE_URL=api.base_url,
            HUNTER_PARTNER_CENTER_REFERRAL_EVENT_LIMIT="-1",
        )
        first = suite.sync(db, home, env=env)
        second = suite.sync(db, home, env=env, argv=[*suite.sync_argv, "--full-refresh"])
    accounted = _account(case, "first sync", first, len(texts), must_be_invalid, db)
    case.figures.hostile_accounted = accounted
    _account(
        case, "second sync of the same documents (--full-refresh)", second, len(texts), must_be_invalid, db
    )
    summary = second.summary() or {}
    if summary.get("inserted") or summary.get("updated"):
        case.failures.append(
            f"the same documents again changed stored rows: inserted {summary.get('inserted')}, "
            f"updated {summary.get('updated')}"
        )
    watermark = hunter_state(db)["watermark"]
    if watermark and watermark[0][0] and str(watermark[0][0]) > "2100":
        case.notes.append(
            f"the watermark is now {watermark[0][0]}: a referral dated in the far future moves it there, and "
            "later syncs stop early from there (the sync warns; a full refresh reads everything)"
        )
    suite.drop(db)
    if suite.long:
        _poison_pages(suite, case, base)
    return case


def _account(
    case: CaseResult,
    label: str,
    result: ChildResult,
    fetched: int,
    must_be_invalid: int,
    db: PostgresDatabase,
) -> int:
    """Check one hostile sync's accounting; returns how many records are accounted for."""
    if result.returncode != 0:
        case.failures.append(f"{label} exited {result.returncode}: {_last_failure(result)}")
    summary = result.summary()
    if summary is None:
        case.failures.append(f"{label}: no {'partner_center_sync_summary'} event")
        return 0
    skipped = sum(int(summary.get(key, 0)) for key in SKIP_KEYS)
    total = int(summary["inserted"]) + int(summary["updated"]) + int(summary["unchanged"]) + skipped
    ingested = result.events("partner_center_referral_ingested")
    skips = result.events("partner_center_referral_skipped")
    problems = []
    if int(summary["fetched"]) != fetched:
        problems.append(f"fetched {summary['fetched']} of {fetched}")
    if total != int(summary["fetched"]):
        problems.append(f"inserted+updated+unchanged+skipped = {total} but fetched = {summary['fetched']}")
    if len(ingested) + len(skips) != fetched:
        problems.append(f"{len(ingested)} ingested + {len(skips)} skipped events for {fetched} records")
    unexplained = [event for event in skips if not event.get("reason")]
    if unexplained:
        problems.append(f"{len(unexplained)} skipped without a reason")
    if int(summary.get("skipped_invalid_payload", 0)) < must_be_invalid:
        problems.append(
            f"only {summary.get('skipped_invalid_payload')} invalid_payload skips "
            f"for {must_be_invalid} invalid documents"
        )
    engine = db.engine()
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT count(*), count(DISTINCT id) FROM partner_center_referrals")
        ).one()
        run = conn.execute(
            sa.text(
                "SELECT fetched, inserted, updated, unchanged FROM partner_center_sync_runs "
                "WHERE run_id = :id"
            ),
            {"id": summary.get("run_id")},
        ).one_or_none()
    engine.dispose()
    if stored[0] != stored[1]:
        problems.append(f"{stored[0] - stored[1]} duplicated referral rows")
        case.figures.rows_duplicated += stored[0] - stored[1]
    if run is None or tuple(run) != tuple(
        int(summary[k]) for k in ("fetched", "inserted", "updated", "unchanged")
    ):
        problems.append(f"partner_center_sync_runs holds {run}, the summary says {summary}")
    if problems:
        case.failures.append(f"{label}: " + "; ".join(problems))
        return 0
    if result.returncode != 0:
        return 0
    case.notes.append(
        f"{label}: fetched {summary['fetched']}, inserted {summary['inserted']}, "
        f"unchanged {summary['unchanged']}, skipped "
        + ", ".join(f"{key[8:]} {summary[key]}" for key in SKIP_KEYS if summary.get(key))
    )
    return fetched


POISON: dict[str, bytes] = {
    "an integer of 5,000 digits": b'{"id":"poison-bigint","createdDateTime":"2024-01-01T00:00:00Z",'
    b'"updatedDateTime":"2024-01-01T00:00:00Z","details":{"dealValue":' + b"9" * 5000 + b"}}",
    "nesting 10,000 levels deep": b'{"id":"poison-deep","createdDateTime":"2024-01-01T00:00:00Z",'
    b'"updatedDateTime":"2024-01-01T00:00:00Z","extra":' + b"[" * 10_000 + b"]" * 10_000 + b"}",
}


def _poison_pages(suite: Suite, case: CaseResult, base: dict[str, Any]) -> None:
    """One valid JSON document that Python's parser refuses, among 99 good ones: the run must go on."""
    rng = random.Random(suite.seed + 3)
    for label, poison in POISON.items():
        good = [json.dumps(_referral_like(base, rng)).encode() for _ in range(99)]
        db = suite.postgres("rel_poison")
        home = suite.home("poison")
        with HostileApi([*good[:50], poison, *good[50:]], suite.emulator.state_dir) as api:
            result = suite.sync(
                db, home, env=suite.env(db, home, HUNTER_PARTNER_CENTER_BASE_URL=api.base_url)
            )
        case.figures.poison_pages += 1
        stored = table_counts(db)["partner_center_referrals"]
        if result.returncode == 0 and stored >= 99:
            case.figures.poison_survived += 1
        else:
            case.failures.append(
                f"a page holding {label}: exit {result.returncode}, {stored} of 99 good referrals stored; "
                f"{_last_failure(result)}"
            )
        suite.drop(db)


# --- running the suite -------------------------------------------------------------------------

CASES: dict[str, Callable[[Suite], CaseResult]] = {
    "fault_matrix": fault_matrix,
    "crash_safety": crash_safety,
    "database_faults": database_faults,
    "concurrency": concurrency,
    "secrets": secrets,
    "bad_input": bad_input,
}


def run_case(suite: Suite, name: str) -> CaseResult:
    started = time.monotonic()
    try:
        result = CASES[name](suite)
    except Exception as exc:  # a broken case is reported, and the others still run
        result = CaseResult(name, failures=[f"the case itself failed: {type(exc).__name__}: {exc}"])
    result.seconds = time.monotonic() - started
    return result


FIGURE_LINES = (
    ("faults injected / survived", "faults_injected", "faults_survived"),
    ("crashes / converged", "crashes", "converged"),
    ("database faults / failed cleanly and converged", "database_faults", "database_faults_clean"),
    ("concurrent syncs / final state correct", "concurrent_syncs", "concurrent_correct"),
    ("hostile records / accounted for", "hostile_records", "hostile_accounted"),
    ("poison pages / survived", "poison_pages", "poison_survived"),
    ("secrets looked for / leaked", "secrets_checked", "secrets_leaked"),
    ("rows lost", "rows_lost", None),
    ("rows duplicated", "rows_duplicated", None),
    ("secrets leaked", "secrets_leaked", None),
)


def report(results: list[CaseResult], header: str) -> tuple[Figures, bool]:
    totals = Figures()
    print(header)
    print(f"  {'case':<18}{'result':<8}{'seconds':>9}")
    for result in results:
        totals.add(result.figures)
        print(f"  {result.name:<18}{'ok' if result.ok else 'FAILED':<8}{result.seconds:>9.1f}")
        for note in result.notes:
            print(f"      - {note}")
        for failure in result.failures:
            print(f"      ! {failure}")
    print()
    for label, first, second in FIGURE_LINES:
        value = getattr(totals, first)
        text = f"{value}" if second is None else f"{value} / {getattr(totals, second)}"
        print(f"{label:<48}{text}")
    passed = (
        all(result.ok for result in results)
        and totals.rows_lost == 0
        and totals.rows_duplicated == 0
        and totals.secrets_leaked == 0
    )
    print(f"{'verdict':<48}{'PASS' if passed else 'FAIL'}")
    return totals, passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reliability", description=__doc__.split("\n\n")[0])
    parser.add_argument("--long", action="store_true", help="the heavy cases: full CLI syncs, >= 20 crashes")
    parser.add_argument("--seed", type=int, default=7, help="seed of the data and of every random choice")
    parser.add_argument("--only", default="", help=f"comma-separated cases among {', '.join(CASES)}")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (Dagster homes, logs)")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.only.split(",") if name.strip()] or list(CASES)
    unknown = [name for name in names if name not in CASES]
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)}")
    workdir = Path(tempfile.mkdtemp(prefix="partner-center-reliability-"))
    suite = Suite(workdir, long=args.long, seed=args.seed)
    started = time.monotonic()
    try:
        suite.setup()
        results = [run_case(suite, name) for name in names]
    finally:
        suite.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    mode = "long" if args.long else "fast"
    header = (
        f"reliability ({mode} mode, seed {args.seed}, {suite.pages} pages of referrals per full sync, "
        f"{time.monotonic() - started:.0f} s)" + (f", work directory {workdir}" if args.keep else "")
    )
    _, passed = report(results, header)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
