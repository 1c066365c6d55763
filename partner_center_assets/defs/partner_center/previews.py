"""Markdown previews for the UI: domains, statuses and counts, never contact emails or phones."""

from __future__ import annotations

import pandas as pd

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


def normalized_preview(frame: pd.DataFrame) -> str:
    if frame.empty:
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
    counts = frame.groupby(["stream", "status"], dropna=False).size().reset_index(name="referrals")
    return f"{_markdown(frame[columns])}\n\n**By stream and status**\n\n{_markdown(counts)}"


def resolved_preview(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_no rows_"
    columns = ["id", "status", "domain", "domain_source", "skip_reason", "new_skip_reason"]
    top = (
        frame[frame["domain"].notna()]
        .groupby("domain")
        .size()
        .sort_values(ascending=False)
        .reset_index(name="referrals")
    )
    return f"{_markdown(frame[columns])}\n\n**Top domains**\n\n{_markdown(top)}"


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
