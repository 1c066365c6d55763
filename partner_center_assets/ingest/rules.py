"""The per-sync decisions of contract §4 that need no database, and the sync's counters.

Enum values from the API (direction, status, substatus) are compared after trimming and without
regard to case: the API writes them in PascalCase, and an operator who configures ``incoming``
means ``Incoming``; a strict comparison would silently skip every referral instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol

import pandas as pd

from partner_center_assets.ingest.domains import DomainResolution, DomainResolver
from partner_center_assets.ingest.normalize import (
    NORMALIZED_COLUMNS,
    NORMALIZED_DTYPES,
    NormalizedReferral,
    frame_of,
    normalize_with_payload,
)
from partner_center_assets.ingest.reasons import SKIP_REASONS, SkipReason, empty_skip_counts

ALLOWED_STATUSES: frozenset[str] = frozenset({"new", "active"})
EXCLUDED_SUBSTATUSES: frozenset[str] = frozenset({"declined", "lost", "expired", "error"})


class DuplicateKey(Protocol):
    """What duplicate detection reads of a referral (a :class:`NormalizedReferral` has it all)."""

    @property
    def fetch_seq(self) -> int: ...
    @property
    def id(self) -> str | None: ...
    @property
    def updated_at(self) -> datetime | None: ...
    @property
    def invalid_detail(self) -> str | None: ...


class RuleInput(Protocol):
    """What the §4.1/§4.2/§4.4 decisions read of a referral (a :class:`NormalizedReferral` has it all)."""

    @property
    def fetch_seq(self) -> int: ...
    @property
    def direction(self) -> str | None: ...
    @property
    def status(self) -> str | None: ...
    @property
    def substatus(self) -> str | None: ...
    @property
    def invalid_detail(self) -> str | None: ...


def mark_duplicates(items: Sequence[DuplicateKey]) -> dict[int, SkipReason]:
    """``fetch_seq`` → DUPLICATE for every valid copy of an id that is not the one kept.

    The kept copy has the latest ``updated_at`` (microseconds); on a tie, the one fetched last.
    Invalid records take no part: they are skipped as ``invalid_payload`` already.
    """
    kept: dict[str, DuplicateKey] = {}
    duplicates: dict[int, SkipReason] = {}
    for item in items:
        if item.invalid_detail is not None or item.id is None:
            continue
        current = kept.get(item.id)
        if current is None:
            kept[item.id] = item
        elif _sort_key(item) >= _sort_key(current):
            duplicates[current.fetch_seq] = SkipReason.DUPLICATE
            kept[item.id] = item
        else:
            duplicates[item.fetch_seq] = SkipReason.DUPLICATE
    return duplicates


def new_referral_skip_reason(item: RuleInput, *, domain: str | None, direction: str) -> SkipReason | None:
    """Why a valid, not-yet-stored referral is not inserted (first failing rule of §4.4), else None.

    A missing direction or status counts as differing / not allowed; a missing substatus is not
    excluded.
    """
    if _enum(item.direction) != _enum(direction):
        return SkipReason.DIRECTION_NOT_INCOMING
    if _enum(item.status) not in ALLOWED_STATUSES:
        return SkipReason.STATUS_NOT_ALLOWED
    if _enum(item.substatus) in EXCLUDED_SUBSTATUSES:
        return SkipReason.SUBSTATUS_EXCLUDED
    if not domain:
        return SkipReason.NO_DOMAIN
    return None


@dataclass(slots=True)
class SyncCounters:
    """The counters of §4.6; every fetched record ends in exactly one of them."""

    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: dict[str, int] = field(default_factory=empty_skip_counts)

    def add_skip(self, reason: SkipReason | str) -> None:
        if reason not in SKIP_REASONS:
            raise ValueError(f"unknown skip reason {reason!r}")
        self.skipped[str(reason)] += 1

    def as_event_fields(self) -> dict[str, int]:
        """Flat keys for the summary event, the sync-runs row and asset metadata."""
        fields = {
            "fetched": self.fetched,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
        }
        fields.update({f"skipped_{reason}": self.skipped.get(reason, 0) for reason in SKIP_REASONS})
        return fields

    def total_accounted(self) -> int:
        """Should equal ``fetched`` once the sync is done."""
        return self.inserted + self.updated + self.unchanged + sum(self.skipped.values())


class Decision(NamedTuple):
    """The columns resolution adds to a normalized referral (:data:`RESOLVED_EXTRA_COLUMNS`).

    ``skip_reason`` is ``invalid_payload`` or ``duplicate`` (skipped whatever the database holds);
    ``new_skip_reason`` is what applies only if the referral turns out to be new.
    """

    skip_reason: SkipReason | None
    domain: str | None
    domain_source: str | None
    domain_detail: str
    new_skip_reason: SkipReason | None

    def as_row(self) -> tuple[str | None, ...]:
        """The values as stored: reasons as plain text."""
        return (
            None if self.skip_reason is None else str(self.skip_reason),
            self.domain,
            self.domain_source,
            self.domain_detail,
            None if self.new_skip_reason is None else str(self.new_skip_reason),
        )


@dataclass(frozen=True, slots=True)
class ResolvedReferral:
    """A normalized referral with the decisions that need no database.

    ``skip_reason`` is ``invalid_payload`` or ``duplicate`` (skipped whatever the database holds);
    ``new_skip_reason`` is what applies only if the referral turns out to be new.
    """

    referral: NormalizedReferral
    skip_reason: SkipReason | None
    domain: str | None
    domain_source: str | None
    domain_detail: str
    new_skip_reason: SkipReason | None

    def as_row(self) -> tuple[Any, ...]:
        """The values of :data:`RESOLVED_COLUMNS`, in order."""
        decision = Decision(
            self.skip_reason, self.domain, self.domain_source, self.domain_detail, self.new_skip_reason
        )
        return (*(getattr(self.referral, column) for column in NORMALIZED_COLUMNS), *decision.as_row())


RESOLVED_EXTRA_COLUMNS: tuple[str, ...] = Decision._fields
RESOLVED_COLUMNS: tuple[str, ...] = NORMALIZED_COLUMNS + RESOLVED_EXTRA_COLUMNS
RESOLVED_DTYPES: dict[str, str] = {**NORMALIZED_DTYPES, **dict.fromkeys(RESOLVED_EXTRA_COLUMNS, "string")}

INVALID_DOMAIN_DETAIL = "invalid_payload"


def resolve_batch(
    records: Iterable[tuple[str, object]], resolver: DomainResolver, direction: str
) -> list[ResolvedReferral]:
    """Normalize, resolve domains and apply §4.1, §4.2 and §4.4 to (stream, record) in fetch order.

    Each parsed payload is released as soon as its referral is normalized and resolved, so a
    generator of pages can feed this without the whole sync's JSON staying in memory.
    """
    staged: list[tuple[NormalizedReferral, DomainResolution | None]] = []
    for fetch_seq, (stream, record) in enumerate(records):
        referral, cleaned = normalize_with_payload(record, fetch_seq=fetch_seq, stream=stream)
        staged.append((referral, resolver.resolve(cleaned) if referral.invalid_detail is None else None))
    duplicates = mark_duplicates([referral for referral, _ in staged])
    return [
        ResolvedReferral(referral, *decide(referral, resolution, duplicates, direction))
        for referral, resolution in staged
    ]


def decide(
    referral: RuleInput,
    resolution: DomainResolution | None,
    duplicates: Mapping[int, SkipReason],
    direction: str,
) -> Decision:
    """§4.1, §4.2 and §4.4 for one referral, given its domain resolution (None when invalid)."""
    if referral.invalid_detail is not None or resolution is None:
        return Decision(SkipReason.INVALID_PAYLOAD, None, None, INVALID_DOMAIN_DETAIL, None)
    skip = duplicates.get(referral.fetch_seq)
    new_skip = None
    if skip is None:
        new_skip = new_referral_skip_reason(referral, domain=resolution.domain, direction=direction)
    return Decision(skip, resolution.domain, resolution.source, resolution.detail, new_skip)


def resolved_to_frame(items: Iterable[ResolvedReferral]) -> pd.DataFrame:
    """A frame with :data:`RESOLVED_COLUMNS` and :data:`RESOLVED_DTYPES`, also for no rows."""
    return frame_of((item.as_row() for item in items), RESOLVED_DTYPES)


def _sort_key(item: DuplicateKey) -> tuple[object, int]:
    return (item.updated_at, item.fetch_seq)


def _enum(value: str | None) -> str | None:
    return None if value is None else value.strip().casefold()
