"""The structured events are strict JSON, whatever the frames they come from hold."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from partner_center_assets.defs.partner_center.events import (
    INGESTED,
    SKIPPED,
    event_line,
    log_referral_events,
)


def strict_json(line: str) -> dict:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(line, parse_constant=refuse)


def test_a_skip_without_an_id_logs_a_null_id(caplog):
    skipped = pd.DataFrame({"id": [np.nan, "r-2"], "reason": ["invalid_payload", "no_domain"]})
    ingested = pd.DataFrame({"id": [], "domain": [], "action": []})
    with caplog.at_level(logging.DEBUG, logger="events-test"):
        log_referral_events(logging.getLogger("events-test"), ingested, skipped)
    events = [strict_json(record.getMessage()) for record in caplog.records]
    assert events == [
        {"event": SKIPPED, "id": None, "reason": "invalid_payload"},
        {"event": SKIPPED, "id": "r-2", "reason": "no_domain"},
    ]


def test_skips_are_logged_before_ingested_referrals_when_the_limit_cuts(caplog, monkeypatch):
    monkeypatch.setenv("HUNTER_PARTNER_CENTER_REFERRAL_EVENT_LIMIT", "3")
    ingested = pd.DataFrame(
        {"id": ["r-1", "r-2", "r-3"], "domain": ["a.com"] * 3, "action": ["inserted"] * 3}
    )
    skipped = pd.DataFrame({"id": ["r-4", "r-5"], "reason": ["no_domain", "duplicate"]})
    with caplog.at_level(logging.DEBUG, logger="events-test"):
        logged = log_referral_events(logging.getLogger("events-test"), ingested, skipped)
    events = [
        strict_json(record.getMessage()) for record in caplog.records if record.levelno == logging.DEBUG
    ]
    assert logged == 3
    assert [(event["event"], event["id"]) for event in events] == [
        (SKIPPED, "r-4"),
        (SKIPPED, "r-5"),
        (INGESTED, "r-1"),
    ]
    assert "2 further per-referral events were not logged" in caplog.records[-1].getMessage()


@pytest.mark.parametrize("missing", [None, np.nan, float("inf"), pd.NA, pd.NaT])
def test_every_kind_of_missing_value_is_written_as_null(missing):
    assert strict_json(event_line("e", value=missing)) == {"event": "e", "value": None}
