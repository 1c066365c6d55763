"""Fields left out of the stored payload (``HUNTER_PARTNER_CENTER_DROP_FIELDS``).

A referral carries personal data Hunter may have no use for: the names, emails and phone numbers of
the Microsoft and partner sellers in the top-level ``team``, the customer contacts' phone numbers.
Listing their paths keeps them out of ``raw_payload`` (and out of its hash, so they never count as a
change). The domain rules and every column read the whole payload first, so dropping a field never
changes which domain a referral gets.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from partner_center_assets.ingest.normalize import NormalizedReferral
from partner_center_assets.ingest.payload import canonical_json_with_hash

FieldPath = tuple[str, ...]


def drop_path(payload: Any, path: FieldPath) -> bool:
    """Delete ``path`` from ``payload`` in place; a list on the way stands for each of its items.

    Walks without recursion (lists inside lists included), so no payload can exhaust the stack.
    True when something was deleted.
    """
    removed = False
    frontier: list[Any] = [payload]
    for position, key in enumerate(path):
        last = position == len(path) - 1
        reached: list[Any] = []
        while frontier:
            node = frontier.pop()
            if isinstance(node, list):
                frontier.extend(node)
            elif isinstance(node, dict) and key in node:
                if last:
                    del node[key]
                    removed = True
                else:
                    reached.append(node[key])
        frontier = reached
    return removed


class PayloadTrimmer:
    """Drops the configured paths from each referral's stored payload and counts the ones it changed."""

    def __init__(self, paths: tuple[FieldPath, ...]) -> None:
        self.paths = paths
        self.trimmed = 0

    def trim(self, referral: NormalizedReferral, payload: Any) -> NormalizedReferral:
        """``referral`` with ``payload`` (its parsed raw payload, changed in place) minus the paths."""
        trimmed = self.trim_payload(payload)
        if trimmed is None:
            return referral
        text, digest = trimmed
        return replace(referral, raw_payload=text, payload_hash=digest)

    def trim_payload(self, payload: Any) -> tuple[str, str] | None:
        """The stored text and hash of ``payload`` (changed in place) minus the paths; None if none held."""
        removed = False
        for path in self.paths:
            removed = drop_path(payload, path) or removed
        if not removed:
            return None
        self.trimmed += 1
        return canonical_json_with_hash(payload)
