"""Set-based staging of a pandas frame or an Arrow table into a temporary table, per database.

PostgreSQL gets ``COPY … FROM STDIN`` into a ``TEMP … ON COMMIT DROP`` table, in COPY's binary
format (:mod:`partner_center_assets.hunter_db.binary_copy`); DuckDB reads the registered frame
directly. Row-by-row inserts are never used: duckdb-engine's ``executemany`` manages about 500
rows/s.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy.engine import Connection

from partner_center_assets.hunter_db.binary_copy import binary_plan, column_types, encode
from partner_center_assets.sync_files import open_parquet

_PG_TYPES = {
    "int": "BIGINT",
    "float": "DOUBLE PRECISION",
    "text": "TEXT",
    "timestamp": "TIMESTAMPTZ",
    "bool": "BOOLEAN",
}
_PG_TYPNAMES = {"int": "int8", "float": "float8", "text": "text", "timestamp": "timestamptz", "bool": "bool"}
_DUCK_TYPES = {
    "int": "BIGINT",
    "float": "DOUBLE",
    "text": "VARCHAR",
    "timestamp": "TIMESTAMPTZ",
    "bool": "BOOLEAN",
}


_ARROW_TYPES = {
    "int": pa.int64(),
    "float": pa.float64(),
    "text": pa.string(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "bool": pa.bool_(),
}
_CSV_OPTIONS = pacsv.WriteOptions(include_header=False)
FRAME_CHUNK_ROWS = 25_000
"""Rows of a frame encoded at a time, not the whole frame in one buffer: the write step alone at
300,000 fetched referrals peaked at 448 MB so, against 459 MB (measured, when frames went as CSV)."""


def _csv(data: pa.Table | pa.RecordBatch) -> bytes:
    """``data`` as headerless CSV, written by Arrow in C, as ``COPY … (FORMAT csv)`` reads it: a null
    is an empty field, an empty string ``""``."""
    buffer = io.BytesIO()
    pacsv.write_csv(data, buffer, _CSV_OPTIONS)
    return buffer.getvalue()


Frame = pd.DataFrame | pa.Table


def _frame_as_batches(frame: Frame, types: Mapping[str, str]) -> list[pa.RecordBatch]:
    """The frame's ``types`` columns as Arrow arrays of :data:`_ARROW_TYPES`; None, NA, NaN and NaT
    are nulls.

    Turning each cell into a Python value for ``write_row`` took longer than the database's work on
    the rows.
    """
    return pa.table({c: _column(frame, c).cast(_ARROW_TYPES[t]) for c, t in types.items()}).to_batches()


def _column(frame: Frame, name: str) -> pa.Array | pa.ChunkedArray:
    if isinstance(frame, pa.Table):
        return frame.column(name)
    return pa.array(frame[name], from_pandas=True)


def _rows(frame: Frame, start: int, count: int) -> Frame:
    if isinstance(frame, pa.Table):
        return frame.slice(start, count)
    return frame.iloc[start : start + count]


def stage_frame(conn: Connection, name: str, frame: Frame, types: dict[str, str]) -> None:
    """Create temporary table ``name`` with ``types`` (column → int/float/text/timestamp/bool) and fill
    it from ``frame`` (a pandas frame or an Arrow table)."""
    columns = list(types)
    dialect = conn.dialect.name
    if dialect == "postgresql":
        ddl = ", ".join(f'"{c}" {_PG_TYPES[t]}' for c, t in types.items())
        conn.exec_driver_sql(f'CREATE TEMP TABLE "{name}" ({ddl}) ON COMMIT DROP')
        if len(frame):
            batches = (
                batch
                for start in range(0, len(frame), FRAME_CHUNK_ROWS)
                for batch in _frame_as_batches(_rows(frame, start, FRAME_CHUNK_ROWS), types)
            )
            plan = {c: _ARROW_TYPES[t] for c, t in types.items()}
            pg_types = {c: _PG_TYPNAMES[t] for c, t in types.items()}
            _copy_in(conn, name, columns, "binary", encode(plan, pg_types, batches))
        return
    if dialect == "duckdb":
        duck = conn.connection.driver_connection
        duck.complete()  # DuckDB 2 refuses new work while an earlier result is still open
        view = f"{name}_frame"
        if not len(frame):
            prepared: Frame = pd.DataFrame({c: [] for c in columns})
        elif isinstance(frame, pa.Table):
            prepared = frame.select(columns)
        else:
            prepared = frame[columns].copy()
        duck.register(view, prepared)
        try:
            select = ", ".join(f'CAST("{c}" AS {_DUCK_TYPES[t]}) AS "{c}"' for c, t in types.items())
            conn.exec_driver_sql(f'CREATE OR REPLACE TEMP TABLE "{name}" AS SELECT {select} FROM "{view}"')
        finally:
            duck.unregister(view)
        return
    raise ValueError(f"unsupported database dialect {dialect!r}")


RowFilter = Callable[[pa.RecordBatch], pa.Array]
"""Which rows of a batch to keep (a boolean array)."""


def keep_null(column: str) -> RowFilter:
    """Keep the rows where ``column`` is null."""
    return lambda batch: pc.is_null(batch.column(column))


def keep_fetch_seqs(fetch_seqs: Sequence[int]) -> RowFilter:
    """Keep the rows whose ``fetch_seq`` is one of ``fetch_seqs``.

    A sync numbers its rows from 0, so a table of flags indexed by ``fetch_seq`` answers each batch
    in one lookup. ``pc.is_in`` hashed the whole set again for every batch, so its cost grew with the
    square of the rows: 2.2 s over the batches of 300,000 rows, against 0.002 s (the filter alone,
    measured).
    """
    wanted = np.asarray(fetch_seqs, dtype=np.int64)
    if wanted.size and wanted.min() < 0:
        raise ValueError("fetch_seq values are never negative")
    size = int(wanted.max()) + 1 if wanted.size else 0
    flags = np.zeros(size + 1, dtype=bool)  # the last flag, never set, answers for larger values
    flags[wanted] = True

    def keep(batch: pa.RecordBatch) -> pa.Array:
        seqs = batch.column("fetch_seq").to_numpy(zero_copy_only=False)
        return pa.array(flags[np.where((seqs >= 0) & (seqs < size), seqs, size)])

    return keep


def stage_parquet(
    conn: Connection, name: str, path: Path, types: dict[str, str], *, only_null: str | None = None
) -> None:
    """Like :func:`stage_frame`, from a Parquet file read in bounded batches.

    ``only_null`` keeps the rows where that column is null. DuckDB reads the file itself.
    """
    columns = list(types)
    dialect = conn.dialect.name
    if dialect == "duckdb":
        conn.connection.driver_connection.complete()
        select = ", ".join(f'CAST("{c}" AS {_DUCK_TYPES[t]}) AS "{c}"' for c, t in types.items())
        where = f' WHERE "{only_null}" IS NULL' if only_null else ""
        conn.exec_driver_sql(
            f'CREATE OR REPLACE TEMP TABLE "{name}" AS SELECT {select} FROM read_parquet(?){where}',
            (str(path),),
        )
        return
    if dialect != "postgresql":
        raise ValueError(f"unsupported database dialect {dialect!r}")
    ddl = ", ".join(f'"{c}" {_PG_TYPES[t]}' for c, t in types.items())
    conn.exec_driver_sql(f'CREATE TEMP TABLE "{name}" ({ddl}) ON COMMIT DROP')
    if only_null:
        copy_parquet(conn, name, path, columns, keep=keep_null(only_null), read=[only_null])
    else:
        copy_parquet(conn, name, path, columns)


def copy_parquet(
    conn: Connection,
    table: str,
    path: Path,
    columns: Sequence[str],
    *,
    keep: RowFilter | None = None,
    constants: Mapping[str, object] | None = None,
    read: Sequence[str] = (),
) -> int:
    """``COPY`` the rows of a Parquet file into PostgreSQL table ``table``; returns the rows sent.

    The file is read in bounded batches and encoded outside Python: in COPY's binary format where
    every column's type allows (:func:`~partner_center_assets.hunter_db.binary_copy.binary_plan`),
    else as CSV written by Arrow (a null is an empty field, an empty string ``""``). ``constants``
    adds columns with one value (a ``str``, ``datetime``, number or bool) for every row; ``read``
    names further columns that ``keep`` needs.
    """
    constants = {c: pa.scalar(v) for c, v in (constants or {}).items()}
    parquet = open_parquet(path)
    held = {c: constants[c].type if c in constants else parquet.schema_arrow.field(c).type for c in columns}
    pg_types = column_types(conn, table)
    plan = binary_plan(pg_types, held)
    wanted = list(dict.fromkeys([*(c for c in columns if c not in constants), *read]))
    sent = 0

    def batches() -> Iterator[pa.RecordBatch]:
        nonlocal sent
        for batch in parquet.iter_batches(batch_size=2_000, columns=wanted, use_threads=False):
            if keep is not None:
                batch = batch.filter(keep(batch))
            if not batch.num_rows:
                continue
            arrays = [
                pa.repeat(constants[c], batch.num_rows) if c in constants else batch.column(c)
                for c in columns
            ]
            sent += batch.num_rows
            yield pa.RecordBatch.from_arrays(arrays, names=list(columns))

    if plan is None:
        _copy_in(conn, table, columns, "csv", (_csv(batch) for batch in batches()))
    else:
        _copy_in(conn, table, columns, "binary", encode(plan, pg_types, batches()))
    return sent


def _copy_in(conn: Connection, table: str, columns: Sequence[str], fmt: str, chunks: Iterable[bytes]) -> None:
    """``COPY table (columns) FROM STDIN`` in format ``fmt``, sent chunk by chunk."""
    column_list = ", ".join(f'"{c}"' for c in columns)
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f'COPY "{table}" ({column_list}) FROM STDIN (FORMAT {fmt})') as copy:
        for chunk in chunks:
            copy.write(chunk)


def drop_staged(conn: Connection, name: str) -> None:
    """DuckDB keeps temp tables until the connection closes; drop them explicitly."""
    conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
