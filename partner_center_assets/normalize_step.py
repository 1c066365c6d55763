"""The normalize step of a sync: the raw pages file to the normalized referrals file.

The pages file is cut into chunks of whole pages, each normalized on its own (by worker processes,
see :mod:`partner_center_assets.parallel`) and written in fetch order, every record numbered by its
place in the whole fetch (``fetch_seq``). The ``normalized_referrals`` asset runs it; it is kept
free of Dagster so that it can be tested and timed alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from operator import attrgetter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from partner_center_assets.ingest.normalize import (
    NORMALIZED_COLUMNS,
    NORMALIZED_DTYPES,
    STREAM_DISCOVERY,
    NormalizedReferral,
    normalize_referral,
)
from partner_center_assets.ingest.payload_fields import FieldCensus
from partner_center_assets.parallel import ordered_map
from partner_center_assets.sync_files import SyncFiles, arrow_schema, read_page_range, rows_to_batch

NORMALIZED_SCHEMA = arrow_schema(NORMALIZED_DTYPES)
CHUNK_BYTES = 4 << 20
"""Pages per task, as bytes of the pages file: 16 pages of 100 of the emulator's generated
referrals (258 KB a page). Smaller chunks spread the work more evenly over the workers; each one
costs a round trip to a worker."""

_row: Callable[[NormalizedReferral], tuple] = attrgetter(*NORMALIZED_COLUMNS)
_FETCH_SEQ = NORMALIZED_SCHEMA.get_field_index("fetch_seq")


@dataclass
class NormalizedChunk:
    """What one chunk of pages normalized to, ``fetch_seq`` counted from the chunk's first record."""

    batch: pa.RecordBatch
    census: FieldCensus = field(default_factory=FieldCensus)
    by_stream_status: Counter[tuple[str, str | None]] = field(default_factory=Counter)
    invalid: int = 0
    sample: list[NormalizedReferral] = field(default_factory=list)


@dataclass
class NormalizeOutcome:
    """The counts of a normalize step, for the asset's metadata and preview."""

    rows: int = 0
    census: FieldCensus = field(default_factory=FieldCensus)
    by_stream_status: Counter[tuple[str, str | None]] = field(default_factory=Counter)
    invalid: int = 0
    sample: list[NormalizedReferral] = field(default_factory=list)


@dataclass(frozen=True)
class _Task:
    pages: Path
    sample_size: int


def normalize_pages(files: SyncFiles, *, workers: int, sample_size: int = 10) -> NormalizeOutcome:
    """Write ``files.normalized`` from ``files.raw_pages``; the first ``sample_size`` rows are kept."""
    ranges = files.page_ranges(CHUNK_BYTES)
    outcome = NormalizeOutcome()
    task = _Task(files.raw_pages, sample_size)
    with files.batch_writer(files.normalized, NORMALIZED_SCHEMA) as out:
        for chunk in ordered_map(_normalize_range, task, ranges, workers=workers):
            offset = outcome.rows
            if chunk.batch.num_rows:
                out.write_batch(_renumbered(chunk.batch, offset))
            outcome.rows += chunk.batch.num_rows
            outcome.census.merge(chunk.census)
            outcome.by_stream_status.update(chunk.by_stream_status)
            outcome.invalid += chunk.invalid
            wanted = sample_size - len(outcome.sample)
            outcome.sample += [replace(r, fetch_seq=r.fetch_seq + offset) for r in chunk.sample[:wanted]]
    return outcome


def _normalize_range(task: _Task, byte_range: tuple[int, int]) -> NormalizedChunk:
    rows: list[tuple] = []
    chunk = NormalizedChunk(batch=pa.RecordBatch.from_pylist([], schema=NORMALIZED_SCHEMA))
    for page in read_page_range(task.pages, *byte_range):
        records = page.get("records")
        stream = page.get("stream", STREAM_DISCOVERY)
        for record in records if isinstance(records, list) else []:
            chunk.census.observe(record)
            referral = normalize_referral(record, fetch_seq=len(rows), stream=stream)
            rows.append(_row(referral))
            chunk.by_stream_status[stream, referral.status] += 1
            chunk.invalid += referral.invalid_detail is not None
            if len(chunk.sample) < task.sample_size:
                chunk.sample.append(referral)
    if rows:
        chunk.batch = rows_to_batch(rows, NORMALIZED_SCHEMA)
    return chunk


def _renumbered(batch: pa.RecordBatch, offset: int) -> pa.RecordBatch:
    """``batch`` with ``offset`` added to its ``fetch_seq`` column."""
    if not offset:
        return batch
    seqs = pc.add(batch.column(_FETCH_SEQ), pa.scalar(offset, pa.int64()))
    return batch.set_column(_FETCH_SEQ, NORMALIZED_SCHEMA.field(_FETCH_SEQ), seqs)
