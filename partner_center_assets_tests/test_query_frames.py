"""Query results as frames: the same values whichever way the rows travel."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from partner_center_assets.hunter_db.engine import create_hunter_engine
from partner_center_assets.hunter_db.query_frames import query_frame

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


def _frame(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return query_frame(conn, "SELECT n, label, flag, stamp FROM frame_rows ORDER BY n", TYPES)


def test_text_keeps_nulls_empty_strings_quotes_commas_and_newlines(engine):
    _insert(
        engine, [{"n": n, "label": text, "flag": None, "stamp": None} for n, text in enumerate(AWKWARD_TEXT)]
    )

    labels = _frame(engine)["label"].tolist()

    assert [None if pd.isna(label) else label for label in labels] == AWKWARD_TEXT


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

    frame = _frame(engine)

    assert frame["n"].tolist() == [-(2**62), 0, 2**62]
    assert frame["flag"].tolist()[:2] == [True, False]
    assert pd.isna(frame["flag"].tolist()[2])
    stamps = [None if pd.isna(at) else pd.Timestamp(at).to_pydatetime() for at in frame["stamp"]]
    assert stamps == moments


def test_timestamps_are_read_whatever_the_sessions_time_zone(postgres_url):
    """PostgreSQL prints old dates with an offset in seconds in some zones (``+00:19:32``)."""
    engine = create_hunter_engine(postgres_url)
    try:
        old = datetime(1900, 1, 1, 12, 0, tzinfo=UTC)
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL TimeZone = 'Europe/Amsterdam'")
            frame = query_frame(
                conn, "SELECT CAST('1900-01-01 12:00:00+00' AS TIMESTAMPTZ) AS stamp", {"stamp": "timestamp"}
            )
        assert pd.Timestamp(frame["stamp"][0]).to_pydatetime() == old
    finally:
        engine.dispose()


def test_a_query_without_rows_gives_an_empty_frame_with_the_columns(engine):
    frame = _frame(engine)

    assert frame.empty
    assert list(frame.columns) == list(TYPES)
