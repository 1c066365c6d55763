"""The emulator's referrals, with the filtering, ordering and paging the list endpoint needs.

Each referral is kept as compact UTF-8 JSON plus a small index tuple (the filterable fields and the
two timestamps as sortable strings): pages are assembled by joining stored bytes, and 300,000
referrals fit in well under a gigabyte. A query's filtered, ordered id list is computed once and
kept as a *snapshot*; ``$skiptoken`` names the snapshot and an offset, so following next links
never re-filters or re-sorts, and a client paging while the data changes still walks one
consistent list (a referral changed meanwhile shows its new content; one removed is skipped).
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import sys
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from partner_center_assets import tolerant_json
from partner_center_assets.emulator.odata import (
    FILTER_FIELDS,
    And,
    Comparison,
    Node,
    Or,
    parse_filter,
    parse_orderby,
)
from partner_center_assets.heap import collector_off
from partner_center_assets.ingest.timestamps import parse_timestamp

_FIELD_PATHS = tuple(tuple(name.split("/")) for name in FILTER_FIELDS)
_POSITION = {name: index for index, name in enumerate(FILTER_FIELDS)}
_POSITION["createdDateTime"] = len(FILTER_FIELDS)
_POSITION["updatedDateTime"] = len(FILTER_FIELDS) + 1
_INTERNED = frozenset(
    {"status", "substatus", "direction", "type", "qualification", "customerProfile/address/country"}
)
_API_TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,7}))?Z")
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)

Entry = tuple[Any, ...]


@dataclass(frozen=True)
class RawReferral:
    """A referral served byte for byte as given: JSON that Python's own encoder would never write.

    ``fields`` holds what filtering and ordering read (``id``, the timestamps, the enum fields);
    ``text`` is what the API sends, e.g. a record nested 10,000 levels deep or holding a
    5,000-digit number, to show that one such record does not stop a sync.
    """

    text: bytes
    fields: dict[str, Any]


Predicate = Callable[[Entry], bool]


def sortable_timestamp(value: object) -> str:
    """A string that sorts like the instant (7 fractional digits, UTC); ``""`` when not a timestamp."""
    if not isinstance(value, str):
        return ""
    match = _API_TIMESTAMP.fullmatch(value)
    if match:
        return f"{match.group(1)}.{(match.group(2) or '').ljust(7, '0')}"
    parsed = parse_timestamp(value)
    if parsed is None:
        return ""
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"


def _index(referral: dict[str, Any]) -> Entry:
    values: list[Any] = []
    for name, path in zip(FILTER_FIELDS, _FIELD_PATHS, strict=True):
        value: Any = referral
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if not isinstance(value, str):
            value = None
        elif name in _INTERNED:
            value = sys.intern(value)
        values.append(value)
    values.append(sortable_timestamp(referral.get("createdDateTime")))
    values.append(sortable_timestamp(referral.get("updatedDateTime")))
    return tuple(values)


def _compile(node: Node) -> Predicate:
    if isinstance(node, Comparison):
        position, expected = _POSITION[node.field], node.value
        return lambda entry: entry[position] == expected
    parts = [_compile(part) for part in node.parts]
    if isinstance(node, And):
        if len(parts) == 2:
            first, second = parts
            return lambda entry: first(entry) and second(entry)
        return lambda entry: all(part(entry) for part in parts)
    assert isinstance(node, Or)
    if len(parts) == 2:
        first, second = parts
        return lambda entry: first(entry) or second(entry)
    return lambda entry: any(part(entry) for part in parts)


@dataclass(frozen=True)
class Snapshot:
    """The ordered ids matching one query at one version of the data."""

    id: str
    ids: list[str]
    version: int


class ReferralStore:
    """Thread-safe referral storage; the server answers requests from several threads."""

    def __init__(self, max_snapshots: int = 32) -> None:
        self._lock = threading.RLock()
        self._entries: dict[str, Entry] = {}
        self._bodies: dict[str, bytes] = {}
        self._version = 0
        self._queries: dict[tuple[str, tuple[tuple[str, bool], ...]], str] = {}
        self._snapshots: OrderedDict[str, Snapshot] = OrderedDict()
        self._max_snapshots = max_snapshots
        self._snapshot_prefix = secrets.token_hex(3)
        self._snapshot_numbers = itertools.count(1)

    @staticmethod
    def _encode(referrals: Iterable[Any]) -> tuple[dict[str, Entry], dict[str, bytes]]:
        entries: dict[str, Entry] = {}
        bodies: dict[str, bytes] = {}
        with collector_off():
            for referral in referrals:
                if isinstance(referral, RawReferral):
                    referral_id = str(referral.fields["id"])
                    entries[referral_id] = _index(referral.fields)
                    bodies[referral_id] = referral.text
                    continue
                referral_id = referral.get("id") if isinstance(referral, dict) else None
                if not isinstance(referral_id, str) or not referral_id:
                    # Broken records are served too (the real API is not trusted to be tidy);
                    # they get a private key that no get-by-id can reach.
                    referral_id = f"\u0000unkeyed-{uuid.uuid4().hex}"
                entries[referral_id] = _index(referral if isinstance(referral, dict) else {})
                bodies[referral_id] = _ENCODER.encode(referral).encode("utf-8")
        return entries, bodies

    def _changed(self) -> None:
        self._version += 1
        self._queries.clear()

    def replace(self, referrals: Iterable[dict[str, Any] | RawReferral]) -> int:
        """Replace every referral; returns how many are stored."""
        entries, bodies = self._encode(referrals)
        with self._lock:
            self._entries, self._bodies = entries, bodies
            self._changed()
            return len(entries)

    def upsert(self, referrals: Iterable[dict[str, Any] | RawReferral]) -> int:
        """Insert or replace by ``id`` (a replaced referral keeps its place); returns how many were given."""
        entries, bodies = self._encode(referrals)
        with self._lock:
            self._entries.update(entries)
            self._bodies.update(bodies)
            self._changed()
            return len(entries)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def version(self) -> int:
        return self._version

    def get(self, referral_id: str) -> bytes | None:
        return self._bodies.get(referral_id)

    def all(self) -> list[dict[str, Any]]:
        """Fresh copies of every referral, in store order."""
        with self._lock:
            bodies = list(self._bodies.values())
        with collector_off():
            return [tolerant_json.loads(b'{"value":[' + body + b"]}")["value"][0] for body in bodies]

    def query(self, filter_text: str | None, orderby_text: str | None) -> Snapshot:
        """The snapshot for this query, computed on first use after each data change.

        Raises ``ODataError`` for an expression outside the supported subset.
        """
        predicate = _compile(parse_filter(filter_text)) if filter_text and filter_text.strip() else None
        order = parse_orderby(orderby_text) if orderby_text and orderby_text.strip() else ()
        key = ((filter_text or "").strip(), order)
        with self._lock:
            snapshot_id = self._queries.get(key)
            if snapshot_id is not None and snapshot_id in self._snapshots:
                self._snapshots.move_to_end(snapshot_id)
                return self._snapshots[snapshot_id]
            entries = self._entries
            if predicate is None:
                ids = list(entries)
            else:
                ids = [referral_id for referral_id, entry in entries.items() if predicate(entry)]
            if order:
                ids.sort()
                for name, descending in reversed(order):
                    position = _POSITION[name]
                    ids.sort(key=lambda referral_id: entries[referral_id][position], reverse=descending)
            snapshot = Snapshot(
                f"{self._snapshot_prefix}{next(self._snapshot_numbers):x}", ids, self._version
            )
            self._snapshots[snapshot.id] = snapshot
            while len(self._snapshots) > self._max_snapshots:
                self._snapshots.popitem(last=False)
            self._queries[key] = snapshot.id
            return snapshot

    def snapshot(self, snapshot_id: str) -> Snapshot | None:
        with self._lock:
            snapshot = self._snapshots.get(snapshot_id)
            if snapshot is not None:
                self._snapshots.move_to_end(snapshot_id)
            return snapshot

    def page(self, snapshot: Snapshot, offset: int, size: int) -> list[bytes]:
        """The stored JSON of ``size`` referrals from ``offset``; ones removed since are skipped."""
        bodies = self._bodies
        page: list[bytes] = []
        for referral_id in snapshot.ids[offset : offset + size]:
            body = bodies.get(referral_id)
            if body is not None:
                page.append(body)
        return page
