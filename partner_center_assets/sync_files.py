"""Where the pipeline's intermediate assets live between steps.

Raw pages go to a JSON-lines file as they arrive, and the normalized and resolved referrals to
Parquet, so that no step holds every page in memory several times over and any asset can be
re-materialized alone from its upstream's last materialization. Files are replaced atomically.
"""

from __future__ import annotations

import glob
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from partner_center_assets import tolerant_json
from partner_center_assets.settings import home_dir

ROWS_PER_BATCH = 2_000
_ARROW_TYPES = {
    "string": pa.string(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "datetime64[us, UTC]": pa.timestamp("us", tz="UTC"),
}


_BODY_LINE = re.compile(rb'^\{"stream": ("[a-z]+"), "page": (\d+),"body":')


def _one_line_utf8(content: bytes) -> bool:
    """Whether a body can sit on one line of the pages file as it is (UTF-8 without BOM, no line break)."""
    return (
        bool(content)
        and b"\n" not in content
        and b"\r" not in content
        and json.detect_encoding(content) == "utf-8"
    )


def read_page_line(line: bytes) -> dict[str, Any]:
    """A line of either form as ``{stream, page, records}``; the body is parsed as the client parsed it."""
    match = _BODY_LINE.match(line)
    if match is None:
        return tolerant_json.loads(line, records_key="records")
    body = tolerant_json.loads(line[match.end() : line.rstrip().rindex(b"}")])
    return {"stream": json.loads(match[1]), "page": int(match[2]), "records": body["value"]}


def read_page_range(path: Path, start: int, end: int) -> Iterator[dict[str, Any]]:
    """The pages stored between two line boundaries of a pages file, in order (see :func:`read_page_line`)."""
    with path.open("rb") as handle:
        handle.seek(start)
        content = handle.read(end - start)
    for line in content.split(b"\n"):
        if line.strip():
            yield read_page_line(line)


INTERMEDIATE_COMPRESSION = "lz4"
"""Codec of the normalized and resolved files: each is read back once or twice in the same sync.
The normalized referrals of 100,000 referrals, written and read in full (pyarrow 26): snappy 78 MB,
0.43 s to write, 0.27 to 0.32 s to read; lz4 69 MB, 0.43 s and 0.17 to 0.18 s."""

DISTINCT_COLUMNS = frozenset({"id", "raw_payload", "payload_hash"})
"""Columns with a value per referral, written without dictionary encoding: Parquet's writer would
fill a dictionary with them only to give it up (the normalized file of 100,000 referrals wrote in
0.44 s instead of 0.51 to 0.54 s without it, the same size)."""


def open_parquet(path: Path) -> pq.ParquetFile:
    """A Parquet file to read batch by batch, one row group in memory at a time.

    pyarrow otherwise reads ahead the column chunks of many row groups: reading the normalized
    referrals of a 100,000 sync held up to 96 MB of Arrow buffers at once, against 23 MB without
    (measured, pyarrow 26).
    """
    return pq.ParquetFile(path, pre_buffer=False)


def arrow_schema(dtypes: Mapping[str, str]) -> pa.Schema:
    """The Parquet schema of a frame described by pandas dtypes (as ``ingest`` declares them)."""
    return pa.schema([(name, _ARROW_TYPES[dtype]) for name, dtype in dtypes.items()])


class BatchWriter:
    """Appends record batches in the file's schema to a Parquet file, counting their rows."""

    def __init__(self, writer: pq.ParquetWriter) -> None:
        self._writer = writer
        self.count = 0

    def write_batch(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)
        self.count += batch.num_rows


def rows_to_batch(rows: Sequence[tuple[Any, ...]], schema: pa.Schema) -> pa.RecordBatch:
    """Rows (tuples in ``schema`` order, at least one) as a record batch, built column by column."""
    columns = list(zip(*rows, strict=True))
    arrays = [pa.array(values, type=field.type) for values, field in zip(columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def with_columns(
    batch: pa.RecordBatch, schema: pa.Schema, columns: Mapping[str, Sequence[Any]]
) -> pa.RecordBatch:
    """``batch`` in ``schema``'s column order, the named columns replaced or added as Python values.

    The columns not named are passed on as they were read, without becoming Python values.
    """
    arrays = [
        pa.array(columns[field.name], type=field.type) if field.name in columns else batch.column(field.name)
        for field in schema
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


@dataclass
class FetchSummary:
    """What the fetch step tells the write step about the run."""

    full_refresh: bool = False
    cutoff: str | None = None
    watermark_before: str | None = None
    pages: int = 0
    records: int = 0
    requests: int = 0
    retries: int = 0
    throttled_seconds: float = 0.0
    max_pages_reached: bool = False
    streams: dict[str, dict[str, Any]] = field(default_factory=dict)
    started_at: str | None = None


ABANDONED_AFTER_SECONDS = 600.0
"""How long a temporary file of a writer that is no longer running must sit untouched before it is
removed. A live writer adds to its file far more often; the wait spares the files of a writer whose
process this machine cannot see (a folder shared between machines)."""


_TEMPORARY_SUFFIX = ".partial"


def _temporary_for(path: Path) -> Path:
    """A temporary name of its own for this writer of ``path`` (``<name>.<pid>-<random>.partial``):
    two syncs started at once must not write into one file."""
    return path.with_name(f"{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}{_TEMPORARY_SUFFIX}")


def _writer_of(temporary: Path, path: Path) -> int | None:
    """The process id in a name :func:`_temporary_for` gave ``path``; ``None`` for any other name."""
    middle = temporary.name[len(path.name) + 1 : -len(_TEMPORARY_SUFFIX)]
    writer = middle.split("-", 1)[0]
    return int(writer) if writer.isdigit() else None


def _running(pid: int) -> bool:
    """Whether a process with this id runs on this machine (one we may not signal counts too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError):
        return False
    return True


class SyncFiles:
    """The files of the latest materialization of each intermediate asset."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory else home_dir() / "partner_center"

    @property
    def raw_pages(self) -> Path:
        return self.directory / "raw_referral_pages.jsonl"

    @property
    def fetch_summary(self) -> Path:
        return self.directory / "raw_referral_pages.summary.json"

    @property
    def normalized(self) -> Path:
        return self.directory / "normalized_referrals.parquet"

    @property
    def resolved(self) -> Path:
        return self.directory / "resolved_referrals.parquet"

    @contextmanager
    def writing(self, path: Path) -> Iterator[Path]:
        """Yield a temporary path that replaces ``path`` only if the block succeeds.

        Temporary files of ``path`` that killed writers left behind are removed first.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        self.remove_abandoned(path)
        temporary = _temporary_for(path)
        try:
            yield temporary
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)

    def remove_abandoned(self, path: Path) -> None:
        """Remove the temporary files of ``path`` whose writer is gone and that sat untouched for
        :data:`ABANDONED_AFTER_SECONDS`.

        A sync killed while writing (SIGKILL, out of memory, a lost machine) leaves its temporary
        file, as large as the file it was writing, and nothing else would ever remove it.
        """
        cutoff = time.time() - ABANDONED_AFTER_SECONDS
        for leftover in self.directory.glob(f"{glob.escape(path.name)}.*{_TEMPORARY_SUFFIX}"):
            writer = _writer_of(leftover, path)
            if writer is None or _running(writer):
                continue
            try:
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
            except OSError:
                continue

    @contextmanager
    def page_writer(self) -> Iterator[BinaryIO]:
        with self.writing(self.raw_pages) as temporary, temporary.open("wb") as handle:
            yield handle

    @staticmethod
    def page_line(
        stream: str,
        page_number: int,
        records: Sequence[Any] | Callable[[], Sequence[Any]],
        content: bytes = b"",
    ) -> bytes:
        """One line of the raw pages file.

        The body is kept byte for byte when it is one line of UTF-8 (``{"stream", "page", "body"}``),
        which costs nothing; otherwise the parsed records (``records``, or what it returns when
        called) are written (``{"stream", "page", "records"}``), a record too deep to encode kept as
        a placeholder.
        """
        header = json.dumps({"stream": stream, "page": page_number})[:-1].encode()
        if _one_line_utf8(content):
            return header + b',"body":' + content.strip() + b"}\n"
        if callable(records):
            records = records()
        try:
            text = json.dumps(records)
        except (RecursionError, ValueError):
            text = json.dumps(tolerant_json.dumps_records(records))
        return header + b',"records":' + text.encode() + b"}\n"

    def page_ranges(self, size: int) -> list[tuple[int, int]]:
        """The pages file cut into ``(start, end)`` byte ranges of whole lines, in file order.

        Each range is ``size`` bytes or a little more, up to the end of the line it cuts; only that
        tail of each range is read here.
        """
        self.require(self.raw_pages, "raw_referral_pages")
        total = self.raw_pages.stat().st_size
        ranges: list[tuple[int, int]] = []
        with self.raw_pages.open("rb") as handle:
            start = 0
            while start < total:
                handle.seek(min(start + max(size, 1), total) - 1)
                handle.readline()
                end = handle.tell()
                ranges.append((start, end))
                start = end
        return ranges

    def write_summary(self, summary: FetchSummary) -> None:
        with self.writing(self.fetch_summary) as temporary:
            temporary.write_text(json.dumps(asdict(summary), indent=2), encoding="utf-8")

    def read_summary(self) -> FetchSummary:
        self.require(self.fetch_summary, "raw_referral_pages")
        return FetchSummary(**json.loads(self.fetch_summary.read_text(encoding="utf-8")))

    @contextmanager
    def batch_writer(self, path: Path, schema: pa.Schema) -> Iterator[BatchWriter]:
        """Write ``path`` batch by batch; it replaces the previous file only when complete."""
        with self.writing(path) as temporary:
            writer = pq.ParquetWriter(
                temporary,
                schema,
                compression=INTERMEDIATE_COMPRESSION,
                use_dictionary=[name for name in schema.names if name not in DISTINCT_COLUMNS],
            )
            try:
                yield BatchWriter(writer)
            finally:
                writer.close()

    def read_batches(
        self, path: Path, asset: str, columns: Sequence[str] | None = None
    ) -> Iterator[pa.RecordBatch]:
        """The rows of ``path`` in bounded batches, in file order."""
        self.require(path, asset)
        yield from open_parquet(path).iter_batches(
            batch_size=ROWS_PER_BATCH, columns=columns, use_threads=False
        )

    def read_frame(self, path: Path, asset: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
        self.require(path, asset)
        return pd.read_parquet(path, columns=list(columns) if columns else None)

    @staticmethod
    def require(path: Path, asset: str) -> None:
        if not path.exists():
            raise FileNotFoundError(
                f"{path} is missing: materialize the upstream asset {asset!r} first "
                "(or run the whole partner_center_daily_sync job)"
            )
