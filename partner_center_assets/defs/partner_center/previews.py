"""Markdown previews for the UI: domains, statuses and counts, never contact emails or phones."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import idna
import pandas as pd

from partner_center_assets.ingest.rules import RESOLVED_COLUMNS

PREVIEW_ROWS = 10


def _markdown(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_no rows_"
    return frame.head(PREVIEW_ROWS).to_markdown(index=False)


def streams_preview(streams: dict[str, dict[str, object]]) -> str:
    if not streams:
        return "_no stream read_"
    rows = [
        {
            "stream": name,
            **{k: stats.get(k) for k in ("pages", "records", "requests", "retries", "stop_reason")},
        }
        for name, stats in streams.items()
    ]
    return _markdown(pd.DataFrame(rows))


def normalized_preview(sample: Sequence[Any], by_stream_status: Mapping[tuple[str, Any], int]) -> str:
    """The first referrals (no contact data) and the count per stream and status."""
    if not by_stream_status:
        return "_no rows_"
    columns = [
        "id",
        "stream",
        "status",
        "substatus",
        "customer_country",
        "deal_value",
        "currency",
        "updated_at",
    ]
    rows = pd.DataFrame([{c: getattr(item, c) for c in columns} for item in sample])
    counts = pd.DataFrame(
        [
            {"stream": s, "status": status, "referrals": n}
            for (s, status), n in sorted(by_stream_status.items(), key=str)
        ]
    )
    return f"{_markdown(rows)}\n\n**By stream and status**\n\n{_markdown(counts)}"


def resolved_preview(sample: Sequence[tuple[Any, ...]], domains: Counter[str]) -> str:
    """The first referrals with their domain and skip reasons, and the most frequent domains."""
    if not sample:
        return "_no rows_"
    rows = pd.DataFrame([dict(zip(RESOLVED_COLUMNS, row, strict=True)) for row in sample])[
        ["id", "status", "domain", "domain_source", "skip_reason", "new_skip_reason"]
    ]
    top = pd.DataFrame(
        [
            {"domain": domain, "readable": _readable(domain), "referrals": n}
            for domain, n in domains.most_common(10)
        ]
    )
    return f"{_markdown(rows)}\n\n**Top domains**\n\n{_markdown(top)}"


def _readable(domain: str) -> str:
    """The Unicode form of an internationalized domain (``xn--…`` labels decoded)."""
    try:
        return idna.decode(domain) if "xn--" in domain else domain
    except idna.IDNAError:
        return domain


def actions_preview(actions: pd.DataFrame) -> str:
    if actions.empty:
        return "_nothing written_"
    counts = actions.groupby("action").size().reset_index(name="referrals")
    changed = actions[actions["action"] != "unchanged"]
    return f"{_markdown(counts)}\n\n{_markdown(changed)}"


def links_preview(links: pd.DataFrame) -> str:
    if links.empty:
        return "_no new links_"
    return _markdown(links)
