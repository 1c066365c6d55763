"""The benchmark: one command, every figure measured side by side in the same run.

    .venv/bin/python -m bench.run [--sizes 10000,100000,300000] [--main-size 100000] [--quick]

On the same machine, the same generated referrals (all matching the discovery filter) and the
emulator in its own process with no injected latency, it measures:

1. a full ``partner-center sync`` of the main size into PostgreSQL and into DuckDB: referrals per
   second end to end, seconds per stage, peak RSS;
2. the same data loaded by a dlt ``rest_api`` pipeline into the same PostgreSQL, and the ratio, with
   the product's client paging through the same data alone (the fetch's floor);
3. the upsert stage of the write against a plain COPY of the same rows;
4. an incremental sync with nothing new: requests per stream, rows written, wall time;
5. full syncs at every size: time and peak RSS, and whether they grow linearly.

It prints a table and writes the figures to ``bench/results/<timestamp>.json``. Each sync is a
child process (its peak RSS is its own, from ``wait4``); goals are reported as met or not met.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench import (
    CLI_SYNC,
    HUNTER_TABLES,
    REPO_DIR,
    ChildResult,
    Database,
    DuckDBDatabase,
    EmulatorProcess,
    PostgresDatabase,
    discoverable,
    product_env,
    run_child,
    table_counts,
)
from partner_center_assets.emulator import iter_referrals

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_SIZES = (10_000, 100_000, 300_000)
QUICK_SIZES = (2_000, 5_000, 10_000)
STAGE_ASSETS = {
    "fetch": "raw_referral_pages",
    "normalize": "normalized_referrals",
    "resolve": "resolved_referrals",
    "write": "partner_center_referrals",
}
DBT_STEP = "dbt_hunter_assets"
GOAL_DLT_RATIO = 3.0
GOAL_FLOOR_RATIO = 3.0
GOAL_RSS_MB = 1024.0
LINEAR_TOLERANCE = 1.2
# The contract's early stop reads on to the first page wholly older than the cutoff, so a quiet day
# costs the page holding the watermark and the one after it: two requests for a stream that has more.
EARLY_STOP_PAGES = 2


# --- measuring one sync ------------------------------------------------------------------------


def run_stages(home: Path) -> dict[str, Any]:
    """Seconds per stage of the newest run in ``home``: each asset's ``seconds`` metadata, step
    durations from the event log (dbt's among them) and the run's own duration."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(limit=1)
        if not runs:
            return {}
        run = runs[0]
        started: dict[str, float] = {}
        steps: dict[str, float] = {}
        asset_seconds: dict[str, float] = {}
        run_start = run_end = None
        entries = instance.all_logs(run.run_id)
        log_lines = Counter(entry.step_key or "run" for entry in entries if entry.dagster_event is None)
        for entry in entries:
            event = entry.dagster_event
            if event is None:
                continue
            kind = event.event_type_value
            if kind == "RUN_START":
                run_start = entry.timestamp
            elif kind in ("RUN_SUCCESS", "RUN_FAILURE"):
                run_end = entry.timestamp
            elif kind == "STEP_START" and event.step_key:
                started[event.step_key] = entry.timestamp
            elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in started:
                steps[event.step_key] = entry.timestamp - started[event.step_key]
            elif kind == "ASSET_MATERIALIZATION":
                materialization = event.event_specific_data.materialization
                value = materialization.metadata.get("seconds")
                if value is not None:
                    asset_seconds[materialization.asset_key.to_user_string()] = float(value.value)
    stages = {stage: asset_seconds.get(asset) for stage, asset in STAGE_ASSETS.items()}
    stages["write_step"] = steps.get("hunter_tables")
    stages["dbt"] = steps.get(DBT_STEP)
    stages["checks"] = sum(
        seconds for step, seconds in steps.items() if step not in (DBT_STEP,) and step not in _PIPELINE_STEPS
    )
    return {
        "run_id": run.run_id,
        "status": str(run.status.value),
        "run_seconds": (run_end - run_start) if run_start and run_end else None,
        "stages": stages,
        "steps": steps,
        "stored_events": len(entries),
        "stored_log_lines_by_step": dict(log_lines),
    }


_PIPELINE_STEPS = ("raw_referral_pages", "normalized_referrals", "resolved_referrals", "hunter_tables")


def measure_sync(emulator: EmulatorProcess, db: Database, home: Path, *, label: str) -> dict[str, Any]:
    """One ``partner-center sync`` as a child process: wall time, peak RSS, stages, counters."""
    result = run_child(CLI_SYNC, product_env(emulator, home, db.url), timeout=6 * 3600, sample_rss=True)
    log = home / f"sync-{time.strftime('%H%M%S')}.log"
    log.write_text(result.text, encoding="utf-8", errors="replace")
    summary = result.summary() or {}
    figures: dict[str, Any] = {
        "database": label,
        "returncode": result.returncode,
        "seconds": result.seconds,
        "peak_rss_mb": result.peak_rss_mb,
        "fetched": summary.get("fetched"),
        "summary": summary,
        "peak_rss_mb_by_step": {step: round(mb, 1) for step, mb in result.peak_rss_by_step().items()},
        **run_stages(home),
    }
    if figures["fetched"]:
        figures["referrals_per_second"] = figures["fetched"] / result.seconds
    if result.returncode != 0:
        figures["error"] = _tail(result)
    return figures


def _tail(result: ChildResult, lines: int = 15) -> str:
    return "\n".join(result.output[-lines:])


def row_changes(db: PostgresDatabase) -> dict[str, int]:
    """Rows inserted, updated or deleted so far in each Hunter table (PostgreSQL statistics)."""
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        rows = conn.execute(
            "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables "
            "WHERE schemaname = 'public' AND relname = ANY(%s)",
            (list(HUNTER_TABLES),),
        ).fetchall()
    return {name: int(count) for name, count in rows}


def measure_incremental(emulator: EmulatorProcess, db: Database, home: Path, *, label: str) -> dict[str, Any]:
    """A sync right after a full one, with nothing new at the API."""
    emulator.reset_requests()
    before_counts = table_counts(db)
    before_changes = row_changes(db) if isinstance(db, PostgresDatabase) else None
    if before_changes is not None:
        time.sleep(1.0)  # let the previous run's statistics reach the collector
        before_changes = row_changes(db)
    figures = measure_sync(emulator, db, home, label=label)
    requests = emulator.requests()
    api = [r for r in requests if r["path"].startswith("/v1.0/engagements/referrals")]
    streams: Counter[str] = Counter()
    stream = "discovery"
    for r in api:  # in the order received: a next link belongs to the stream its first page opened
        if "$filter" in r["query"]:
            stream = "changes" if "'Closed'" in str(r["query"]["$filter"]) else "discovery"
        streams[stream] += 1
    follow_ups = sum(1 for r in api if "$filter" not in r["query"])
    figures["requests"] = {
        "api": len(api),
        "per_stream": dict(streams),
        "next_links_followed": follow_ups,
        "identity": len(requests) - len(api),
    }
    after_counts = table_counts(db)
    figures["row_count_change"] = {t: after_counts[t] - before_counts[t] for t in HUNTER_TABLES}
    summary = figures.get("summary") or {}
    figures["rows_changed_by_counters"] = int(summary.get("inserted", 0)) + int(summary.get("updated", 0))
    if before_changes is not None:
        time.sleep(1.0)
        after_changes = row_changes(db)
        written = {t: after_changes.get(t, 0) - before_changes.get(t, 0) for t in HUNTER_TABLES}
        figures["rows_written"] = written
        figures["rows_written_excluding_run_row"] = sum(
            n for t, n in written.items() if t != "partner_center_sync_runs"
        )
    else:
        figures["rows_written_excluding_run_row"] = figures["rows_changed_by_counters"] + sum(
            n for t, n in figures["row_count_change"].items() if t != "partner_center_sync_runs"
        )
    return figures


def child_json(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run a measuring child; its last line is a JSON object (plus its own seconds and peak RSS)."""
    result = run_child(argv, env, timeout=6 * 3600)
    payload: dict[str, Any] = {"returncode": result.returncode, "peak_rss_mb": result.peak_rss_mb}
    for line in reversed(result.output):
        if line.startswith("{"):
            payload.update(json.loads(line))
            break
    else:
        payload["error"] = _tail(result)
    payload["process_seconds"] = result.seconds
    return payload


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUNTER_") and k != "DAGSTER_HOME"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_DIR), env.get("PYTHONPATH", "")) if p)
    return env


REWRITE_COPIES = 3
"""The DuckDB rewrite measurement writes the main size's resolved file this many times over."""


def measure_duckdb_rewrite(resolved: Path, workdir: Path) -> dict[str, Any]:
    """DuckDB's write alone of a file ``REWRITE_COPIES`` times the main size into an empty database,
    then of the same referrals with every payload changed, each in a child process of its own under
    the product's default memory limit (``bench/duckdb_rewrite.py``)."""
    step = [sys.executable, "-m", "bench.duckdb_rewrite"]
    files = child_json(
        [*step, "scale", "--resolved", str(resolved), "--copies", str(REWRITE_COPIES), "--out", str(workdir)],
        base_env(),
    )
    if "scaled" not in files:
        return {"scale": files}
    database = DuckDBDatabase(workdir / "rewrite.duckdb")
    try:
        write = [*step, "write", "--database-url", database.url, "--resolved"]
        load, rewrite = (child_json([*write, files[name]], base_env()) for name in ("scaled", "changed"))
    finally:
        database.drop()
        shutil.rmtree(workdir, ignore_errors=True)
    return {"rows": files["rows"], "load": load, "rewrite": rewrite}


# --- the run -----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    memory_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg(),
    }


def run_dlt(emulator: EmulatorProcess, db: PostgresDatabase, workdir: Path) -> dict[str, Any]:
    """The dlt ``rest_api`` pipeline over the emulator's referrals into ``db``, as a child process."""
    env = base_env()
    env.pop("REQUESTS_CA_BUNDLE", None)
    return child_json(
        [
            sys.executable,
            "-m",
            "bench.dlt_baseline",
            "--base-url",
            emulator.base_url,
            "--token",
            emulator.user_token(),
            "--ca-bundle",
            emulator.ca_path,
            "--database-url",
            db.conninfo.replace("://postgres@", "://postgres:trust@"),
            "--work-dir",
            str(workdir),
        ],
        env,
    )


def pair_figures(ours: dict[str, Any], dlt: dict[str, Any], *, first: str = "ours") -> dict[str, Any]:
    """One of our syncs and a dlt load run next to it: their seconds, the throughput ratio, which
    ran first and our sync's stages (to tell which stage moved when the machine's speed drifts)."""
    figures: dict[str, Any] = {
        "ours_seconds": ours.get("seconds"),
        "dlt_seconds": dlt.get("process_seconds"),
        "first": first,
        "ours_stages": ours.get("stages"),
    }
    if ours.get("referrals_per_second") and dlt.get("rows") and dlt.get("process_seconds"):
        figures["ratio"] = ours["referrals_per_second"] / (dlt["rows"] / dlt["process_seconds"])
    return figures


def run_pair(
    emulator: EmulatorProcess, ours_db: Database, dlt_db: PostgresDatabase, workdir: Path, *, first: str
) -> dict[str, Any]:
    """Our sync and a dlt load of the same data, back to back, ``first`` (``ours`` or ``dlt``) first."""
    dlt_dir = workdir.with_name(f"{workdir.name}-dlt")
    theirs = run_dlt(emulator, dlt_db, dlt_dir) if first == "dlt" else None
    ours = measure_sync(emulator, ours_db, workdir, label="postgres")
    if theirs is None:
        theirs = run_dlt(emulator, dlt_db, dlt_dir)
    return pair_figures(ours, theirs, first=first)


def median_ratio(pairs: list[dict[str, Any]]) -> tuple[float | None, int]:
    """The median of the pairs' ratios, and how many pairs had one."""
    ratios = [pair["ratio"] for pair in pairs if pair.get("ratio")]
    return (statistics.median(ratios) if ratios else None), len(ratios)


def benchmark(
    sizes: list[int], main_size: int, seed: int, workdir: Path, *, dlt: bool, duckdb: bool, pairs: int = 1
) -> dict:
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "seed": seed,
        "sizes": sizes,
        "main_size": main_size,
        "scaling": {},
        "main": {},
    }
    emulator = EmulatorProcess(workdir / "emulator").start()
    databases: list[Database] = []

    def postgres(prefix: str) -> PostgresDatabase:
        db = PostgresDatabase(prefix)
        databases.append(db)
        return db

    try:
        for size in sizes:
            started = time.monotonic()
            stored = emulator.load(discoverable(iter_referrals(size, seed)))
            print(
                f"[{size:,}] emulator holds {stored:,} referrals ({time.monotonic() - started:.0f} s to load)"
            )
            pg = postgres("bench_sync")
            home = workdir / f"postgres-{size}"
            full = measure_sync(emulator, pg, home, label="postgres")
            results["scaling"][str(size)] = full
            print(f"[{size:,}] postgres full sync: {full['seconds']:.1f} s, {full['peak_rss_mb']:.0f} MB")
            if size == main_size:
                main = results["main"]
                main["postgres"] = full
                resolved = workdir / f"resolved-{size}.parquet"
                shutil.copyfile(home / "partner_center" / "resolved_referrals.parquet", resolved)
                main["postgres_incremental"] = measure_incremental(emulator, pg, home, label="postgres")
                print(f"[{size:,}] postgres incremental: {main['postgres_incremental']['seconds']:.1f} s")
                split_db = postgres("bench_split")
                main["postgres_write_split"] = child_json(
                    [
                        sys.executable,
                        "-m",
                        "bench.copy_floor",
                        "write-split",
                        "--database-url",
                        split_db.url,
                        "--resolved",
                        str(resolved),
                    ],
                    base_env(),
                )
                floor_db = postgres("bench_floor")
                main["copy_floor"] = child_json(
                    [
                        sys.executable,
                        "-m",
                        "bench.copy_floor",
                        "floor",
                        "--database-url",
                        floor_db.url,
                        "--resolved",
                        str(resolved),
                    ],
                    base_env(),
                )
                print(f"[{size:,}] write split and COPY floor measured")
                main["paging_floor"] = child_json(
                    [sys.executable, "-m", "bench.paging_floor"],
                    product_env(emulator, workdir / f"paging-{size}", pg.url),
                )
                print(f"[{size:,}] paging alone: {main['paging_floor'].get('seconds', 0):.1f} s")
                if duckdb:
                    duck_home = workdir / f"duckdb-{size}"
                    duck = DuckDBDatabase(duck_home / "hunter.duckdb")
                    main["duckdb"] = measure_sync(emulator, duck, duck_home, label="duckdb")
                    duck_resolved = workdir / f"resolved-duckdb-{size}.parquet"
                    shutil.copyfile(
                        duck_home / "partner_center" / "resolved_referrals.parquet", duck_resolved
                    )
                    main["duckdb_incremental"] = measure_incremental(
                        emulator, duck, duck_home, label="duckdb"
                    )
                    split_duck = DuckDBDatabase(workdir / "duckdb-split.duckdb")
                    main["duckdb_write_split"] = child_json(
                        [
                            sys.executable,
                            "-m",
                            "bench.copy_floor",
                            "write-split",
                            "--database-url",
                            split_duck.url,
                            "--resolved",
                            str(duck_resolved),
                        ],
                        base_env(),
                    )
                    print(f"[{size:,}] duckdb full sync: {main['duckdb']['seconds']:.1f} s")
                    main["duckdb_rewrite"] = measure_duckdb_rewrite(duck_resolved, workdir / "rewrite")
                    print(f"[{size:,}] duckdb write at {REWRITE_COPIES}x, then rewritten: measured")
                if dlt:
                    main["dlt"] = run_dlt(emulator, postgres("bench_dlt"), workdir / "dlt")
                    print(f"[{size:,}] dlt: {main['dlt'].get('process_seconds', 0):.1f} s")
                    main["pairs"] = [pair_figures(full, main["dlt"])]
                    for n in range(1, pairs):
                        # dlt goes first in every other pair, so a steady drift of the machine's
                        # speed favours neither side.
                        first = "dlt" if n % 2 else "ours"
                        ours_db, dlt_db = postgres("bench_pair"), postgres("bench_pair_dlt")
                        pair = run_pair(emulator, ours_db, dlt_db, workdir / f"pair-{n}", first=first)
                        main["pairs"].append(pair)
                        print(
                            f"[{size:,}] pair {n + 1} ({first} first): ours {pair['ours_seconds']:.1f} s, "
                            f"dlt {pair.get('dlt_seconds') or 0:.1f} s"
                        )
                        for db in (ours_db, dlt_db):
                            db.drop()
                            databases.remove(db)
            for db in list(databases):
                db.drop()
                databases.remove(db)
    finally:
        emulator.stop()
        for db in databases:
            db.drop()
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["goals"] = goals(results)
    return results


