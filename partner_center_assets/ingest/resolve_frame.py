"""Domain resolution and the database-free rules, applied to a stored frame of normalized referrals.

The pipeline keeps normalized referrals on disk between steps; this rebuilds them, resolves each
valid one's domain from its stored (NUL-free) payload, and applies §4.1, §4.2 and §4.4.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pandas as pd

from partner_center_assets.ingest.domains import DomainResolver
from partner_center_assets.ingest.normalize import NORMALIZED_COLUMNS, NormalizedReferral, python_value
from partner_center_assets.ingest.reasons import SkipReason
from partner_center_assets.ingest.rules import (
    INVALID_DOMAIN_DETAIL,
    ResolvedReferral,
    mark_duplicates,
    new_referral_skip_reason,
    resolved_to_frame,
)


def referrals_from_frame(frame: pd.DataFrame) -> Iterator[NormalizedReferral]:
    """Rebuild :class:`NormalizedReferral` objects from a normalized frame, in its row order."""
    for row in frame[list(NORMALIZED_COLUMNS)].itertuples(index=False, name=None):
        values = dict(zip(NORMALIZED_COLUMNS, (python_value(v) for v in row), strict=True))
        values["fetch_seq"] = int(values["fetch_seq"])
        yield NormalizedReferral(**values)


def resolve_normalized_frame(
    frame: pd.DataFrame, resolver: DomainResolver, *, direction: str
) -> pd.DataFrame:
    """The resolved frame (``RESOLVED_COLUMNS``) of a normalized one."""
    referrals = list(referrals_from_frame(frame))
    duplicates = mark_duplicates(referrals)
    resolved: list[ResolvedReferral] = []
    for referral in referrals:
        if referral.invalid_detail is not None:
            resolved.append(
                ResolvedReferral(
                    referral, SkipReason.INVALID_PAYLOAD, None, None, INVALID_DOMAIN_DETAIL, None
                )
            )
            continue
        resolution = resolver.resolve(json.loads(referral.raw_payload))
        skip = duplicates.get(referral.fetch_seq)
        new_skip = None
        if skip is None:
            new_skip = new_referral_skip_reason(referral, domain=resolution.domain, direction=direction)
        resolved.append(
            ResolvedReferral(
                referral, skip, resolution.domain, resolution.source, resolution.detail, new_skip
            )
        )
    return resolved_to_frame(resolved)


__all__ = ["referrals_from_frame", "resolve_normalized_frame"]
