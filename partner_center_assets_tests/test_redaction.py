"""HUNTER_PARTNER_CENTER_DROP_FIELDS: paths left out of the stored payload."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from partner_center_assets.ingest.normalize import normalize_referral
from partner_center_assets.ingest.redaction import PayloadTrimmer, drop_path
from partner_center_assets.settings import PREFIX, Settings, field_paths

REFERRAL = {
    "id": "r1",
    "createdDateTime": "2026-01-01T00:00:00Z",
    "updatedDateTime": "2026-01-02T00:00:00Z",
    "team": [{"email": "seller@microsoft.com", "phoneNumber": "+1 555"}],
    "customerProfile": {
        "name": "Contoso",
        "team": [
            {"email": "ann@contoso.com", "phoneNumber": "+44 20", "firstName": "Ann"},
            {"email": "bob@contoso.com", "phoneNumber": "+44 21"},
        ],
    },
}


def payload() -> dict:
    return json.loads(json.dumps(REFERRAL))


def test_a_top_level_field_is_dropped() -> None:
    trimmed = payload()

    assert drop_path(trimmed, ("team",))
    assert "team" not in trimmed and trimmed["customerProfile"]["team"]


def test_a_path_through_a_list_drops_the_field_of_every_item() -> None:
    trimmed = payload()

    drop_path(trimmed, ("customerProfile", "team", "phoneNumber"))

    assert trimmed["customerProfile"]["team"] == [
        {"email": "ann@contoso.com", "firstName": "Ann"},
        {"email": "bob@contoso.com"},
    ]


def test_a_path_that_is_not_there_changes_nothing() -> None:
    trimmed = payload()

    assert not drop_path(trimmed, ("customerProfile", "website", "host"))
    assert trimmed == REFERRAL


def test_lists_nested_ten_thousand_deep_do_not_exhaust_the_stack() -> None:
    deep: list = [{"secret": 1}]
    for _ in range(10_000):
        deep = [deep]

    assert drop_path({"x": deep}, ("x", "secret"))


def test_the_trimmed_payload_is_stored_canonically_with_its_own_hash() -> None:
    referral = normalize_referral(payload(), fetch_seq=0, stream="discovery")
    trimmer = PayloadTrimmer((("team",), ("customerProfile", "team", "phoneNumber")))

    trimmed = trimmer.trim(referral, json.loads(referral.raw_payload))
    expected = payload()
    del expected["team"]
    for member in expected["customerProfile"]["team"]:
        del member["phoneNumber"]
    reference = normalize_referral(expected, fetch_seq=0, stream="discovery")

    assert (trimmed.raw_payload, trimmed.payload_hash) == (reference.raw_payload, reference.payload_hash)
    assert trimmed.id == referral.id and trimmer.trimmed == 1


def test_a_referral_without_the_fields_is_left_as_it_is() -> None:
    referral = normalize_referral(payload(), fetch_seq=0, stream="discovery")
    trimmer = PayloadTrimmer((("consent",),))

    assert trimmer.trim(referral, json.loads(referral.raw_payload)) is referral
    assert trimmer.trimmed == 0


def test_paths_are_read_from_the_variable_without_repeats() -> None:
    settings = Settings.from_env({PREFIX + "DROP_FIELDS": "team, customerProfile.team.phoneNumber, team"})

    assert settings.drop_fields == (("team",), ("customerProfile", "team", "phoneNumber"))


@pytest.mark.parametrize("value", ["team..email", ".team", "team.", "customer profile", "team/email"])
def test_a_malformed_path_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match=f"{PREFIX}DROP_FIELDS must list dotted field paths"):
        field_paths(value)


KEYS = st.sampled_from(["team", "email", "phoneNumber", "customerProfile", "x"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=30,
)


def reachable(node: Any, path: tuple[str, ...]) -> bool:
    """Whether any value sits at ``path`` (lists standing for each item), found without dropping."""
    frontier = [node]
    for key in path:
        reached = []
        while frontier:
            item = frontier.pop()
            if isinstance(item, list):
                frontier.extend(item)
            elif isinstance(item, dict) and key in item:
                reached.append(item[key])
        frontier = reached
    return bool(frontier)


@given(json_values, st.lists(KEYS, min_size=1, max_size=3).map(tuple))
def test_after_a_drop_nothing_is_left_at_the_path_and_nothing_else_is_touched(
    value: Any, path: tuple
) -> None:
    before = json.dumps(value, sort_keys=True)
    trimmed = json.loads(before)

    removed = drop_path(trimmed, path)

    assert not reachable(trimmed, path)
    assert removed == reachable(json.loads(before), path)
    assert (json.dumps(trimmed, sort_keys=True) == before) == (not removed)
