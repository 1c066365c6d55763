"""DuckDB's write at scale, under its default memory limit: a large first load, then a rewrite.

``scale`` turns a resolved-referrals file into one ``--copies`` times as large (each copy's ids
suffixed and ``fetch_seq`` numbered on) and a changed version of it in which every referral has
another name and payload hash, so that a second write must replace every stored referral: what a
full refresh does after Partner Center changes every payload. ``write`` runs the product's own
``write_sync`` on one file into a DuckDB database (migrated first). Each is a child process of its
own, so each peak RSS is that step's alone.

    .venv/bin/python -m bench.duckdb_rewrite scale --resolved FILE --copies 3 --out DIR
    .venv/bin/python -m bench.duckdb_rewrite write --database-url URL --resolved FILE
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCALED = "scaled.parquet"
CHANGED = "scaled-changed.parquet"


def scale(resolved: Path, copies: int, out: Path) -> dict[str, Any]:
    """Write ``out/scaled.parquet`` and ``out/scaled-changed.parquet``; returns their row count."""
    import duckdb

    out.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect()
    source = conn.execute("SELECT max(fetch_seq) + 1 FROM read_parquet(?)", [str(resolved)]).fetchone()
    step = int(source[0] or 0)
    scaled = (
        f"SELECT * REPLACE (id || '-' || k AS id, fetch_seq + k * {step} AS fetch_seq) "
        f"FROM read_parquet('{resolved}'), range({copies}) copies(k) ORDER BY k, fetch_seq"
    )
    conn.execute(f"COPY ({scaled}) TO '{out / SCALED}' (FORMAT parquet, ROW_GROUP_SIZE 2000)")
    changed = (
        "SELECT * REPLACE ('Renamed ' || name AS name, payload_hash || '-changed' AS payload_hash) "
        f"FROM read_parquet('{out / SCALED}')"
    )
    conn.execute(f"COPY ({changed}) TO '{out / CHANGED}' (FORMAT parquet, ROW_GROUP_SIZE 2000)")
    rows = conn.execute("SELECT count(*) FROM read_parquet(?)", [str(out / SCALED)]).fetchone()
    return {"rows": int(rows[0]), "scaled": str(out / SCALED), "changed": str(out / CHANGED)}


def write(database_url: str, resolved: Path) -> dict[str, Any]:
    """The product's write of ``resolved`` into the database, timed, with its counters."""
    from partner_center_assets.hunter_db import migrate, sync_writer
    from partner_center_assets.hunter_db.engine import create_hunter_engine, duckdb_config

    engine = create_hunter_engine(database_url)
    migrate.upgrade(engine)
    run = sync_writer.SyncRunInfo(run_id=f"bench-rewrite-{time.time_ns()}", started_at=datetime.now(UTC))
    started = time.perf_counter()
    outcome = sync_writer.write_sync(engine, resolved, run)
    seconds = time.perf_counter() - started
    engine.dispose()
    return {
        "seconds": seconds,
        "memory_limit": duckdb_config()["memory_limit"],
        "fetched": outcome.fetched,
        "inserted": outcome.inserted,
        "updated": outcome.updated,
        "unchanged": outcome.unchanged,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.duckdb_rewrite", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("step", choices=("scale", "write"))
    parser.add_argument("--resolved", required=True, type=Path, help="a resolved_referrals.parquet file")
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--out", type=Path, help="where `scale` writes its files")
    parser.add_argument("--database-url", help="duckdb:/// URL for `write`")
    args = parser.parse_args(argv)
    if args.step == "scale":
        if args.out is None:
            parser.error("scale needs --out")
        result = scale(args.resolved, args.copies, args.out)
    else:
        if not args.database_url:
            parser.error("write needs --database-url")
        result = write(args.database_url, args.resolved)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
