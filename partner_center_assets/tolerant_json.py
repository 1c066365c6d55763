"""JSON texts that Python's parser refuses although they are valid: one hostile record must not sink a page.

``json.loads`` rejects two kinds of valid JSON: integers longer than ``sys.get_int_max_str_digits()``
(ValueError) and nesting deeper than the interpreter's recursion limit (RecursionError). A page of
100 good referrals and one such record would otherwise look "not JSON", be retried and fail the sync.
:func:`loads` parses such a page record by record instead: an oversize integer becomes a float (an
infinity, which is stored as null like any other non-finite number), and a record nested deeper than
:data:`MAX_RECORD_DEPTH` is replaced by a placeholder that normalization skips as ``invalid_payload``,
keeping the record's ``id`` where it can be read.

Texts are parsed by orjson first, several times faster than ``json``. It is used only where it gives
exactly what ``json.loads`` gives: it refuses NaN, infinities, lone surrogates and byte-order marks
(then ``json`` decides), and a text with a run of 19 or more digits goes to ``json`` straight away,
because orjson would read an integer beyond 64 bits as a float.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from typing import Any

import orjson

UNPARSEABLE_KEY = "@hunter.unparseable"
"""Key of the placeholder that stands for a record the parser could not hold."""

MAX_RECORD_DEPTH = 64
"""Nesting a record may have when its page needs the tolerant path; real referrals nest about 4 deep."""

_DIGIT_LIMIT_HINT = "integer string conversion"
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},:]', re.DOTALL)
_ID_KEY = '"id"'
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"0" * 9)
_LONG_DIGIT_RUN = b"0" * 19


class UnreadableBody(ValueError):
    """The body is not JSON, or not a JSON object with a list of records where one is expected."""


def loads(content: bytes | str, *, records_key: str = "value") -> Any:
    """Parse a body; a page that trips the parser's limits is parsed record by record."""
    if not _has_long_digit_run(content):
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(content)
    except RecursionError:
        pass
    except ValueError as exc:
        if _DIGIT_LIMIT_HINT not in str(exc):
            raise
    text = content.decode(json.detect_encoding(content)) if isinstance(content, bytes) else content
    return _loads_record_by_record(text, records_key)


def _has_long_digit_run(content: bytes | str) -> bool:
    """Whether 19 or more ASCII digits follow each other anywhere in the text (a fast byte scan)."""
    data = content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass")
    return _LONG_DIGIT_RUN in data.translate(_DIGITS_AS_ZERO)


def dumps_records(records: Sequence[Any]) -> list[Any]:
    """``records`` with each one too deep for ``json.dumps`` replaced by a placeholder."""
    safe: list[Any] = []
    for record in records:
        try:
            json.dumps(record)
        except RecursionError:
            record = placeholder(
                f"nested deeper than the {MAX_RECORD_DEPTH} levels a record may have", record
            )
        except ValueError:
            record = placeholder("holds a number too long to write", record)
        safe.append(record)
    return safe


def placeholder(reason: str, record: object = None, *, referral_id: str | None = None) -> dict[str, Any]:
    """The record that stands for an unparseable one: its ``id`` (when known) and why it was dropped."""
    if referral_id is None and isinstance(record, dict) and isinstance(record.get("id"), str):
        referral_id = record["id"]
    stand_in: dict[str, Any] = {UNPARSEABLE_KEY: reason}
    if referral_id is not None:
        stand_in["id"] = referral_id
    return stand_in


def _bounded_int(digits: str) -> int | float:
    """An int, or for an integer longer than Python converts, the nearest float (an infinity)."""
    limit = sys.get_int_max_str_digits()
    if limit and len(digits.lstrip("-")) > limit:
        return float(digits)
    return int(digits)


def _loads_record_by_record(text: str, records_key: str) -> Any:
    spans = _record_spans(text, records_key)
    if spans is None:
        raise UnreadableBody(f"not a JSON object with a {records_key!r} list the parser can read")
    array_start, array_end, records = spans
    try:
        body = json.loads(text[:array_start] + "[]" + text[array_end:], parse_int=_bounded_int)
    except (RecursionError, ValueError):
        raise UnreadableBody("the page around its records is not JSON the parser can read") from None
    if not isinstance(body, dict):
        raise UnreadableBody("the page is not a JSON object")
    body[records_key] = [
        _record(text[start:end], depth, referral_id) for start, end, depth, referral_id in records
    ]
    return body


def _record(text: str, depth: int, referral_id: str | None) -> Any:
    if depth > MAX_RECORD_DEPTH:
        return placeholder(
            f"nested {depth} levels deep, more than the {MAX_RECORD_DEPTH} a record may have",
            referral_id=referral_id,
        )
    try:
        return json.loads(text, parse_int=_bounded_int)
    except (RecursionError, ValueError) as exc:
        return placeholder(f"not readable as JSON ({type(exc).__name__})", referral_id=referral_id)


def _record_spans(
    text: str, records_key: str
) -> tuple[int, int, list[tuple[int, int, int, str | None]]] | None:
    """Where the records array sits, and each record's span, nesting depth and top-level ``id``.

    A scan over string and punctuation tokens only (no recursion, whatever the depth); depth counts
    from the page object (1) and the records array (2), so a record object's own members sit at 3.
    """
    key = json.dumps(records_key)
    tokens = _TOKEN.finditer(text)
    depth = 0
    for match in tokens:
        token = match.group()
        if token in "{[":
            depth += 1
        elif token in "}]":
            depth -= 1
        elif depth == 1 and token == key and _next_is(text, match.end(), ":"):
            break
    else:
        return None
    colon = next(tokens, None)
    opening = next(tokens, None)
    if colon is None or opening is None or opening.group() != "[":
        return None
    array_start = opening.start()
    records: list[tuple[int, int, int, str | None]] = []
    start = opening.end()
    deepest = 0
    level = 0
    referral_id: str | None = None
    expect_id = False
    for match in tokens:
        token = match.group()
        if token in "{[":
            level += 1
            deepest = max(deepest, level)
        elif token in "}]":
            if level == 0:
                if text[start : match.start()].strip():
                    records.append((start, match.start(), deepest, referral_id))
                return array_start, match.end(), records
            level -= 1
        elif token == "," and level == 0:
            records.append((start, match.start(), deepest, referral_id))
            start, deepest, referral_id = match.end(), 0, None
        elif level == 1 and token == _ID_KEY and _next_is(text, match.end(), ":"):
            expect_id = True
            continue
        elif expect_id and level == 1 and token.startswith('"'):
            try:
                value = json.loads(token)
            except ValueError:
                value = None
            referral_id = value if isinstance(value, str) and referral_id is None else referral_id
        if token != ":":
            expect_id = False
    return None


def _next_is(text: str, position: int, char: str) -> bool:
    rest = text[position : position + 64].lstrip()
    return rest.startswith(char)
