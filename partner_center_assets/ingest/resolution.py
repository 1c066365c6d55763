"""Domain resolution and the database-free rules over stored rows of normalized referrals.

The pipeline keeps normalized referrals on disk between steps and streams them through here in
bounded batches: duplicates are found from four small columns first, then each row is rebuilt,
its stored (NUL-free) payload resolved to a domain, and §4.1, §4.2 and §4.4 applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from partner_center_assets import tolerant_json
from partner_center_assets.ingest.domains import DomainResolver
from partner_center_assets.ingest.normalize import NormalizedReferral
from partner_center_assets.ingest.reasons import SkipReason
from partner_center_assets.ingest.redaction import PayloadTrimmer
from partner_center_assets.ingest.rules import decide, mark_duplicates

DUPLICATE_KEY_COLUMNS = ("fetch_seq", "id", "updated_at", "invalid_detail")


class DuplicateKeyRow(NamedTuple):
    """The columns duplicate detection needs, without the payload."""

    fetch_seq: int
    id: str | None
    updated_at: datetime | None
    invalid_detail: str | None


def find_duplicates(keys: Iterable[tuple[Any, ...]]) -> dict[int, SkipReason]:
    """``fetch_seq`` → DUPLICATE, from rows of :data:`DUPLICATE_KEY_COLUMNS`."""
    return mark_duplicates([DuplicateKeyRow(*key) for key in keys])


def resolve_rows(
    rows: Iterable[tuple[Any, ...]],
    duplicates: Mapping[int, SkipReason],
    resolver: DomainResolver,
    *,
    direction: str,
    trimmer: PayloadTrimmer | None = None,
) -> Iterator[tuple[Any, ...]]:
    """Rows of ``RESOLVED_COLUMNS`` for rows of ``NORMALIZED_COLUMNS``, one at a time.

    With a ``trimmer``, each payload loses the configured fields once its domain is resolved.
    """
    for row in rows:
        referral = NormalizedReferral(*row)
        resolution = None
        if referral.invalid_detail is None:
            payload = tolerant_json.loads(referral.raw_payload)
            resolution = resolver.resolve(payload)
            if trimmer is not None and trimmer.paths:
                referral = trimmer.trim(referral, payload)
        yield decide(referral, resolution, duplicates, direction).as_row()
