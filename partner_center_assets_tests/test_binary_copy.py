"""Parquet rows COPY'd into PostgreSQL in the binary format, and the CSV copy kept for other types."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from partner_center_assets.hunter_db import migrate
from partner_center_assets.hunter_db.binary_copy import binary_plan, column_types
from partner_center_assets.hunter_db.engine import create_hunter_engine
from partner_center_assets.hunter_db.staging import copy_parquet
from partner_center_assets.hunter_db.sync_writer import REFERRAL_COLUMNS
from partner_center_assets.resolve_step import RESOLVED_SCHEMA

TEXTS = ["plain", "", None, 'say "hi", then leave', "two\nlines\r\n", "back\\slash", "Ωμέγα ✓ 𝄞", r"\N"]
PAYLOADS = [
    {"id": "a", "note": 'quote " and backslash \\'},
    {"nested": {"list": [1, 2.5, None, True]}},
    None,
    {"unicode": "Ωμέγα ✓ 𝄞", "escaped": "\t\u00e9"},
    {},
    {"big": "x" * 50_000},
    [],
    {"n": -1},
]
MOMENTS = [
    datetime(2024, 1, 1, 0, 42, 18, 152122, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    None,
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(2262, 4, 11, tzinfo=UTC),
    datetime(2000, 1, 1, tzinfo=UTC),
    datetime(1900, 2, 28, 12, tzinfo=UTC),
    datetime(2026, 12, 7, 3, 0, 0, 1, tzinfo=UTC),
]
AMOUNTS = [0.0, -1.5, None, 1e300, 123456.789, 2.0**-60, 5.0, 7.25]


@pytest.fixture
def conn(postgres_url: str) -> Iterator[Connection]:
    engine = create_hunter_engine(postgres_url)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def _parquet(tmp_path: Path, **columns: pa.Array) -> Path:
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table(columns), path, row_group_size=3)
    return path


def _awkward_file(tmp_path: Path) -> Path:
    return _parquet(
        tmp_path,
        n=pa.array(range(len(TEXTS)), pa.int64()),
        note=pa.array(TEXTS, pa.string()),
        payload=pa.array([None if p is None else json.dumps(p) for p in PAYLOADS], pa.string()),
        at=pa.array(MOMENTS, pa.timestamp("us", tz="UTC")),
        amount=pa.array(AMOUNTS, pa.float64()),
    )


def test_rows_of_every_type_read_back_value_for_value(conn: Connection, tmp_path: Path) -> None:
    conn.exec_driver_sql(
        "CREATE TEMP TABLE t (n BIGINT, note TEXT, payload JSONB, at TIMESTAMPTZ, amount DOUBLE PRECISION,"
        " copied_at TIMESTAMPTZ, batch TEXT)"
    )
    copied_at = datetime(2026, 12, 7, 4, 5, 6, 789, tzinfo=UTC)

    sent = copy_parquet(
        conn,
        "t",
        _awkward_file(tmp_path),
        ("n", "note", "payload", "at", "amount", "copied_at", "batch"),
        constants={"copied_at": copied_at, "batch": "first"},
    )

    rows = conn.exec_driver_sql("SELECT * FROM t ORDER BY n").all()
    assert sent == len(TEXTS)
    assert [tuple(r) for r in rows] == [
        (n, TEXTS[n], PAYLOADS[n], MOMENTS[n], AMOUNTS[n], copied_at, "first") for n in range(len(TEXTS))
    ]


def test_only_the_kept_rows_are_copied(conn: Connection, tmp_path: Path) -> None:
    conn.exec_driver_sql("CREATE TEMP TABLE t (n BIGINT, note TEXT)")

    sent = copy_parquet(
        conn, "t", _awkward_file(tmp_path), ("n", "note"), keep=lambda batch: pa.compute.less(batch["n"], 3)
    )

    assert sent == 3
    assert conn.exec_driver_sql("SELECT n, note FROM t ORDER BY n").all() == [(n, TEXTS[n]) for n in range(3)]


def test_a_file_with_no_kept_row_copies_nothing(conn: Connection, tmp_path: Path) -> None:
    conn.exec_driver_sql("CREATE TEMP TABLE t (n BIGINT, payload JSONB)")

    sent = copy_parquet(
        conn,
        "t",
        _awkward_file(tmp_path),
        ("n", "payload"),
        keep=lambda batch: pa.compute.less(batch["n"], 0),
    )

    assert sent == 0
    assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar_one() == 0


def test_a_column_of_another_type_copies_the_rows_as_csv(conn: Connection, tmp_path: Path) -> None:
    conn.exec_driver_sql("CREATE TEMP TABLE t (n BIGINT, amount NUMERIC, at TIMESTAMP)")

    copy_parquet(conn, "t", _awkward_file(tmp_path), ("n", "amount", "at"))

    rows = conn.execute(sa.text("SELECT n, amount::float8, at FROM t ORDER BY n")).all()
    assert [r[0] for r in rows] == list(range(len(TEXTS)))
    assert rows[1][1] == -1.5 and rows[2][1] is None
    assert rows[0][2] == datetime(2024, 1, 1, 0, 42, 18, 152122)


def test_integer_and_text_columns_of_other_widths_go_binary() -> None:
    plan = binary_plan(
        {"n": "int4", "note": "varchar", "payload": "json"},
        {"n": pa.int64(), "note": pa.large_string(), "payload": pa.string()},
    )

    assert plan == {"n": pa.int32(), "note": pa.string(), "payload": pa.string()}


@pytest.mark.parametrize(
    ("pg_type", "held"),
    [
        ("numeric", pa.float64()),
        ("timestamptz", pa.string()),
        ("timestamptz", pa.timestamp("us")),
        ("int8", pa.string()),
        ("text", pa.int64()),
        ("_text", pa.string()),
    ],
)
def test_a_column_that_would_need_reinterpreting_keeps_the_copy_in_csv(
    pg_type: str, held: pa.DataType
) -> None:
    assert binary_plan({"n": "int8", "c": pg_type}, {"n": pa.int64(), "c": held}) is None


def test_an_integer_too_large_for_its_column_fails_the_copy(conn: Connection, tmp_path: Path) -> None:
    conn.exec_driver_sql("CREATE TEMP TABLE t (n INTEGER)")
    path = _parquet(tmp_path, n=pa.array([1, 2**40], pa.int64()))

    with pytest.raises(pa.ArrowInvalid):
        copy_parquet(conn, "t", path, ("n",))


def test_the_new_referrals_of_a_sync_go_binary(postgres_url: str) -> None:
    engine = create_hunter_engine(postgres_url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            pg_types = column_types(connection, "partner_center_referrals")
    finally:
        engine.dispose()
    held = {c: RESOLVED_SCHEMA.field(c).type for c in REFERRAL_COLUMNS}
    held |= dict.fromkeys(("first_synced_at", "last_synced_at"), pa.scalar(datetime.now(UTC)).type)

    assert binary_plan(pg_types, held) is not None
