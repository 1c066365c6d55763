"""Contract §4: skip reasons, their precedence, duplicates within a sync, and the counters."""

from __future__ import annotations

from typing import Any

import pytest

from partner_center_assets.ingest.domains import DomainResolver
from partner_center_assets.ingest.normalize import NormalizedReferral, normalize_referral
from partner_center_assets.ingest.reasons import SKIP_REASONS, SkipReason, empty_skip_counts
from partner_center_assets.ingest.rules import (
    RESOLVED_COLUMNS,
    RESOLVED_DTYPES,
    SyncCounters,
    mark_duplicates,
    new_referral_skip_reason,
    resolve_batch,
    resolved_to_frame,
)


def referral(identifier: str = "r1", **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": identifier,
        "createdDateTime": "2024-01-01T00:00:00Z",
        "updatedDateTime": "2024-01-02T00:00:00Z",
        "status": "Active",
        "substatus": "Accepted",
        "direction": "Incoming",
        "customerProfile": {"name": "Fabrikam", "team": [{"email": "sue@fabrikam.com"}]},
    }
    record.update(overrides)
    return record


def normalized(seq: int, record: object, stream: str = "discovery") -> NormalizedReferral:
    return normalize_referral(record, fetch_seq=seq, stream=stream)


def test_skip_reasons_are_the_contracts_names_in_its_order() -> None:
    assert SKIP_REASONS == (
        "invalid_payload",
        "duplicate",
        "direction_not_incoming",
        "status_not_allowed",
        "substatus_excluded",
        "no_domain",
    )
    assert empty_skip_counts() == dict.fromkeys(SKIP_REASONS, 0)


NEW_REFERRAL_CASES = [
    pytest.param({}, "fabrikam.com", None, id="all-rules-hold"),
    pytest.param({"status": "New", "substatus": "Pending"}, "fabrikam.com", None, id="new-pending"),
    pytest.param({"substatus": None}, "fabrikam.com", None, id="no-substatus-is-not-excluded"),
    pytest.param({"direction": "Outgoing"}, "fabrikam.com", "direction_not_incoming", id="outgoing"),
    pytest.param({"direction": None}, "fabrikam.com", "direction_not_incoming", id="direction-missing"),
    pytest.param(
        {"direction": " incoming "}, "fabrikam.com", None, id="direction-case-and-space-insensitive"
    ),
    pytest.param({"status": "Closed"}, "fabrikam.com", "status_not_allowed", id="closed"),
    pytest.param({"status": "None"}, "fabrikam.com", "status_not_allowed", id="status-none-enum"),
    pytest.param({"status": None}, "fabrikam.com", "status_not_allowed", id="status-missing"),
    pytest.param({"status": "active"}, "fabrikam.com", None, id="status-case-insensitive"),
    pytest.param({"substatus": "Declined"}, "fabrikam.com", "substatus_excluded", id="declined"),
    pytest.param({"substatus": "Lost"}, "fabrikam.com", "substatus_excluded", id="lost"),
    pytest.param({"substatus": "Expired"}, "fabrikam.com", "substatus_excluded", id="expired"),
    pytest.param({"substatus": "Error"}, "fabrikam.com", "substatus_excluded", id="error"),
    pytest.param({"substatus": "Won"}, "fabrikam.com", None, id="won-not-excluded"),
    pytest.param({}, None, "no_domain", id="no-domain"),
    pytest.param(
        {"direction": "Outgoing", "status": "Closed"}, None, "direction_not_incoming", id="direction-first"
    ),
    pytest.param(
        {"status": "Closed", "substatus": "Lost"}, None, "status_not_allowed", id="status-before-substatus"
    ),
    pytest.param({"substatus": "Declined"}, None, "substatus_excluded", id="substatus-before-domain"),
]


@pytest.mark.parametrize(("overrides", "domain", "expected"), NEW_REFERRAL_CASES)
def test_new_referral_skip_reason(
    overrides: dict[str, Any], domain: str | None, expected: str | None
) -> None:
    item = normalized(0, referral(**overrides))
    assert new_referral_skip_reason(item, domain=domain, direction="Incoming") == expected


def test_configured_direction_is_what_counts() -> None:
    item = normalized(0, referral(direction="Outgoing"))
    assert new_referral_skip_reason(item, domain="fabrikam.com", direction="Outgoing") is None
    assert (
        new_referral_skip_reason(item, domain="fabrikam.com", direction="Incoming")
        == "direction_not_incoming"
    )


