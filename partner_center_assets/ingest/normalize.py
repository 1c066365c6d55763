"""One fetched referral reduced to the columns Hunter stores, whatever JSON value it came as.

Normalization never raises: a record that breaks rule §4.1 of the contract comes back with
``invalid_detail`` set, and every field that has the wrong shape is simply ``None`` (the raw payload
still holds it). Only the small flat record is kept; the parsed payload can be dropped right after.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from partner_center_assets.ingest.payload import canonical_json_with_hash, strip_nul
from partner_center_assets.ingest.timestamps import parse_timestamp
from partner_center_assets.tolerant_json import UNPARSEABLE_KEY

STREAM_DISCOVERY = "discovery"
STREAM_CHANGES = "changes"

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_MAX_NUMBER_TEXT = 64
MAX_ID_BYTES = 1000
"""Longest referral id stored, in UTF-8 bytes. Partner Center ids are GUIDs; PostgreSQL cannot index
a key past about 2,700 bytes, and one such id would otherwise fail every sync's write."""


@dataclass(frozen=True, slots=True)
class NormalizedReferral:
    """The stored columns of one fetched referral, plus where it came in the fetch order."""

    fetch_seq: int
    stream: str
    id: str | None
    engagement_id: str | None
    external_reference_id: str | None
    name: str | None
    status: str | None
    substatus: str | None
    type: str | None
    qualification: str | None
    direction: str | None
    customer_name: str | None
    customer_country: str | None
    deal_value: float | None
    currency: str | None
    created_at: datetime | None
    updated_at: datetime | None
    raw_payload: str
    payload_hash: str
    invalid_detail: str | None

    @property
    def is_valid(self) -> bool:
        return self.invalid_detail is None


NORMALIZED_COLUMNS: tuple[str, ...] = tuple(NormalizedReferral.__dataclass_fields__)

_TEXT = "string"
_TIMESTAMP = "datetime64[us, UTC]"
NORMALIZED_DTYPES: dict[str, str] = {
    **dict.fromkeys(NORMALIZED_COLUMNS, _TEXT),
    "fetch_seq": "int64",
    "deal_value": "float64",
    "created_at": _TIMESTAMP,
    "updated_at": _TIMESTAMP,
}


def normalize_referral(record: object, *, fetch_seq: int, stream: str) -> NormalizedReferral:
    """Normalize one record as fetched; see :func:`normalize_with_payload` to reuse the cleaned dict."""
    return normalize_with_payload(record, fetch_seq=fetch_seq, stream=stream)[0]


def normalize_with_payload(record: object, *, fetch_seq: int, stream: str) -> tuple[NormalizedReferral, Any]:
    """Normalize ``record`` and also return it NUL-free, for domain resolution before it is dropped."""
    raw_payload, digest = canonical_json_with_hash(record)
    if "\\u0000" in raw_payload or not _utf8_safe(raw_payload):
        record = strip_nul(record)
        raw_payload, digest = canonical_json_with_hash(record)
    if not isinstance(record, Mapping):
        referral = NormalizedReferral(fetch_seq, stream, *([None] * 15), raw_payload, digest, "not an object")
        return referral, record
    customer = _mapping(record.get("customerProfile"))
    address = _mapping(customer.get("address"))
    details = _mapping(record.get("details"))
    created_at = parse_timestamp(record.get("createdDateTime"))
    updated_at = parse_timestamp(record.get("updatedDateTime"))
    referral = NormalizedReferral(
        fetch_seq=fetch_seq,
        stream=stream,
        id=_text(record.get("id")),
        engagement_id=_text(record.get("engagementId")),
        external_reference_id=_text(record.get("externalReferenceId")),
        name=_text(record.get("name")),
        status=_text(record.get("status")),
        substatus=_text(record.get("substatus")),
        type=_text(record.get("type")),
        qualification=_text(record.get("qualification")),
        direction=_text(record.get("direction")),
        customer_name=_text(customer.get("name")),
        customer_country=_text(address.get("country")),
        deal_value=_number(details.get("dealValue")),
        currency=_text(details.get("currency")),
        created_at=created_at,
        updated_at=updated_at,
        raw_payload=raw_payload,
        payload_hash=digest,
        invalid_detail=_invalid_detail(record, created_at, updated_at),
    )
    return referral, record


def to_frame(items: Iterable[NormalizedReferral]) -> pd.DataFrame:
    """A frame with :data:`NORMALIZED_COLUMNS` and :data:`NORMALIZED_DTYPES`, also for no rows."""
    return frame_of(
        ((getattr(item, column) for column in NORMALIZED_COLUMNS) for item in items), NORMALIZED_DTYPES
    )


def frame_of(rows: Iterable[Iterable[Any]], dtypes: Mapping[str, str]) -> pd.DataFrame:
    """Build a frame column by column with fixed dtypes (timestamps as UTC microseconds)."""
    columns: list[list[Any]] = [[] for _ in dtypes]
    for row in rows:
        for values, value in zip(columns, row, strict=True):
            values.append(value)
    return pd.DataFrame(
        {
            name: pd.Series(values, dtype=dtype)
            for (name, dtype), values in zip(dtypes.items(), columns, strict=True)
        }
    )


def _invalid_detail(record: Mapping[str, Any], created_at: object, updated_at: object) -> str | None:
    unparseable = record.get(UNPARSEABLE_KEY)
    if unparseable is not None:
        return f"unparseable record: {unparseable}"
    identifier = record.get("id")
    if identifier is None:
        return "id missing"
    if not isinstance(identifier, str):
        return "id not a string"
    if not identifier.strip():
        return "id blank"
    if len(identifier) * 4 > MAX_ID_BYTES and len(identifier.encode("utf-8", "replace")) > MAX_ID_BYTES:
        return f"id longer than {MAX_ID_BYTES} bytes"
    for field, parsed in (("createdDateTime", created_at), ("updatedDateTime", updated_at)):
        if record.get(field) is None:
            return f"{field} missing"
        if parsed is None:
            return f"{field} unparseable"
    return None


def _utf8_safe(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    """Strings as they are; numbers and booleans as text; anything else (objects, arrays) ``None``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:
            return None
    if isinstance(value, float) and math.isfinite(value):
        return str(value)
    return None


def _number(value: object) -> float | None:
    """A finite float from a JSON number or a plain numeric string; anything else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if len(text) > _MAX_NUMBER_TEXT or not _NUMBER.fullmatch(text):
            return None
        value = text
    elif not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return None
    return number if math.isfinite(number) else None
