"""Query results as Arrow tables: the same values whichever way the rows travel."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest
import sqlalchemy as sa

from partner_center_assets.hunter_db.engine import create_hunter_engine
from partner_center_assets.hunter_db.query_tables import query_table

TYPES = {"n": "int", "label": "text", "flag": "bool", "stamp": "timestamp"}
AWKWARD_TEXT = ["", None, 'say "hi", then\nleave', "a,b", "\\N", "naïve ☃", "t"]


@pytest.fixture
def engine(database_url: str):
    engine = create_hunter_engine(database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE frame_rows (n BIGINT, label TEXT, flag BOOLEAN, stamp TIMESTAMPTZ)"
        )
    yield engine
    engine.dispose()


def _insert(engine, rows: list[dict]) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO frame_rows VALUES (:n, :label, :flag, :stamp)"), rows)


def _table(engine) -> pa.Table:
    with engine.connect() as conn:
        return query_table(conn, "SELECT n, label, flag, stamp FROM frame_rows ORDER BY n", TYPES)


def test_text_keeps_nulls_empty_strings_quotes_commas_and_newlines(engine):
    _insert(
        engine, [{"n": n, "label": text, "flag": None, "stamp": None} for n, text in enumerate(AWKWARD_TEXT)]
    )

    assert _table(engine)["label"].to_pylist() == AWKWARD_TEXT


def test_integers_booleans_and_timestamps_keep_their_values(engine):
    moments = [datetime(2024, 5, 1, 12, 34, 56, 123456, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC), None]
    _insert(
        engine,
        [
            {"n": -(2**62), "label": "a", "flag": True, "stamp": moments[0]},
            {"n": 0, "label": "b", "flag": False, "stamp": moments[1]},
            {"n": 2**62, "label": "c", "flag": None, "stamp": moments[2]},
        ],
    )

    table = _table(engine)

    assert table["n"].to_pylist() == [-(2**62), 0, 2**62]
    assert table["flag"].to_pylist() == [True, False, None]
    assert table["stamp"].to_pylist() == moments


def test_timestamps_are_read_whatever_the_sessions_time_zone(postgres_url):
    """PostgreSQL prints old dates with an offset in seconds in some zones (``+00:19:32``)."""
    engine = create_hunter_engine(postgres_url)
    try:
        old = datetime(1900, 1, 1, 12, 0, tzinfo=UTC)
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL TimeZone = 'Europe/Amsterdam'")
            table = query_table(
                conn, "SELECT CAST('1900-01-01 12:00:00+00' AS TIMESTAMPTZ) AS stamp", {"stamp": "timestamp"}
            )
        assert table["stamp"].to_pylist() == [old]
    finally:
        engine.dispose()


def test_a_query_without_rows_gives_an_empty_table_with_the_typed_columns(engine):
    table = _table(engine)

    assert table.num_rows == 0
    assert table.schema == pa.schema(
        [
            ("n", pa.int64()),
            ("label", pa.string()),
            ("flag", pa.bool_()),
            ("stamp", pa.timestamp("us", tz="UTC")),
        ]
    )