def _rewrite_lines(rewrite: dict[str, Any] | None) -> list[str]:
    """The DuckDB write alone at several times the main size, then with every payload changed."""
    if not rewrite:
        return []
    if "load" not in rewrite:
        return [f"  duckdb rewrite: the scaled files were not made: {rewrite.get('scale', {}).get('error')}"]
    lines = [f"  duckdb write alone of {rewrite['rows']:,} fetched records, then of them all changed:"]
    for name, step in (("first load", rewrite["load"]), ("every payload changed", rewrite["rewrite"])):
        if step.get("returncode") == 0 and "seconds" in step:
            lines.append(
                f"    {name}: {step['seconds']:.1f} s, peak {step['peak_rss_mb']:.0f} MB "
                f"(inserted {step['inserted']:,}, updated {step['updated']:,}; "
                f"memory limit {step['memory_limit']})"
            )
        else:
            lines.append(f"    {name}: FAILED ({step.get('error', 'no result')})")
    return lines


# --- goals and the table -----------------------------------------------------------------------


def _goal(name: str, measured: str, target: str, met: bool | None) -> dict[str, Any]:
    return {"goal": name, "measured": measured, "target": target, "met": met}


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    main = results["main"]
    found: list[dict[str, Any]] = []
    ratio, counted = median_ratio(main.get("pairs", []))
    if ratio is not None:
        found.append(
            _goal(
                "throughput vs dlt (end to end)",
                f"{ratio:.2f}x" + (f" (median of {counted} pairs)" if counted > 1 else ""),
                f">= {GOAL_DLT_RATIO:.0f}x",
                ratio >= GOAL_DLT_RATIO,
            )
        )
    split = main.get("postgres_write_split", {})
    floor = main.get("copy_floor", {})
    if split.get("parts") and floor.get("seconds"):
        ratio = split["parts"]["upsert"] / floor["seconds"]
        found.append(
            _goal(
                "upsert stage vs plain COPY",
                f"{ratio:.2f}x",
                f"<= {GOAL_FLOOR_RATIO:.0f}x",
                ratio <= GOAL_FLOOR_RATIO,
            )
        )
    for label in ("postgres", "duckdb"):
        incremental = main.get(f"{label}_incremental")
        if not incremental:
            continue
        per_stream = incremental["requests"]["per_stream"]
        streams_ok = bool(per_stream) and all(n <= EARLY_STOP_PAGES for n in per_stream.values())
        found.append(
            _goal(
                f"incremental requests ({label})",
                f"{incremental['requests']['api']} ({', '.join(f'{k} {v}' for k, v in per_stream.items())})",
                f"<= {EARLY_STOP_PAGES} per stream",
                streams_ok,
            )
        )
        written = incremental["rows_written_excluding_run_row"]
        found.append(_goal(f"incremental rows written ({label})", str(written), "0", written == 0))
    scaling = results["scaling"]
    sizes = sorted(int(s) for s in scaling if scaling[s].get("returncode") == 0)
    if len(sizes) >= 3:
        seconds = marginal(sizes, [scaling[str(s)]["seconds"] * 1000 for s in sizes])
        found.append(
            _goal(
                "time grows linearly or better",
                " then ".join(f"{rate:.2f}" for rate in seconds) + " ms per extra referral",
                f"last step <= {LINEAR_TOLERANCE:.1f}x first",
                linear_or_better(seconds, floor=0.01),
            )
        )
        rss = marginal(sizes, [scaling[str(s)]["peak_rss_mb"] * 1000 for s in sizes])
        found.append(
            _goal(
                "peak RSS grows linearly or better",
                " then ".join(f"{rate:.2f}" for rate in rss) + " MB per 1,000 extra referrals",
                f"last step <= {LINEAR_TOLERANCE:.1f}x first",
                linear_or_better(rss, floor=0.1),
            )
        )
    for label in ("postgres", "duckdb"):
        run = main.get(label)
        if run:
            found.append(
                _goal(
                    f"peak RSS at {results['main_size']:,} ({label})",
                    f"{run['peak_rss_mb']:.0f} MB",
                    f"< {GOAL_RSS_MB:.0f} MB",
                    run["peak_rss_mb"] < GOAL_RSS_MB,
                )
            )
    return found


