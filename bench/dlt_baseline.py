"""The comparison of the benchmark: the same referrals loaded by a dlt ``rest_api`` pipeline.

A plain dlt pipeline does what a generic loader does: it follows ``@odata.nextLink`` pages, unnests
each referral into a parent table and child tables, and merges on ``id`` into PostgreSQL. It does no
domain resolution, no companies, leads, links or scan queue. Run as a child process by
``bench.run`` (so its peak RSS is its own); it prints one JSON object as its last line.

    .venv/bin/python -m bench.dlt_baseline --base-url URL --token TOKEN --ca-bundle CA \\
        --database-url postgresql://user:pass@host/db --work-dir DIR
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

DISCOVERY_FILTER = "direction eq 'Incoming' and (status eq 'New' or status eq 'Active')"
DATASET = "dlt_referrals"


def load(base_url: str, token: str, database_url: str, work_dir: Path) -> dict[str, Any]:
    """Run the pipeline once; returns seconds, rows loaded and the tables dlt made."""
    import dlt
    import psycopg
    from dlt.sources.rest_api import rest_api_source

    source = rest_api_source(
        {
            "client": {
                "base_url": base_url.rstrip("/") + "/v1.0/",
                "auth": {"type": "bearer", "token": token},
                "paginator": {"type": "json_link", "next_url_path": "['@odata.nextLink']"},
            },
            "resources": [
                {
                    "name": "referrals",
                    "primary_key": "id",
                    "write_disposition": "merge",
                    "endpoint": {
                        "path": "engagements/referrals",
                        "data_selector": "value",
                        "params": {
                            "$filter": DISCOVERY_FILTER,
                            "$orderby": "updatedDateTime desc",
                            "$top": 100,
                        },
                    },
                }
            ],
        }
    )
    pipeline = dlt.pipeline(
        pipeline_name="bench_referrals",
        destination=dlt.destinations.postgres(credentials=database_url),
        dataset_name=DATASET,
        pipelines_dir=str(work_dir),
    )
    started = time.monotonic()
    pipeline.run(source)
    seconds = time.monotonic() - started
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(f"SELECT count(*), count(DISTINCT id) FROM {DATASET}.referrals").fetchone()
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1",
                (DATASET,),
            ).fetchall()
            if not name.startswith("_dlt")
        ]
    return {"seconds": seconds, "rows": rows[0], "distinct_ids": rows[1], "tables": tables}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.dlt_baseline", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--base-url", required=True, help="the emulator's API base URL")
    parser.add_argument("--token", required=True, help="an App+User access token for the API")
    parser.add_argument("--ca-bundle", required=True, help="the emulator's CA certificate")
    parser.add_argument("--database-url", required=True, help="libpq URL of an empty PostgreSQL database")
    parser.add_argument("--work-dir", required=True, type=Path, help="where dlt keeps its pipeline state")
    args = parser.parse_args(argv)
    os.environ["REQUESTS_CA_BUNDLE"] = args.ca_bundle
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    print(json.dumps(load(args.base_url, args.token, args.database_url, args.work_dir)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
