"""The referral query: a filter built from configuration that configuration cannot subvert."""

from __future__ import annotations

import pytest

from partner_center_assets.client import build_referral_query
from partner_center_assets.client.query import quote_odata_string


def test_several_statuses_become_an_or_group() -> None:
    query = build_referral_query(direction="Incoming", statuses=["New", "Active"], top=200)

    assert query == {
        "$filter": "direction eq 'Incoming' and (status eq 'New' or status eq 'Active')",
        "$orderby": "updatedDateTime desc",
        "$top": "200",
    }


def test_one_status_is_not_a_group() -> None:
    query = build_referral_query(direction="Incoming", statuses=["Closed"], top=50)

    assert query["$filter"] == "direction eq 'Incoming' and status eq 'Closed'"
    assert query["$top"] == "50"


def test_orderby_can_be_chosen() -> None:
    query = build_referral_query(
        direction="Outgoing", statuses=["Active"], top=10, orderby="createdDateTime asc"
    )

    assert query["$orderby"] == "createdDateTime asc"


@pytest.mark.parametrize(
    "status",
    [
        "Active' or direction eq 'Outgoing",
        "Active')",
        "Active or 1 eq 1",
        "Act%27ive",
        "",
        "A" * 65,
        "Aktív",
    ],
)
def test_a_status_that_is_not_a_plain_enum_value_is_rejected(status: str) -> None:
    with pytest.raises(ValueError, match="not a plausible Partner Center value"):
        build_referral_query(direction="Incoming", statuses=["New", status], top=200)


def test_an_injected_direction_is_rejected() -> None:
    with pytest.raises(ValueError, match="direction"):
        build_referral_query(direction="Incoming' or 'a' eq 'a", statuses=["Active"], top=200)


def test_a_single_string_is_not_taken_for_a_list_of_statuses() -> None:
    with pytest.raises(ValueError, match="sequence"):
        build_referral_query(direction="Incoming", statuses="Active", top=200)


def test_no_status_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least one"):
        build_referral_query(direction="Incoming", statuses=[], top=200)


@pytest.mark.parametrize("top", [0, -1, True])
def test_top_must_be_a_positive_whole_number(top: int) -> None:
    with pytest.raises(ValueError, match="top"):
        build_referral_query(direction="Incoming", statuses=["Active"], top=top)


def test_an_injected_orderby_is_rejected() -> None:
    with pytest.raises(ValueError, match="orderby"):
        build_referral_query(
            direction="Incoming", statuses=["Active"], top=1, orderby="updatedDateTime desc&$top=999"
        )


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("Active", "'Active'"),
        ("O'Neil", "'O''Neil'"),
        ("' or 'a' eq 'a", "''' or ''a'' eq ''a'"),
        ("''", "''''''"),
    ],
)
def test_string_literals_double_single_quotes(value: str, literal: str) -> None:
    assert quote_odata_string(value) == literal
