"""Domain resolution and the database-free rules over stored rows of normalized referrals.

The pipeline keeps normalized referrals on disk between steps and streams them through here in
bounded batches: duplicates are found from four small columns first, then each batch's stored
(NUL-free) payloads are resolved to domains and §4.1, §4.2 and §4.4 applied. Only the columns the
rules read are turned into Python values; the step adds the decisions to the batch as it was read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from partner_center_assets import tolerant_json
from partner_center_assets.ingest.domains import DomainResolver
from partner_center_assets.ingest.reasons import SkipReason
from partner_center_assets.ingest.redaction import PayloadTrimmer
from partner_center_assets.ingest.rules import RESOLVED_EXTRA_COLUMNS, Decision, decide, mark_duplicates

DUPLICATE_KEY_COLUMNS = ("fetch_seq", "id", "updated_at", "invalid_detail")


class DuplicateKeyRow(NamedTuple):
    """The columns duplicate detection needs, without the payload."""

    fetch_seq: int
    id: str | None
    updated_at: datetime | None
    invalid_detail: str | None


class RuleRow(NamedTuple):
    """The columns resolution reads of a normalized referral (:data:`RULE_COLUMNS`)."""

    fetch_seq: int
    direction: str | None
    status: str | None
    substatus: str | None
    invalid_detail: str | None
    raw_payload: str


RULE_COLUMNS: tuple[str, ...] = RuleRow._fields


def find_duplicates(batches: Iterable[pa.RecordBatch]) -> dict[int, SkipReason]:
    """``fetch_seq`` → DUPLICATE, from batches of :data:`DUPLICATE_KEY_COLUMNS` in fetch order.

    Only the rows of an id that more than one valid row carries become Python values for
    :func:`mark_duplicates`; the others cannot be duplicates. On the normalized referrals of a sync
    of 100,000, reading the columns included: 0.051 s, against 0.61 s with a tuple for every row.
    """
    read = list(batches)
    if not read:
        return {}
    table = pa.Table.from_batches(read)
    valid = table.filter(pc.and_(pc.is_null(table["invalid_detail"]), pc.is_valid(table["id"])))
    counts = pc.value_counts(valid["id"])
    repeated = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
    candidates = valid.filter(pc.is_in(valid["id"], value_set=repeated))
    rows = zip(*(candidates[name].to_pylist() for name in DUPLICATE_KEY_COLUMNS), strict=True)
    return mark_duplicates([DuplicateKeyRow(*row) for row in rows])


@dataclass
class ResolvedBatch:
    """The decisions for a batch of rows, in order, and the payloads trimmed (row → text, hash)."""

    decisions: list[Decision] = field(default_factory=list)
    trimmed: dict[int, tuple[str, str]] = field(default_factory=dict)

    def decision_columns(self) -> dict[str, list[str | None]]:
        """:data:`RESOLVED_EXTRA_COLUMNS` as lists of stored values, also for no rows."""
        rows = [decision.as_row() for decision in self.decisions]
        return {name: [row[index] for row in rows] for index, name in enumerate(RESOLVED_EXTRA_COLUMNS)}


def resolve_columns(
    columns: Mapping[str, Sequence[Any]],
    duplicates: Mapping[int, SkipReason],
    resolver: DomainResolver,
    *,
    direction: str,
    trimmer: PayloadTrimmer | None = None,
) -> ResolvedBatch:
    """The decisions for rows given as :data:`RULE_COLUMNS` lists of equal length.

    With a ``trimmer``, each payload loses the configured fields once its domain is resolved.
    """
    resolved = ResolvedBatch()
    if trimmer is not None and not trimmer.paths:
        trimmer = None
    parse = _payload_for_domains if trimmer is None else tolerant_json.loads
    rows = zip(*(columns[name] for name in RULE_COLUMNS), strict=True)
    for index, row in enumerate(map(RuleRow._make, rows)):
        resolution = None
        if row.invalid_detail is None:
            payload = parse(row.raw_payload)
            resolution = resolver.resolve(payload)
            if trimmer is not None and (trimmed := trimmer.trim_payload(payload)):
                resolved.trimmed[index] = trimmed
        resolved.decisions.append(decide(row, resolution, duplicates, direction))
    return resolved


def _payload_for_domains(text: str) -> Any:
    """A stored payload, parsed only to be read by domain resolution.

    orjson reads an integer beyond 64 bits as a float, which :func:`tolerant_json.loads` scans every
    text to avoid; resolution reads no number, so that scan is skipped here. A payload that is
    going to be written again (trimmed) is parsed exactly instead.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return tolerant_json.loads(text)
