"""Pages that are valid JSON but beyond Python's parser limits are read record by record."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from partner_center_assets import tolerant_json
from partner_center_assets.sync_files import SyncFiles, read_page_line
from partner_center_assets.tolerant_json import MAX_RECORD_DEPTH, UNPARSEABLE_KEY, UnreadableBody

GOOD = b'{"id":"good","name":"a \\"quoted\\" [name] {x}, y"}'
DEEP = b'{"name":"deep","id":"deep-1","extra":' + b"[" * 10_000 + b"]" * 10_000 + b"}"
HUGE = b'{"id":"huge","details":{"dealValue":' + b"9" * 5_000 + b"}}"


def page(*records: bytes, tail: bytes = b',"@odata.nextLink":"https://x/next"') -> bytes:
    return b'{"@odata.count":7,"value":[' + b",".join(records) + b"]" + tail + b"}"


def test_an_ordinary_page_is_parsed_as_json_loads_would() -> None:
    body = page(GOOD, b"42", b'"text"')
    assert tolerant_json.loads(body) == json.loads(body)


def test_a_record_nested_too_deep_becomes_a_placeholder_keeping_its_id() -> None:
    records = tolerant_json.loads(page(GOOD, DEEP, GOOD))["value"]
    assert records[0] == records[2] == json.loads(GOOD)
    assert records[1]["id"] == "deep-1"
    assert "10001 levels deep" in records[1][UNPARSEABLE_KEY]


def test_an_integer_longer_than_python_converts_becomes_an_infinity() -> None:
    records = tolerant_json.loads(page(HUGE, GOOD))["value"]
    assert math.isinf(records[0]["details"]["dealValue"])
    assert records[1] == json.loads(GOOD)


def test_the_page_members_around_the_records_are_kept() -> None:
    body = tolerant_json.loads(page(DEEP))
    assert body["@odata.count"] == 7
    assert body["@odata.nextLink"] == "https://x/next"


def test_scalar_records_keep_their_places_beside_a_deep_one() -> None:
    records = tolerant_json.loads(page(b"1", b"null", DEEP, b'"s"'))["value"]
    assert records[:2] == [1, None]
    assert UNPARSEABLE_KEY in records[2]
    assert records[3] == "s"


def test_a_record_just_within_the_depth_limit_is_parsed() -> None:
    nested = b"[" * (MAX_RECORD_DEPTH - 1) + b"]" * (MAX_RECORD_DEPTH - 1)
    records = tolerant_json.loads(page(b'{"id":"ok","x":' + nested + b"}", DEEP))["value"]
    assert records[0]["id"] == "ok"


def test_a_truncated_page_holding_a_deep_record_is_still_unreadable() -> None:
    with pytest.raises(UnreadableBody):
        tolerant_json.loads(page(GOOD, DEEP, GOOD)[:-40])


def test_a_deep_document_without_a_records_list_is_unreadable() -> None:
    with pytest.raises(UnreadableBody):
        tolerant_json.loads(b'{"error":' + b"[" * 10_000 + b"]" * 10_000 + b"}")


def test_text_that_is_not_json_raises_value_error() -> None:
    with pytest.raises(ValueError):
        tolerant_json.loads(b"<html>Service Unavailable</html>")


def test_the_records_key_can_be_named() -> None:
    line = b'{"stream":"discovery","records":[' + DEEP + b"]}"
    assert UNPARSEABLE_KEY in tolerant_json.loads(line, records_key="records")["records"][0]


def test_records_too_deep_to_write_are_replaced_before_writing() -> None:
    deep: list = []
    for _ in range(5_000):
        deep = [deep]
    safe = tolerant_json.dumps_records([{"id": "a"}, {"id": "b", "x": deep}])
    assert safe[0] == {"id": "a"}
    assert safe[1]["id"] == "b"
    assert UNPARSEABLE_KEY in safe[1]
    json.dumps(safe)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_any_json_text_parses_exactly_as_json_loads_parses_it(value: object) -> None:
    text = json.dumps(value)
    expected = repr(json.loads(text))
    assert repr(tolerant_json.loads(text)) == expected
    assert repr(tolerant_json.loads(text.encode())) == expected


@pytest.mark.parametrize(
    "number", [b"18446744073709551616", b"-9223372036854775809", b"12345678901234567890123"]
)
def test_an_integer_beyond_64_bits_stays_an_exact_integer(number: bytes) -> None:
    assert tolerant_json.loads(b'{"value":[' + number + b"]}")["value"] == [int(number)]


@pytest.mark.parametrize(
    "text",
    [b"[NaN, Infinity, -Infinity]", b'["\\ud800"]', b"\xef\xbb\xbf[1]", b"[1e400]", "[1]".encode("utf-16")],
)
def test_texts_orjson_refuses_are_parsed_by_json(text: bytes) -> None:
    assert repr(tolerant_json.loads(text)) == repr(json.loads(text))


def test_a_one_line_body_is_kept_in_the_pages_file_byte_for_byte() -> None:
    body = (
        b'{"value":[{"id":"r1","dealValue":1e-07,"name":"Caf\xc3\xa9"}],"@odata.nextLink":"https://x/next"}'
    )
    line = SyncFiles.page_line("discovery", 4, json.loads(body)["value"], body)
    assert body in line and line.endswith(b"}\n") and line.count(b"\n") == 1
    assert read_page_line(line) == {"stream": "discovery", "page": 4, "records": json.loads(body)["value"]}


@pytest.mark.parametrize(
    "body",
    [
        b'{"value":\n  [{"id":"r1"}]\n}',
        b"\xef\xbb\xbf" + b'{"value":[{"id":"r1"}]}',
        '{"value":[{"id":"r1"}]}'.encode("utf-16"),
    ],
)
def test_a_body_that_cannot_sit_on_one_line_is_kept_as_its_parsed_records(body: bytes) -> None:
    records = json.loads(body)["value"]
    line = SyncFiles.page_line("changes", 2, records, body)
    assert line.count(b"\n") == 1 and b'"records":' in line
    assert read_page_line(line) == {"stream": "changes", "page": 2, "records": records}


def test_a_records_line_keeps_a_record_too_deep_to_encode_as_a_placeholder() -> None:
    records = tolerant_json.loads(page(GOOD, DEEP))["value"]
    line = SyncFiles.page_line("discovery", 1, records)
    read = read_page_line(line)["records"]
    assert read[0] == json.loads(GOOD) and UNPARSEABLE_KEY in read[1]
