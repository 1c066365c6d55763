"""The resolve step of a sync: the normalized referrals file to the resolved referrals file.

Duplicates are found over the whole file first (four small columns); then each row group is
resolved on its own (by worker processes, see :mod:`partner_center_assets.parallel`) and written
in file order. The ``resolved_referrals`` asset runs it; it is kept free of Dagster so that it can
be tested and timed alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from partner_center_assets.ingest.domains import DomainResolver
from partner_center_assets.ingest.reasons import SkipReason
from partner_center_assets.ingest.redaction import FieldPath, PayloadTrimmer
from partner_center_assets.ingest.resolution import (
    DUPLICATE_KEY_COLUMNS,
    RULE_COLUMNS,
    find_duplicates,
    resolve_columns,
)
from partner_center_assets.ingest.rules import RESOLVED_DTYPES
from partner_center_assets.parallel import ordered_map
from partner_center_assets.sync_files import (
    ROWS_PER_BATCH,
    SyncFiles,
    arrow_schema,
    open_parquet,
    with_columns,
)

RESOLVED_SCHEMA = arrow_schema(RESOLVED_DTYPES)
NORMALIZED_ASSET = "normalized_referrals"


@dataclass
class ResolveOutcome:
    """The counts of a resolve step, for the asset's metadata and preview.

    ``counts`` holds ``domain_<detail>``, ``would_skip_<reason>`` and the skip reasons decided here;
    ``domains`` the rows per resolved domain; ``sample`` the first rows written, as tuples.
    """

    rows: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    domains: Counter[str] = field(default_factory=Counter)
    trimmed: int = 0
    sample: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass(frozen=True)
class _Task:
    normalized: Path
    duplicates: Mapping[int, SkipReason]
    resolver: DomainResolver
    direction: str
    drop_fields: tuple[FieldPath, ...]


@dataclass
class _Chunk:
    batches: list[pa.RecordBatch] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    domains: Counter[str] = field(default_factory=Counter)
    trimmed: int = 0


def resolve_referrals(
    files: SyncFiles,
    resolver: DomainResolver,
    *,
    direction: str,
    drop_fields: tuple[FieldPath, ...] = (),
    workers: int,
    sample_size: int = 10,
) -> ResolveOutcome:
    """Write ``files.resolved`` from ``files.normalized``; the first ``sample_size`` rows are kept."""
    files.require(files.normalized, NORMALIZED_ASSET)
    keys = files.read_batches(files.normalized, NORMALIZED_ASSET, columns=DUPLICATE_KEY_COLUMNS)
    duplicates = find_duplicates(keys)
    task = _Task(files.normalized, duplicates, resolver, direction, drop_fields)
    groups = range(open_parquet(files.normalized).num_row_groups)
    outcome = ResolveOutcome()
    with files.batch_writer(files.resolved, RESOLVED_SCHEMA) as out:
        for chunk in ordered_map(_resolve_row_group, task, groups, workers=workers):
            for batch in chunk.batches:
                out.write_batch(batch)
                if len(outcome.sample) < sample_size:
                    head = batch.slice(0, sample_size - len(outcome.sample)).to_pylist()
                    outcome.sample.extend(tuple(row.values()) for row in head)
            outcome.counts.update(chunk.counts)
            outcome.domains.update(chunk.domains)
            outcome.trimmed += chunk.trimmed
    outcome.rows = out.count
    return outcome


def _resolve_row_group(task: _Task, group: int) -> _Chunk:
    chunk = _Chunk()
    trimmer = PayloadTrimmer(task.drop_fields)
    batches = open_parquet(task.normalized).iter_batches(
        batch_size=ROWS_PER_BATCH, row_groups=[group], use_threads=False
    )
    for batch in batches:
        resolved = resolve_columns(
            {name: batch.column(name).to_pylist() for name in RULE_COLUMNS},
            task.duplicates,
            task.resolver,
            direction=task.direction,
            trimmer=trimmer,
        )
        columns = resolved.decision_columns()
        if resolved.trimmed:
            columns.update(_trimmed_payloads(batch, resolved.trimmed))
        chunk.batches.append(with_columns(batch, RESOLVED_SCHEMA, columns))
        for decision in resolved.decisions:
            chunk.counts[f"domain_{decision.domain_detail}"] += 1
            if decision.new_skip_reason is not None:
                chunk.counts[f"would_skip_{decision.new_skip_reason}"] += 1
            if decision.skip_reason is not None:
                chunk.counts[decision.skip_reason] += 1
            if decision.domain:
                chunk.domains[decision.domain] += 1
    chunk.trimmed = trimmer.trimmed
    return chunk


def _trimmed_payloads(batch: pa.RecordBatch, trimmed: dict[int, tuple[str, str]]) -> dict[str, list]:
    """The batch's payload and hash columns with the trimmed rows' new values."""
    payloads = batch.column("raw_payload").to_pylist()
    hashes = batch.column("payload_hash").to_pylist()
    for index, (text, digest) in trimmed.items():
        payloads[index], hashes[index] = text, digest
    return {"raw_payload": payloads, "payload_hash": hashes}
