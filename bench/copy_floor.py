"""The write step against its floor.

``write-split`` runs the product's own write (``write_sync``) on a resolved-referrals file into an
empty Hunter database and times its parts: staging (the batch copied into a temporary table), merge
(classify and upsert ``partner_center_referrals``), links (companies, leads, lead links, scan
requests), the run row, and the commit. The parts are timed by wrapping the writer's module-level
steps, so the code measured is exactly the code that runs in a sync.

``floor`` loads the same rows, the ones an empty database ends up holding in
``partner_center_referrals``, with a plain ``COPY`` into an empty table shaped like it: the fastest
way PostgreSQL can take them, and the floor the upsert stage is measured against.

Run as child processes by ``bench.run``; each prints one JSON object as its last line.

    .venv/bin/python -m bench.copy_floor write-split --database-url URL --resolved FILE
    .venv/bin/python -m bench.copy_floor floor --database-url URL --resolved FILE
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from partner_center_assets.hunter_db.sync_writer import REFERRAL_COLUMNS, prefer_fast_compression

WRITER_PARTS = {
    "stage_parquet": "staging",
    "stage_frame": "staging",
    "_merge_referrals": "merge",
    "_link_referrals": "links",
    "_write_run_row": "run_row",
}


def _migrated_engine(database_url: str) -> Any:
    from partner_center_assets.hunter_db import migrate
    from partner_center_assets.hunter_db.engine import create_hunter_engine

    engine = create_hunter_engine(database_url)
    migrate.upgrade(engine)
    return engine


def write_split(database_url: str, resolved: Path) -> dict[str, Any]:
    """The product's write on ``resolved``, its parts timed; the database must be empty."""
    from partner_center_assets.hunter_db import sync_writer

    engine = _migrated_engine(database_url)
    seconds: dict[str, float] = {}

    def timed(part: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[part] = seconds.get(part, 0.0) + time.perf_counter() - started

        return wrapper

    wrapped = []
    for name, part in WRITER_PARTS.items():
        if hasattr(sync_writer, name):
            setattr(sync_writer, name, timed(part, getattr(sync_writer, name)))
            wrapped.append(name)
    marks: dict[str, float] = {}

    def before_commit(conn: Any) -> None:
        marks["before_commit"] = time.perf_counter()

    run = sync_writer.SyncRunInfo(run_id=f"bench-split-{time.time_ns()}", started_at=datetime.now(UTC))
    started = time.perf_counter()
    outcome = sync_writer.write_sync(engine, resolved, run, before_commit=before_commit)
    total = time.perf_counter() - started
    seconds["commit"] = total - (marks["before_commit"] - started) if "before_commit" in marks else 0.0
    engine.dispose()
    seconds["upsert"] = seconds.get("staging", 0.0) + seconds.get("merge", 0.0)
    return {
        "seconds": total,
        "parts": seconds,
        "wrapped": wrapped,
        "inserted": outcome.inserted,
        "fetched": outcome.fetched,
        "links_created": outcome.links_created,
        "links_existing": outcome.links_existing,
    }


def copy_floor(database_url: str, resolved: Path) -> dict[str, Any]:
    """A plain COPY of the referral rows into an empty table like ``partner_center_referrals``,
    sent by the same ``copy_parquet`` the product's write uses for new referrals."""
    import pyarrow.compute as pc

    from partner_center_assets.hunter_db.staging import copy_parquet

    engine = _migrated_engine(database_url)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE copy_floor (LIKE partner_center_referrals INCLUDING ALL)")
    started = time.perf_counter()
    with engine.begin() as conn:
        prefer_fast_compression(conn)  # the payload compression the product's write uses
        rows = copy_parquet(
            conn,
            "copy_floor",
            resolved,
            (*REFERRAL_COLUMNS, "first_synced_at", "last_synced_at"),
            keep=lambda batch: pc.and_(
                pc.is_null(batch.column("skip_reason")), pc.is_null(batch.column("new_skip_reason"))
            ),
            constants={"first_synced_at": now, "last_synced_at": now},
            read=["skip_reason", "new_skip_reason"],
        )
    seconds = time.perf_counter() - started
    with engine.connect() as conn:
        stored = int(conn.exec_driver_sql("SELECT count(*) FROM copy_floor").scalar_one())
    engine.dispose()
    return {"seconds": seconds, "rows": rows, "stored": stored}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.copy_floor", description=__doc__.split("\n\n")[0])
    parser.add_argument("measure", choices=("write-split", "floor"))
    parser.add_argument("--database-url", required=True, help="SQLAlchemy URL of an empty database")
    parser.add_argument("--resolved", required=True, type=Path, help="a resolved_referrals.parquet file")
    args = parser.parse_args(argv)
    measure = write_split if args.measure == "write-split" else copy_floor
    print(json.dumps(measure(args.database_url, args.resolved)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
