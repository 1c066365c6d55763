"""The floor of the fetch: the product's own client paging through the discovery stream, nothing else.

No file is written, no record normalized and nothing logged to Dagster: the time is the API (the
emulator) answering, TLS, and reading each page as the fetch reads it (its outline). Whatever the
pipeline does, a full sync cannot take less than this plus its dbt build. Run as a child process by
``bench.run`` with the product's environment (the emulator's variables); it prints one JSON object
as its last line.

    .venv/bin/python -m bench.paging_floor
"""

from __future__ import annotations

import json
import time

from partner_center_assets.client import PartnerCenterClient, StreamStats, build_referral_query
from partner_center_assets.ingest.normalize import STREAM_DISCOVERY
from partner_center_assets.settings import Settings


def page_through() -> dict[str, float | int]:
    """Read every page of the discovery stream once; seconds include the sign-in."""
    settings = Settings.from_env()
    started = time.perf_counter()
    stats = StreamStats()
    query = build_referral_query(direction=settings.direction, statuses=settings.statuses, top=settings.top)
    with PartnerCenterClient.from_settings(settings) as client:
        for _ in client.iter_referral_pages(
            STREAM_DISCOVERY, query, cutoff=None, max_pages=settings.max_pages, stats=stats
        ):
            pass
    return {"seconds": time.perf_counter() - started, "pages": stats.pages, "records": stats.records}


if __name__ == "__main__":
    print(json.dumps(page_through()))
