"""Staging a frame into a temporary table, on DuckDB and real PostgreSQL."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa

from partner_center_assets.hunter_db import staging
from partner_center_assets.hunter_db.engine import create_hunter_engine
from partner_center_assets.hunter_db.staging import stage_frame

AWKWARD_TEXTS = ["plain", "", None, 'say "hi", then leave', "two\nlines\r\n", "back\\slash", "Ωμέγα ✓", r"\N"]


def _staged(database_url: str, frame: pd.DataFrame, types: dict[str, str]) -> list[tuple]:
    engine = create_hunter_engine(database_url)
    try:
        with engine.begin() as conn:
            stage_frame(conn, "pc_test_stage", frame, types)
            return [tuple(r) for r in conn.execute(sa.text("SELECT * FROM pc_test_stage ORDER BY n")).all()]
    finally:
        engine.dispose()


def test_a_staged_frame_reads_back_value_for_value(database_url: str) -> None:
    lead_ids = [7, None, 2**62, 0, -1, None, 3, 4]
    frame = pd.DataFrame(
        {
            "n": range(len(AWKWARD_TEXTS)),
            "text": pd.Series(AWKWARD_TEXTS, dtype="string"),
            "lead_id": pd.Series(lead_ids, dtype="Int64"),
        }
    )

    rows = _staged(database_url, frame, {"n": "int", "text": "text", "lead_id": "int"})

    assert rows == list(zip(range(len(AWKWARD_TEXTS)), AWKWARD_TEXTS, lead_ids, strict=True))


def test_whole_numbers_in_a_float_column_stage_as_integers(database_url: str) -> None:
    frame = pd.DataFrame({"n": [0, 1], "lead_id": [12.0, None]})

    assert _staged(database_url, frame, {"n": "int", "lead_id": "int"}) == [(0, 12), (1, None)]


def test_a_frame_read_from_several_arrow_chunks_stages_whole(database_url: str) -> None:
    chunks = [pa.record_batch({"n": [0, 1], "text": ["a", None]}), pa.record_batch({"n": [2], "text": ["c"]})]
    frame = pa.Table.from_batches(chunks).to_pandas()

    assert _staged(database_url, frame, {"n": "int", "text": "text"}) == [(0, "a"), (1, None), (2, "c")]


def test_an_empty_frame_stages_an_empty_table(database_url: str) -> None:
    frame = pd.DataFrame({"n": pd.Series([], dtype="int64"), "text": pd.Series([], dtype="string")})

    assert _staged(database_url, frame, {"n": "int", "text": "text"}) == []


def test_a_frame_longer_than_a_chunk_stages_whole(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staging, "FRAME_CHUNK_ROWS", 3)
    frame = pd.DataFrame({"n": range(10), "text": [f"row {n}" if n % 4 else None for n in range(10)]})

    rows = _staged(database_url, frame, {"n": "int", "text": "text"})

    assert rows == [(n, f"row {n}" if n % 4 else None) for n in range(10)]


def test_rows_are_kept_by_fetch_seq_whatever_the_order_and_range_of_the_batch() -> None:
    keep = staging.keep_fetch_seqs([5, 0, 3, 3])
    batch = pa.record_batch({"fetch_seq": pa.array([7, 3, 0, 1, 5, 6, 2**40], pa.int64())})

    assert keep(batch).to_pylist() == [False, True, True, False, True, False, False]


def test_no_fetch_seq_keeps_no_row() -> None:
    keep = staging.keep_fetch_seqs([])

    assert keep(pa.record_batch({"fetch_seq": pa.array([0, 1], pa.int64())})).to_pylist() == [False, False]