DUPLICATE_CASES = [
    pytest.param(
        ["2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"], {0}, id="later-update-kept-when-fetched-last"
    ),
    pytest.param(
        ["2024-01-03T00:00:00Z", "2024-01-02T00:00:00Z"], {1}, id="later-update-kept-when-fetched-first"
    ),
    pytest.param(["2024-01-02T00:00:00Z", "2024-01-02T00:00:00Z"], {0}, id="tie-fetched-last-kept"),
    pytest.param(
        ["2024-01-02T00:00:00.0000011Z", "2024-01-02T00:00:00.0000019Z"], {0}, id="seventh-digit-ignored-tie"
    ),
    pytest.param(
        ["2024-01-02T00:00:00.000002Z", "2024-01-02T00:00:00.000001Z"], {1}, id="microseconds-compared"
    ),
    pytest.param(
        ["2024-01-02T02:00:00+02:00", "2024-01-02T00:00:00Z"],
        {0},
        id="same-instant-different-offset-is-a-tie",
    ),
    pytest.param(
        ["2024-01-01T00:00:00Z", "2024-01-05T00:00:00Z", "2024-01-03T00:00:00Z"], {0, 2}, id="three-copies"
    ),
]


@pytest.mark.parametrize(("updates", "expected"), DUPLICATE_CASES)
def test_duplicates_keep_latest_update_then_last_fetched(updates: list[str], expected: set[int]) -> None:
    items = [normalized(seq, referral(updatedDateTime=value)) for seq, value in enumerate(updates)]
    assert mark_duplicates(items) == dict.fromkeys(expected, SkipReason.DUPLICATE)


def test_duplicates_span_both_streams() -> None:
    items = [normalized(0, referral(), "discovery"), normalized(1, referral(status="Closed"), "changes")]
    assert mark_duplicates(items) == {0: SkipReason.DUPLICATE}


def test_distinct_ids_are_not_duplicates() -> None:
    items = [normalized(0, referral("a")), normalized(1, referral("b"))]
    assert mark_duplicates(items) == {}


def test_invalid_copies_are_not_counted_as_duplicates() -> None:
    items = [normalized(0, referral(updatedDateTime="garbage")), normalized(1, referral())]
    assert mark_duplicates(items) == {}


def test_counters_start_with_every_reason_at_zero() -> None:
    assert SyncCounters().as_event_fields() == {
        "fetched": 0,
        "inserted": 0,
        "updated": 0,
        "unchanged": 0,
        **{f"skipped_{reason}": 0 for reason in SKIP_REASONS},
    }


def test_counters_add_up() -> None:
    counters = SyncCounters(fetched=5, inserted=1, updated=1, unchanged=1)
    counters.add_skip(SkipReason.NO_DOMAIN)
    counters.add_skip("duplicate")
    assert counters.total_accounted() == counters.fetched
    assert counters.as_event_fields()["skipped_no_domain"] == 1
    assert counters.skipped["duplicate"] == 1


def test_unknown_skip_reason_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown skip reason"):
        SyncCounters().add_skip("bored")


def test_resolve_batch_applies_rules_in_contract_order() -> None:
    records: list[tuple[str, object]] = [
        ("discovery", referral("ok")),
        ("discovery", "not a referral"),
        ("discovery", referral("dup", updatedDateTime="2024-01-01T00:00:00Z")),
        ("discovery", referral("closed", status="Closed")),
        ("discovery", referral("nodomain", customerProfile={"team": [{"email": "a@gmail.com"}]})),
        ("changes", referral("dup", updatedDateTime="2024-02-01T00:00:00Z", status="Closed")),
    ]
    resolved = resolve_batch(records, DomainResolver(), "Incoming")
    summary = [(r.referral.id, r.skip_reason, r.new_skip_reason, r.domain) for r in resolved]
    assert summary == [
        ("ok", None, None, "fabrikam.com"),
        (None, "invalid_payload", None, None),
        ("dup", "duplicate", None, "fabrikam.com"),
        ("closed", None, "status_not_allowed", "fabrikam.com"),
        ("nodomain", None, "no_domain", None),
        ("dup", None, "status_not_allowed", "fabrikam.com"),
    ]
    assert [r.referral.fetch_seq for r in resolved] == list(range(6))
    assert [r.referral.stream for r in resolved][-1] == "changes"
    assert resolved[4].domain_detail == "consumer_domain"
    assert resolved[0].domain_source == "customer_team"


def test_resolve_batch_uses_own_domains_of_the_resolver() -> None:
    resolved = resolve_batch([("discovery", referral())], DomainResolver(["fabrikam.com"]), "Incoming")
    assert resolved[0].new_skip_reason == "no_domain"
    assert resolved[0].domain_detail == "own_domain"


def test_resolved_frame_has_fixed_columns_and_dtypes() -> None:
    resolved = resolve_batch([("discovery", referral()), ("discovery", 1)], DomainResolver(), "Incoming")
    frame = resolved_to_frame(resolved)
    assert tuple(frame.columns) == RESOLVED_COLUMNS
    assert {name: str(dtype) for name, dtype in frame.dtypes.items()} == RESOLVED_DTYPES
    assert list(frame["skip_reason"].fillna("-")) == ["-", "invalid_payload"]
    assert frame.loc[0, "domain"] == "fabrikam.com"


def test_resolved_frame_with_no_rows() -> None:
    frame = resolved_to_frame([])
    assert len(frame) == 0
    assert {name: str(dtype) for name, dtype in frame.dtypes.items()} == RESOLVED_DTYPES
