"""Pages that are valid JSON but beyond Python's parser limits are read record by record."""

from __future__ import annotations

import json
import math

import pytest

from partner_center_assets import tolerant_json
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