def marginal(sizes: list[int], values: list[float]) -> list[float]:
    """What each step up in size costs per extra referral (values already scaled as wanted)."""
    return [(b - a) / (y - x) for (x, a), (y, b) in itertools.pairwise(zip(sizes, values, strict=True))]


def linear_or_better(rates: list[float], *, floor: float) -> bool:
    """The last step's marginal cost is at most ``LINEAR_TOLERANCE`` times the first's.

    ``floor`` keeps a first step that measured next to nothing (noise) from failing any growth.
    """
    return rates[-1] <= max(rates[0], floor) * LINEAR_TOLERANCE


def _f(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render(results: dict[str, Any]) -> str:
    main = results["main"]
    size = results["main_size"]
    m = results["machine"]
    lines = [
        f"Partner Center Referrals Sync benchmark, {results['started_at']} "
        f"({m['cpus']} CPUs, {m['memory_gib']} GiB, load {m['load_average_at_start'][0]:.2f} at start)",
        f"data: generated referrals (seed {results['seed']}), all matching the discovery filter; emulator in "
        "its own process, no injected latency; every sync is `partner-center sync` in a child process",
        "",
        f"1. Full sync of {size:,} referrals",
    ]
    header = (
        f"  {'database':<10}{'seconds':>9}{'ref/s':>9}{'peak MB':>9}{'fetch':>8}{'normal.':>8}"
        f"{'resolve':>8}{'write':>8}{'upsert':>8}{'links':>8}{'dbt':>8}{'other':>8}"
    )
    lines.append(header)
    for label in ("postgres", "duckdb"):
        run = main.get(label)
        if not run:
            continue
        stages = run.get("stages", {})
        split = main.get(f"{label}_write_split", {}).get("parts", {})
        known = sum(
            v for k, v in stages.items() if k in ("fetch", "normalize", "resolve", "write_step", "dbt") and v
        )
        lines.append(
            f"  {label:<10}{_f(run['seconds']):>9}{_f(run.get('referrals_per_second'), 0):>9}"
            f"{_f(run['peak_rss_mb'], 0):>9}{_f(stages.get('fetch')):>8}{_f(stages.get('normalize')):>8}"
            f"{_f(stages.get('resolve')):>8}{_f(stages.get('write_step')):>8}{_f(split.get('upsert')):>8}"
            f"{_f(split.get('links')):>8}{_f(stages.get('dbt')):>8}{_f(run['seconds'] - known):>8}"
        )
        if run.get("error"):
            lines.append(f"    FAILED: {run['error'].splitlines()[-1][:200]}")
    lines.append(
        "  (write = the hunter_tables step; upsert = staging + merge and links = companies, leads, links "
        "and scans, from the same write run alone on the same file; other = process start, Dagster, checks)"
    )
    for label in ("postgres", "duckdb"):
        run = main.get(label)
        if run and run.get("peak_rss_mb_by_step"):
            steps = run["peak_rss_mb_by_step"]
            shown = ", ".join(
                f"{step} {steps[step]:.0f}" for step in (*_PIPELINE_STEPS, DBT_STEP) if step in steps
            )
            lines.append(f"  peak RSS (MB) of the sync process by step, {label}: {shown}")
        if run and run.get("stored_events"):
            by_step = run.get("stored_log_lines_by_step", {})
            busiest = ", ".join(
                f"{step} {n:,}" for step, n in sorted(by_step.items(), key=lambda kv: -kv[1])[:3]
            )
            lines.append(
                f"  Dagster events stored by the {label} run: {run['stored_events']:,} (log lines: {busiest})"
            )
    for label in ("postgres", "duckdb"):
        split = main.get(f"{label}_write_split")
        if split and split.get("parts"):
            parts = ", ".join(f"{k} {v:.2f} s" for k, v in split["parts"].items())
            lines.append(f"  write alone on {label}: {split['seconds']:.2f} s ({parts})")
    lines += _rewrite_lines(main.get("duckdb_rewrite"))
    lines += ["", "2. dlt rest_api pipeline (next-link paginator, merge on id) into the same PostgreSQL"]
    dlt = main.get("dlt")
    ours = main.get("postgres", {})
    if dlt and dlt.get("rows"):
        dlt_rate = dlt["rows"] / dlt["process_seconds"]
        lines.append(f"  {'loader':<26}{'seconds':>9}{'referrals':>11}{'ref/s':>9}{'peak MB':>9}")
        lines.append(
            f"  {'dlt (process)':<26}{_f(dlt['process_seconds']):>9}{_f(dlt['rows']):>11}"
            f"{_f(dlt_rate, 0):>9}{_f(dlt['peak_rss_mb'], 0):>9}"
        )
        lines.append(
            f"  {'partner-center sync':<26}{_f(ours.get('seconds')):>9}{_f(ours.get('fetched')):>11}"
            f"{_f(ours.get('referrals_per_second'), 0):>9}{_f(ours.get('peak_rss_mb'), 0):>9}"
        )
        ratio = pair_figures(ours, dlt).get("ratio")
        if ratio:
            lines.append(
                f"  ratio ours / dlt: {ratio:.2f}x "
                f"(dlt made {len(dlt.get('tables', []))} tables: {', '.join(dlt.get('tables', []))})"
            )
        lines += _pair_lines(main.get("pairs", []))
        lines += _paging_floor_lines(main.get("paging_floor"), ours, dlt["process_seconds"])
    elif dlt:
        lines.append(f"  dlt FAILED: {str(dlt.get('error', ''))[-300:]}")
    else:
        lines.append("  not run")
    lines += ["", "3. Upsert stage against a plain COPY of the same rows (PostgreSQL)"]
    split = main.get("postgres_write_split", {})
    floor = main.get("copy_floor", {})
    if split.get("parts") and floor.get("seconds"):
        upsert = split["parts"]["upsert"]
        lines.append(
            f"  upsert (staging {split['parts'].get('staging', 0):.2f} s + merge "
            f"{split['parts'].get('merge', 0):.2f} s) = {upsert:.2f} s; COPY of {floor['rows']:,} rows into "
            f"an empty table = {floor['seconds']:.2f} s; ratio {upsert / floor['seconds']:.2f}x"
        )
    lines += ["", f"4. Incremental sync after the {size:,} load, nothing new"]
    lines.append(f"  {'database':<10}{'seconds':>9}{'API req.':>10}  {'per stream':<28}{'rows written':>13}")
    for label in ("postgres", "duckdb"):
        inc = main.get(f"{label}_incremental")
        if inc:
            per_stream = ", ".join(f"{k} {v}" for k, v in inc["requests"]["per_stream"].items())
            lines.append(
                f"  {label:<10}{_f(inc['seconds']):>9}{inc['requests']['api']:>10}  {per_stream:<28}"
                f"{inc['rows_written_excluding_run_row']:>13}"
            )
    lines.append(
        "  (rows written: Hunter tables, the run's own partner_center_sync_runs row excluded; PostgreSQL "
        "from its statistics, DuckDB from the counters and row counts)"
    )
    lines += ["", "5. Scaling (PostgreSQL, full sync)"]
    lines.append(
        f"  {'referrals':>10}{'seconds':>9}{'ms/ref':>9}{'ref/s':>9}{'peak MB':>9}{'dbt s':>8}"
        "  peak MB by step"
    )
    for key in sorted(results["scaling"], key=int):
        run = results["scaling"][key]
        n = int(key)
        steps = run.get("peak_rss_mb_by_step", {})
        by_step = " / ".join(f"{steps[s]:.0f}" for s in (*_PIPELINE_STEPS, DBT_STEP) if s in steps)
        lines.append(
            f"  {n:>10,}{_f(run['seconds']):>9}{run['seconds'] / n * 1000:>9.2f}"
            f"{_f(run.get('referrals_per_second'), 0):>9}{_f(run['peak_rss_mb'], 0):>9}"
            f"{_f(run.get('stages', {}).get('dbt')):>8}  {by_step}"
        )
    lines.append(
        "  (peak MB by step: fetch / normalize / resolve / write / dbt step, the sync process alone)"
    )
    lines += ["", "Goals"]
    for goal in results["goals"]:
        verdict = "met" if goal["met"] else "NOT MET"
        lines.append(f"  {goal['goal']:<38} {goal['measured']:<50} {goal['target']:<26} {verdict}")
    return "\n".join(lines)


def _pair_lines(pairs: list[dict[str, Any]]) -> list[str]:
    """Our sync and dlt, run alternately: each pair's seconds and ratio, and the median ratio."""
    ratio, _ = median_ratio(pairs)
    if len(pairs) < 2 or ratio is None:
        return []
    shown = "; ".join(
        f"{_f(pair.get('ours_seconds'))} s vs {_f(pair.get('dlt_seconds'))} s = {_f(pair.get('ratio'), 2)}x"
        + (" (dlt first)" if pair.get("first") == "dlt" else "")
        for pair in pairs
    )
    return [
        f"  run alternately {len(pairs)} times (ours vs dlt): {shown}",
        f"  median ratio: {ratio:.2f}x (the speed drifts; the pairs after the first ran back to back)",
    ]


def _paging_floor_lines(paging: dict[str, Any] | None, ours: dict[str, Any], dlt_seconds: float) -> list[str]:
    """What paging alone and dbt alone leave of the ratio, whatever the rest of the job costs."""
    if not paging or not paging.get("records"):
        return []
    dbt = (ours.get("stages") or {}).get("dbt") or 0.0
    floor = paging["seconds"] + dbt
    return [
        f"  paging alone (the product's client reading every page, nothing processed or logged): "
        f"{paging['seconds']:.1f} s for {paging['records']:,} referrals",
        f"  paging + the dbt step ({dbt:.1f} s) = {floor:.1f} s: no job that pages and builds dbt_hunter "
        f"beats dlt by more than {dlt_seconds / floor:.2f}x here (3x needs {dlt_seconds / 3:.1f} s in all)",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default=",".join(str(s) for s in DEFAULT_SIZES),
        help="comma-separated referral counts of the scaling runs",
    )
    parser.add_argument(
        "--main-size", type=int, help="the size of items 1 to 4 (default 100000, else the middle)"
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"sizes {','.join(map(str, QUICK_SIZES))}: a smoke run"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-dlt", action="store_true", help="skip the dlt comparison")
    parser.add_argument("--no-duckdb", action="store_true", help="skip the DuckDB runs")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--pairs",
        type=int,
        default=3,
        help="our sync and dlt run this many times, alternately, at the main size; the ratio is their median",
    )
    args = parser.parse_args(argv)
    sizes = sorted(QUICK_SIZES if args.quick else {int(s) for s in args.sizes.split(",") if s.strip()})
    main_size = args.main_size or (100_000 if 100_000 in sizes else sizes[len(sizes) // 2])
    if main_size not in sizes:
        sizes = sorted({*sizes, main_size})
    workdir = Path(tempfile.mkdtemp(prefix="partner-center-bench-"))
    try:
        results = benchmark(
            sizes,
            main_size,
            args.seed,
            workdir,
            dlt=not args.no_dlt,
            duckdb=not args.no_duckdb,
            pairs=max(1, args.pairs),
        )
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    text = render(results)
    print()
    print(text)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{stamp}.json"
    path.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    print(f"\nFigures written to {path.relative_to(REPO_DIR)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
