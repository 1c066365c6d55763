"""Structured events of the contract (§2): one JSON object per line with an ``"event"`` key.

They go through Dagster's logger, so they are in the run's event log and on stdout.
"""

from __future__ import annotations

import json
import logging
import math
import os
from typing import Any

import pandas as pd

FETCHED = "partner_center_referrals_fetched"
SKIPPED = "partner_center_referral_skipped"
INGESTED = "partner_center_referral_ingested"
SUMMARY = "partner_center_sync_summary"

REFERRAL_EVENT_LIMIT_VARIABLE = "HUNTER_PARTNER_CENTER_REFERRAL_EVENT_LIMIT"
DEFAULT_REFERRAL_EVENT_LIMIT = 1000


def event_line(event: str, **fields: Any) -> str:
    """Strict JSON: a missing value (``None``, pandas' ``NA``/``NaT``/``NaN``, an infinity) is ``null``."""
    values = {name: None if _missing(value) else value for name, value in fields.items()}
    return json.dumps({"event": event, **values}, default=str, ensure_ascii=False)


def is_event_line(message: str) -> bool:
    """Whether a log message is one of the structured events :func:`event_line` writes."""
    return message.startswith('{"event": ')


def _missing(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    return value is None or value is pd.NA or value is pd.NaT


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    logger.log(level, event_line(event, **fields))


def referral_event_limit() -> int:
    """Per-referral debug events per sync (each one is a stored Dagster event); -1 = no limit."""
    raw = os.environ.get(REFERRAL_EVENT_LIMIT_VARIABLE, "").strip()
    try:
        return int(raw) if raw else DEFAULT_REFERRAL_EVENT_LIMIT
    except ValueError:
        return DEFAULT_REFERRAL_EVENT_LIMIT


def log_referral_events(logger: logging.Logger, ingested: pd.DataFrame, skipped: pd.DataFrame) -> int:
    """Log ``partner_center_referral_skipped``/``_ingested`` at debug level, up to the limit.

    Skips come first: each one explains a referral that is not in Hunter, while an ingested one can
    be looked up in the tables. Only the rows that are logged become dicts: a sync of 300,000
    referrals logs 1,000 by default.
    """
    limit = referral_event_limit()
    total = len(ingested) + len(skipped)
    budget = total if limit < 0 else min(limit, total)
    logged = 0
    for event, frame in ((SKIPPED, skipped), (INGESTED, ingested)):
        rows = frame.head(budget - logged)
        for row in rows.to_dict("records"):
            log_event(logger, event, logging.DEBUG, **row)
        logged += len(rows)
    if total > logged:
        logger.info(
            f"{total - logged} further per-referral events were not logged "
            f"({REFERRAL_EVENT_LIMIT_VARIABLE}={limit}; -1 logs all)"
        )
    return logged
