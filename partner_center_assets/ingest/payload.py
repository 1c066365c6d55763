"""The stored form of a raw referral: NUL-free canonical JSON and its hash.

Postgres rejects ``\\u0000`` in ``TEXT`` and ``JSONB``, and any string that cannot be encoded as UTF-8
(a lone surrogate, which ``json.loads`` accepts from ``"\\ud800"``) fails every write the same way;
both are cleaned before anything is stored. The canonical text (sorted keys, compact) is what gets
stored and hashed, so an unchanged referral always hashes the same.

orjson writes it, several times faster than ``json``. Its text is the text ``json.dumps`` writes
with the same settings, except for floats below 1e-4 or from 1e16 up (``0.00001`` where ``json``
writes ``1e-05``); the encoder for what orjson refuses writes floats the way orjson does, so one
value always has one text.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

import orjson

NUL = "\u0000"
_SURROGATE = re.compile("[\ud800-\udfff]")
_REPLACEMENT = "\ufffd"
_ORJSON_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
"""Sorted keys; anything but plain JSON values goes to the iterative encoder, as it did with ``json``."""


def clean_text(text: str) -> str:
    """Remove NUL characters and replace lone surrogates with U+FFFD."""
    if NUL in text:
        text = text.replace(NUL, "")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = _SURROGATE.sub(_REPLACEMENT, text)
    return text


def strip_nul(value: Any) -> Any:
    """Return ``value`` with every string (dictionary keys included) passed through :func:`clean_text`.

    Walks the structure with an explicit stack, so nesting depth is bounded by memory, not by the
    interpreter's recursion limit. Tuples come back as lists; other values are returned unchanged.
    """
    if isinstance(value, str):
        return clean_text(value)
    if not isinstance(value, dict | list | tuple):
        return value
    root: dict[Any, Any] | list[Any] = {} if isinstance(value, dict) else []
    stack: list[tuple[Any, dict[Any, Any] | list[Any]]] = [(value, root)]
    while stack:
        source, target = stack.pop()
        pairs = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in pairs:
            if isinstance(item, str):
                cleaned: Any = clean_text(item)
            elif isinstance(item, dict):
                cleaned = {}
                stack.append((item, cleaned))
            elif isinstance(item, list | tuple):
                cleaned = []
                stack.append((item, cleaned))
            else:
                cleaned = item
            if isinstance(target, dict):
                target[clean_text(key) if isinstance(key, str) else key] = cleaned
            else:
                target.append(cleaned)
    return root


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys and literal non-ASCII characters.

    Values JSON cannot carry are written as ``null`` (NaN, infinities, integers too long to print)
    rather than failing the record; non-string keys are written the way ``json.dumps`` writes them.
    What orjson refuses (integers beyond 64 bits, lone surrogates, nesting past 255 levels, other
    types) goes to an encoder that writes the same text for what both accept.
    """
    encoded = _encoded(value)
    return encoded if isinstance(encoded, str) else encoded.decode()


def canonical_json_with_hash(value: Any) -> tuple[str, str]:
    """:func:`canonical_json` and its :func:`payload_hash`, hashing the bytes orjson wrote instead of
    encoding the text again (a sync does this for every referral)."""
    encoded = _encoded(value)
    if isinstance(encoded, str):
        return encoded, payload_hash(encoded)
    return encoded.decode(), hashlib.sha256(encoded).hexdigest()


def _encoded(value: Any) -> bytes | str:
    """orjson's UTF-8 bytes, or the iterative encoder's text for what orjson refuses."""
    try:
        return orjson.dumps(value, option=_ORJSON_OPTIONS)
    except TypeError:
        return _encode_iteratively(value)


def payload_hash(text: str) -> str:
    """SHA-256 hex digest of the UTF-8 encoded canonical text."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool | int | float):
        return _scalar(key).strip('"')
    return _text_of(key)


def _text_of(value: Any) -> str:
    try:
        return str(value)
    except Exception:
        return ""


def _scalar(value: Any) -> str:
    """JSON for a non-container, matching what orjson writes for the values it accepts."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        try:
            return int.__repr__(value)
        except ValueError:
            return "null"
    if isinstance(value, float):
        return orjson.dumps(value).decode() if math.isfinite(value) else "null"
    if isinstance(value, str):
        return _string(value)
    return _string(_text_of(value))


def _encode_iteratively(value: Any) -> str:
    """Same output as the fast path, for the values it cannot take (deep nesting, NaN, odd keys)."""
    out: list[str] = []
    stack: list[tuple[bool, Any]] = [(False, value)]
    while stack:
        is_text, item = stack.pop()
        if is_text:
            out.append(item)
        elif isinstance(item, dict):
            pairs = {_key(key): child for key, child in item.items()}
            parts: list[tuple[bool, Any]] = [(True, "{")]
            for index, key in enumerate(sorted(pairs)):
                parts.append((True, ("," if index else "") + _string(key) + ":"))
                parts.append((False, pairs[key]))
            parts.append((True, "}"))
            stack.extend(reversed(parts))
        elif isinstance(item, list | tuple):
            parts = [(True, "[")]
            for index, child in enumerate(item):
                if index:
                    parts.append((True, ","))
                parts.append((False, child))
            parts.append((True, "]"))
            stack.extend(reversed(parts))
        else:
            out.append(_scalar(item))
    return "".join(out)
