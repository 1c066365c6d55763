"""Pure ingestion logic: normalization, domain resolution and the per-sync rules (no Dagster, no DB)."""

from partner_center_assets.ingest.domains import DomainResolution, DomainResolver, registrable_domain
from partner_center_assets.ingest.mail_lists import list_versions
from partner_center_assets.ingest.normalize import (
    NORMALIZED_COLUMNS,
    NORMALIZED_DTYPES,
    STREAM_CHANGES,
    STREAM_DISCOVERY,
    NormalizedReferral,
    normalize_referral,
    to_frame,
)
from partner_center_assets.ingest.payload import canonical_json, payload_hash, strip_nul
from partner_center_assets.ingest.reasons import SKIP_REASONS, SkipReason, empty_skip_counts
from partner_center_assets.ingest.rules import (
    RESOLVED_COLUMNS,
    RESOLVED_DTYPES,
    ResolvedReferral,
    SyncCounters,
    mark_duplicates,
    new_referral_skip_reason,
    resolve_batch,
    resolved_to_frame,
)
from partner_center_assets.ingest.timestamps import format_timestamp, parse_timestamp

__all__ = [
    "NORMALIZED_COLUMNS",
    "NORMALIZED_DTYPES",
    "RESOLVED_COLUMNS",
    "RESOLVED_DTYPES",
    "SKIP_REASONS",
    "STREAM_CHANGES",
    "STREAM_DISCOVERY",
    "DomainResolution",
    "DomainResolver",
    "NormalizedReferral",
    "ResolvedReferral",
    "SkipReason",
    "SyncCounters",
    "canonical_json",
    "empty_skip_counts",
    "format_timestamp",
    "list_versions",
    "mark_duplicates",
    "new_referral_skip_reason",
    "normalize_referral",
    "parse_timestamp",
    "payload_hash",
    "registrable_domain",
    "resolve_batch",
    "resolved_to_frame",
    "strip_nul",
    "to_frame",
]
