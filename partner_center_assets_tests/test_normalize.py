"""Contract §4.1 and the stored form of a referral: what normalization keeps, rejects and cleans."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from partner_center_assets.ingest.normalize import (
    NORMALIZED_COLUMNS,
    NORMALIZED_DTYPES,
    normalize_referral,
    to_frame,
)
from partner_center_assets.ingest.payload import canonical_json, payload_hash, strip_nul
from partner_center_assets.ingest.timestamps import EARLIEST, parse_timestamp, watermark_cutoff
from partner_center_assets.tolerant_json import placeholder


def referral(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": "c5fbb3b6-be74-4795-9fb5-4324c73fed37",
        "engagementId": "65edc0b5-3485-41b7-a17e-dfa9ef4706e2",
        "externalReferenceId": "CRM-1",
        "name": "Contoso - Dynamics 365 rollout",
        "createdDateTime": "2020-10-30T21:03:00.0000000Z",
        "updatedDateTime": "2020-10-31T08:15:12.4579542Z",
        "status": "Active",
        "substatus": "Accepted",
        "type": "Shared",
        "qualification": "SalesQualified",
        "direction": "Incoming",
        "customerProfile": {
            "name": "Fabrikam Customer Inc",
            "address": {"country": "US"},
            "team": [{"email": "sue.smith@fabrikam.com"}],
        },
        "details": {"dealValue": 50000, "currency": "USD"},
    }
    record.update(overrides)
    return record


def normalize(record: object) -> Any:
    return normalize_referral(record, fetch_seq=7, stream="discovery")


def test_documented_example_is_normalized_into_every_column() -> None:
    item = normalize(referral())
    assert item.invalid_detail is None
    assert (item.fetch_seq, item.stream) == (7, "discovery")
    assert item.id == "c5fbb3b6-be74-4795-9fb5-4324c73fed37"
    assert item.engagement_id == "65edc0b5-3485-41b7-a17e-dfa9ef4706e2"
    assert item.external_reference_id == "CRM-1"
    assert item.name == "Contoso - Dynamics 365 rollout"
    assert (item.status, item.substatus, item.type) == ("Active", "Accepted", "Shared")
    assert (item.qualification, item.direction) == ("SalesQualified", "Incoming")
    assert (item.customer_name, item.customer_country) == ("Fabrikam Customer Inc", "US")
    assert (item.deal_value, item.currency) == (50000.0, "USD")
    assert item.created_at == datetime(2020, 10, 30, 21, 3, tzinfo=UTC)
    assert item.updated_at == datetime(2020, 10, 31, 8, 15, 12, 457954, tzinfo=UTC)


@pytest.mark.parametrize(
    ("record", "detail"),
    [
        pytest.param([referral()], "not an object", id="array"),
        pytest.param("referral", "not an object", id="string"),
        pytest.param(None, "not an object", id="null"),
        pytest.param(3.5, "not an object", id="number"),
        pytest.param({k: v for k, v in referral().items() if k != "id"}, "id missing", id="id-missing"),
        pytest.param(referral(id=None), "id missing", id="id-null"),
        pytest.param(referral(id=42), "id not a string", id="id-number"),
        pytest.param(referral(id=["x"]), "id not a string", id="id-array"),
        pytest.param(referral(id=""), "id blank", id="id-empty"),
        pytest.param(referral(id=" \t "), "id blank", id="id-whitespace"),
        pytest.param(referral(id="\u0000"), "id blank", id="id-only-nul"),
        pytest.param(referral(id="x" * 1001), "id longer than 1000 bytes", id="id-too-long"),
        pytest.param(referral(id="é" * 501), "id longer than 1000 bytes", id="id-too-long-in-utf8"),
        pytest.param(referral(createdDateTime=None), "createdDateTime missing", id="created-null"),
        pytest.param(referral(createdDateTime="yesterday"), "createdDateTime unparseable", id="created-text"),
        pytest.param(referral(createdDateTime=1603400000), "createdDateTime unparseable", id="created-epoch"),
        pytest.param(referral(updatedDateTime=None), "updatedDateTime missing", id="updated-null"),
        pytest.param(
            referral(updatedDateTime="2020-13-01T00:00:00Z"), "updatedDateTime unparseable", id="month-13"
        ),
        pytest.param(referral(updatedDateTime={}), "updatedDateTime unparseable", id="updated-object"),
        pytest.param(
            placeholder("nested too deep", referral_id="x"),
            "unparseable record: nested too deep",
            id="unparseable",
        ),
    ],
)
def test_invalid_payloads_say_why(record: object, detail: str) -> None:
    assert normalize(record).invalid_detail == detail


def test_the_cutoff_is_the_watermark_minus_the_lookback() -> None:
    assert watermark_cutoff(datetime(2025, 1, 1, 1, 0, tzinfo=UTC), 60) == datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("watermark", "lookback"),
    [
        pytest.param(datetime(1, 1, 1, tzinfo=UTC), 60, id="year-1-watermark"),
        pytest.param(datetime(2025, 1, 1, tzinfo=UTC), 10**12, id="lookback-beyond-timedelta"),
    ],
)
def test_a_cutoff_before_year_1_is_the_earliest_time(watermark: datetime, lookback: int) -> None:
    assert watermark_cutoff(watermark, lookback) == EARLIEST


def test_an_id_of_the_longest_length_stored_is_valid() -> None:
    assert normalize(referral(id="é" * 500)).invalid_detail is None


def test_a_non_object_record_still_keeps_its_raw_payload() -> None:
    item = normalize(["a\u0000b", 1])
    assert json.loads(item.raw_payload) == ["ab", 1]
    assert item.payload_hash == payload_hash(item.raw_payload)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2020-10-30T21:03:42Z", datetime(2020, 10, 30, 21, 3, 42, tzinfo=UTC), id="0-digits"),
        pytest.param("2020-10-30T21:03:42.4Z", datetime(2020, 10, 30, 21, 3, 42, 400000, tzinfo=UTC), id="1"),
        pytest.param(
            "2020-10-30T21:03:42.45Z", datetime(2020, 10, 30, 21, 3, 42, 450000, tzinfo=UTC), id="2"
        ),
        pytest.param(
            "2020-10-30T21:03:42.457Z", datetime(2020, 10, 30, 21, 3, 42, 457000, tzinfo=UTC), id="3"
        ),
        pytest.param(
            "2020-10-30T21:03:42.4579Z", datetime(2020, 10, 30, 21, 3, 42, 457900, tzinfo=UTC), id="4"
        ),
        pytest.param(
            "2020-10-30T21:03:42.45795Z", datetime(2020, 10, 30, 21, 3, 42, 457950, tzinfo=UTC), id="5"
        ),
        pytest.param(
            "2022-03-07T05:08:23.810144Z", datetime(2022, 3, 7, 5, 8, 23, 810144, tzinfo=UTC), id="6"
        ),
        pytest.param(
            "2018-10-30T21:03:42.4579542Z", datetime(2018, 10, 30, 21, 3, 42, 457954, tzinfo=UTC), id="7"
        ),
        pytest.param("2020-10-30T23:03:42+02:00", datetime(2020, 10, 30, 21, 3, 42, tzinfo=UTC), id="offset"),
        pytest.param(
            "2020-10-30t21:03:42.5z",
            datetime(2020, 10, 30, 21, 3, 42, 500000, tzinfo=UTC),
            id="rfc3339-lower",
        ),
    ],
)
def test_timestamps_with_0_to_7_fractional_digits(text: str, expected: datetime) -> None:
    item = normalize(referral(updatedDateTime=text, createdDateTime=text))
    assert item.invalid_detail is None
    assert item.updated_at == expected
    assert item.created_at == expected
    assert item.updated_at.tzinfo == UTC


def _two_digits(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map("{:02d}".format)


@given(
    year=st.integers(0, 9999).map("{:04d}".format),
    month=_two_digits(0, 13),
    day=_two_digits(0, 32),
    hour=_two_digits(0, 25),
    minute=_two_digits(0, 60),
    second=_two_digits(0, 61),
    fraction=st.one_of(st.just(""), st.text("0123456789", min_size=1, max_size=12)),
)
def test_a_timestamp_of_the_apis_shape_is_its_fields_in_utc_or_none(
    year: str, month: str, day: str, hour: str, minute: str, second: str, fraction: str
) -> None:
    text = f"{year}-{month}-{day}T{hour}:{minute}:{second}{'.' + fraction if fraction else ''}Z"
    try:
        expected: datetime | None = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int(fraction[:6].ljust(6, "0")),
            UTC,
        )
    except ValueError:
        expected = None
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed is None or parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("2020-10-30T24:00:00Z", id="hour-24"),
        pytest.param("2020-10-30T21:03:60Z", id="second-60"),
        pytest.param("2021-02-29T00:00:00Z", id="not-a-leap-year"),
        pytest.param("2020-10-30T21:03:42.Z", id="point-without-digits"),
        pytest.param("2020-W44-5T21:03:42Z", id="week-date"),
        pytest.param("20201030T210342Z", id="basic-format"),
    ],
)
def test_timestamps_that_are_not_valid_utc_times_are_unparseable(text: str) -> None:
    assert parse_timestamp(text) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("Contoso", "Contoso", id="string-as-is"),
        pytest.param("  spaced  ", "  spaced  ", id="whitespace-kept"),
        pytest.param("Con\u0000toso", "Contoso", id="nul-removed"),
        pytest.param("Ünïcødé 🚀", "Ünïcødé 🚀", id="unicode-kept"),
        pytest.param(12, "12", id="integer"),
        pytest.param(1.5, "1.5", id="float"),
        pytest.param(True, "true", id="boolean"),
        pytest.param(None, None, id="null"),
        pytest.param({"a": 1}, None, id="object"),
        pytest.param(["a"], None, id="array"),
        pytest.param(float("nan"), None, id="nan"),
    ],
)
def test_text_fields(value: object, expected: str | None) -> None:
    assert normalize(referral(name=value)).name == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(50000, 50000.0, id="integer"),
        pytest.param(1234.56, 1234.56, id="float"),
        pytest.param("1234.50", 1234.5, id="numeric-string"),
        pytest.param(" -2e3 ", -2000.0, id="exponent-string-with-spaces"),
        pytest.param("1,000", None, id="thousands-separator"),
        pytest.param("1_000", None, id="underscore"),
        pytest.param("NaN", None, id="nan-string"),
        pytest.param("Infinity", None, id="infinity-string"),
        pytest.param("1e999", None, id="overflowing-string"),
        pytest.param(float("inf"), None, id="infinity"),
        pytest.param(10**400, None, id="huge-integer"),
        pytest.param(True, None, id="boolean"),
        pytest.param({"amount": 1}, None, id="object"),
        pytest.param(None, None, id="null"),
    ],
)
def test_deal_value(value: object, expected: float | None) -> None:
    assert normalize(referral(details={"dealValue": value})).deal_value == expected


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"customerProfile": None}, id="customer-profile-null"),
        pytest.param({"customerProfile": []}, id="customer-profile-array"),
        pytest.param({"customerProfile": {"address": "Redmond"}}, id="address-string"),
        pytest.param({"customerProfile": {"address": None, "name": None}}, id="address-null"),
        pytest.param({"details": None}, id="details-null"),
        pytest.param({"details": [1, 2]}, id="details-array"),
        pytest.param({"team": {"email": "x@contoso.com"}}, id="team-single-object"),
        pytest.param({"customerProfile": {"ids": {}}}, id="ids-empty-object"),
    ],
)
def test_wrong_shapes_leave_fields_empty_but_the_record_valid(overrides: dict[str, Any]) -> None:
    record = referral()
    record.pop("customerProfile")
    record.pop("details")
    item = normalize({**record, **overrides})
    assert item.invalid_detail is None
    assert (item.customer_name, item.customer_country, item.deal_value, item.currency) == (None,) * 4


def test_raw_payload_is_canonical_json_without_nul() -> None:
    item = normalize(referral(name="a\u0000b", **{"k\u0000ey": ["\u0000"]}))
    assert "\\u0000" not in item.raw_payload
    assert item.raw_payload == canonical_json(strip_nul(referral(name="ab", key=[""])))
    assert json.loads(item.raw_payload)["key"] == [""]


def test_key_order_does_not_change_the_hash() -> None:
    record = referral()
    reordered = dict(reversed(list(record.items())))
    assert normalize(record).payload_hash == normalize(reordered).payload_hash


def test_a_changed_field_changes_the_hash() -> None:
    assert normalize(referral()).payload_hash != normalize(referral(status="Closed")).payload_hash


def test_canonical_json_is_compact_sorted_and_keeps_non_ascii() -> None:
    assert canonical_json({"b": 1, "a": ["é", None, True]}) == '{"a":["é",null,true],"b":1}'


def test_canonical_json_writes_non_finite_numbers_as_null() -> None:
    assert canonical_json({"x": float("nan"), "y": [float("-inf")]}) == '{"x":null,"y":[null]}'


def test_canonical_json_writes_small_and_large_floats_in_one_way_whichever_encoder_runs() -> None:
    assert canonical_json([1e-05, 1e16]) == "[0.00001,1e+16]"
    assert canonical_json([1e-05, 1e16, 2**70]) == "[0.00001,1e+16,1180591620717411303424]"


def test_lone_surrogates_are_replaced_so_the_payload_encodes_as_utf8() -> None:
    item = normalize(referral(name="bad \ud800 text"))
    assert item.name == "bad \ufffd text"
    item.raw_payload.encode("utf-8")


def test_strip_nul_and_canonical_json_survive_deep_nesting() -> None:
    deep: Any = "x\u0000"
    for _ in range(100_000):
        deep = {"k": [deep]}
    cleaned = strip_nul(deep)
    text = canonical_json(cleaned)
    assert text.startswith('{"k":[{"k":[') and text.endswith("]}" * 100_000)
    assert '"x"' in text


def test_deeply_nested_record_is_normalized() -> None:
    deep: Any = None
    for _ in range(50_000):
        deep = [deep]
    item = normalize(referral(details={"notes": deep, "dealValue": 3}))
    assert item.invalid_detail is None
    assert item.deal_value == 3.0


def test_iterative_encoder_matches_the_fast_path() -> None:
    value = referral(extra={"z": [1, 2.5, -0.0, 1e-07, 1e16, 'é\n"', None, False], "a": {}})
    assert canonical_json({"wrap": value, "big": 2**70}) == (
        '{"big":1180591620717411303424,"wrap":' + canonical_json(value) + "}"
    )


def test_frame_has_fixed_columns_and_dtypes() -> None:
    items = [normalize(referral()), normalize(5)]
    frame = to_frame(items)
    assert tuple(frame.columns) == NORMALIZED_COLUMNS
    assert {name: str(dtype) for name, dtype in frame.dtypes.items()} == NORMALIZED_DTYPES
    assert frame.loc[0, "updated_at"] == pd.Timestamp("2020-10-31T08:15:12.457954Z")
    assert pd.isna(frame.loc[1, "id"])
    assert frame.loc[1, "invalid_detail"] == "not an object"


def test_empty_frame_has_the_same_columns_and_dtypes() -> None:
    frame = to_frame([])
    assert len(frame) == 0
    assert tuple(frame.columns) == NORMALIZED_COLUMNS
    assert {name: str(dtype) for name, dtype in frame.dtypes.items()} == NORMALIZED_DTYPES
