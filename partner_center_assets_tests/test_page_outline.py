"""A page's outline, read without building its records, says what a full parse of the page says, or
leaves the page to the full parse."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from partner_center_assets import tolerant_json
from partner_center_assets.client.page_outline import PageOutline, outline
from partner_center_assets.client.pages import check_page_body


def _fully(content: bytes) -> PageOutline:
    body = tolerant_json.loads(content)
    assert check_page_body(body) is None
    return PageOutline.of(body)


READ_ALIKE = {
    "plain": b'{"value":[{"id":"a","updatedDateTime":"2026-03-01T10:00:00Z"},'
    b'{"id":"b","updatedDateTime":"2026-03-02T10:00:00.1234567Z"}],'
    b'"@odata.nextLink":"https://api/next","@odata.count":2}',
    "no next link, no count": b'{"value":[{"updatedDateTime":"2026-03-01T10:00:00Z"}]}',
    "empty page": b'{"value":[]}',
    "empty next link": b'{"value":[{}],"@odata.nextLink":""}',
    "a repeated key, the last one counts": b'{"value":[{"updatedDateTime":"2026-01-01T00:00:00Z",'
    b'"updatedDateTime":"2026-05-01T00:00:00Z"}],"@odata.nextLink":"x","@odata.nextLink":"y"}',
    "timestamps that do not parse": b'{"value":[{"updatedDateTime":"yesterday"},{"updatedDateTime":7},'
    b'{"updatedDateTime":{"at":"2026-01-01T00:00:00Z"}},{"updatedDateTime":null}]}',
    "an integer beyond 64 bits elsewhere": b'{"value":[{"n":123456789012345678901234567890,'
    b'"updatedDateTime":"2026-03-01T10:00:00Z"}]}',
    "an integer beyond 64 bits as the timestamp": b'{"value":[{"updatedDateTime":123456789012345678901234}]}',
    "a count that is not an integer": b'{"value":[],"@odata.count":true}',
    "non-ASCII text": '{"value":[{"name":"Ĳssel café 😀","updatedDateTime":"2026-03-01T10:00Z"}]}'.encode(),
    "escapes": b'{"value":[{"name":"\\u00e9\\"\\\\\\n","updatedDateTime":"2026-03-01T10:00:00Z"}]}',
}


@pytest.mark.parametrize("content", READ_ALIKE.values(), ids=READ_ALIKE.keys())
def test_an_outline_reads_what_a_full_parse_reads(content: bytes) -> None:
    assert outline(content) == _fully(content)


def test_an_outline_has_the_newest_timestamp_the_count_and_the_next_link() -> None:
    assert outline(READ_ALIKE["plain"]) == PageOutline(
        record_count=2,
        newest_updated=datetime(2026, 3, 2, 10, 0, 0, 123456, tzinfo=UTC),
        next_link="https://api/next",
        odata_count=2,
    )


LEFT_TO_THE_FULL_PARSE = {
    "invalid UTF-8 in a string": b'{"value":[{"id":"\xff"}]}',
    "a byte-order mark": b'\xef\xbb\xbf{"value":[]}',
    "NaN": b'{"value":[{"n":NaN}]}',
    "an escaped lone surrogate": b'{"value":[{"id":"\\ud800"}]}',
    "nesting beyond the limit": b'{"value":[{"n":' + b"[" * 5000 + b"]" * 5000 + b"}]}",
    "a record that is not an object": b'{"value":[{"id":"a"},"b"]}',
    "no value array": b'{"items":[]}',
    "value not an array": b'{"value":{}}',
    "a next link that is not a string": b'{"value":[],"@odata.nextLink":42}',
    "not JSON": b'{"value":[}',
    "UTF-16": '{"value":[]}'.encode("utf-16"),
}


@pytest.mark.parametrize("content", LEFT_TO_THE_FULL_PARSE.values(), ids=LEFT_TO_THE_FULL_PARSE.keys())
def test_a_page_the_outline_cannot_vouch_for_is_left_to_the_full_parse(content: bytes) -> None:
    assert outline(content) is None


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
TIMESTAMPS = st.datetimes(timezones=st.just(UTC)).map(
    lambda moment: moment.isoformat().replace("+00:00", "Z")
)
RECORDS = st.dictionaries(
    st.sampled_from(["id", "name", "updatedDateTime", "customerProfile"]) | st.text(max_size=6),
    TIMESTAMPS | JSON_VALUES,
    max_size=5,
)
PAGES = st.fixed_dictionaries(
    {"value": st.lists(RECORDS | JSON_VALUES, max_size=6)},
    optional={"@odata.nextLink": st.text() | JSON_VALUES, "@odata.count": JSON_VALUES},
)


@settings(max_examples=300, deadline=None)
@given(page=PAGES, ascii_only=st.booleans())
def test_any_page_outlined_reads_as_its_full_parse_reads(page: dict[str, Any], ascii_only: bool) -> None:
    content = json.dumps(page, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")

    read = outline(content)

    if read is not None:
        assert read == _fully(content)
