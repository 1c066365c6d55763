"""The normalize and resolve steps write the same files, counts and samples whatever their workers."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from partner_center_assets import normalize_step
from partner_center_assets.emulator import iter_referrals
from partner_center_assets.ingest.domains import DomainResolver
from partner_center_assets.normalize_step import normalize_pages
from partner_center_assets.resolve_step import resolve_referrals
from partner_center_assets.sync_files import SyncFiles


def hostile_page() -> list[Any]:
    return [
        7,
        None,
        {"id": "", "createdDateTime": "2024-01-01T00:00:00Z"},
        {"id": "x\u0000y", "createdDateTime": "nope", "updatedDateTime": "2024-01-01T00:00:00Z"},
        {
            "id": "new-field",
            "createdDateTime": "2024-01-01T00:00:00Z",
            "updatedDateTime": "2024-01-01T00:00:00Z",
            "brandNewField": 1,
        },
    ]


def write_pages(files: SyncFiles, pages: list[tuple[str, list[Any]]], *, as_records: int) -> None:
    """Pages as the fetch step stores them: bodies verbatim, except page ``as_records`` re-encoded."""
    with files.page_writer() as handle:
        for number, (stream, records) in enumerate(pages, start=1):
            body = b"" if number == as_records else json.dumps({"value": records}).encode()
            handle.write(SyncFiles.page_line(stream, number, records, body))


@pytest.fixture
def pages_dir(tmp_path: Path) -> Path:
    referrals = list(iter_referrals(120, seed=3))
    pages: list[tuple[str, list[Any]]] = [("discovery", referrals[i : i + 25]) for i in range(0, 100, 25)]
    pages.insert(2, ("discovery", hostile_page()))
    pages.insert(3, ("discovery", []))
    # The changes stream sends some referrals again, newer: duplicates across chunks.
    again = [{**r, "updatedDateTime": "2030-01-01T00:00:00Z"} for r in referrals[:10]]
    pages += [("changes", again + referrals[100:])]
    write_pages(SyncFiles(tmp_path / "pages"), pages, as_records=2)
    return tmp_path / "pages"


def run_steps(pages_dir: Path, target: Path, *, workers: int) -> tuple[SyncFiles, Any, Any]:
    target.mkdir()
    files = SyncFiles(target)
    (target / files.raw_pages.name).write_bytes((pages_dir / files.raw_pages.name).read_bytes())
    normalized = normalize_pages(files, workers=workers, sample_size=4)
    resolved = resolve_referrals(
        files,
        DomainResolver(),
        direction="Incoming",
        drop_fields=(("team",),),
        workers=workers,
        sample_size=4,
    )
    return files, normalized, resolved


def test_page_ranges_cover_the_file_in_whole_lines(pages_dir: Path) -> None:
    files = SyncFiles(pages_dir)
    content = files.raw_pages.read_bytes()

    ranges = files.page_ranges(3000)

    assert ranges[0][0] == 0 and ranges[-1][1] == len(content)
    assert all(end == start for (_, end), (start, _) in itertools.pairwise(ranges))
    assert all(content[end - 1 : end] == b"\n" for _, end in ranges)
    assert all(end - start >= 3000 for start, end in ranges[:-1])


def test_workers_write_the_files_one_process_writes(
    pages_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = run_steps(pages_dir, tmp_path / "one", workers=1)[0]
    monkeypatch.setattr(normalize_step, "CHUNK_BYTES", 1)  # a task per page, a row group per page
    many = run_steps(pages_dir, tmp_path / "many", workers=3)[0]

    assert pq.ParquetFile(many.normalized).num_row_groups > 3
    assert pq.read_table(many.normalized).equals(pq.read_table(one.normalized))
    assert pq.read_table(many.resolved).equals(pq.read_table(one.resolved))
    assert pq.read_table(many.normalized)["fetch_seq"].to_pylist() == list(range(135))


def test_workers_report_the_counts_and_samples_one_process_reports(
    pages_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, one_normalized, one_resolved = run_steps(pages_dir, tmp_path / "one", workers=1)
    monkeypatch.setattr(normalize_step, "CHUNK_BYTES", 1)
    _, many_normalized, many_resolved = run_steps(pages_dir, tmp_path / "many", workers=3)

    assert (many_normalized.rows, many_normalized.invalid) == (one_normalized.rows, one_normalized.invalid)
    assert (many_normalized.rows, many_normalized.invalid) == (135, 4)
    assert many_normalized.by_stream_status == one_normalized.by_stream_status
    assert many_normalized.sample == one_normalized.sample
    assert (
        many_normalized.census.undocumented() == one_normalized.census.undocumented() == {"brandNewField": 1}
    )
    assert many_resolved == one_resolved
    assert many_resolved.counts["duplicate"] == 10
    assert many_resolved.trimmed > 0


def test_columns_with_a_value_per_referral_are_stored_without_a_dictionary(
    pages_dir: Path, tmp_path: Path
) -> None:
    files = run_steps(pages_dir, tmp_path / "one", workers=1)[0]

    for path in (files.normalized, files.resolved):
        row_group = pq.ParquetFile(path).metadata.row_group(0)
        columns = {
            row_group.column(i).path_in_schema: row_group.column(i) for i in range(row_group.num_columns)
        }
        assert columns["raw_payload"].dictionary_page_offset is None
        assert columns["id"].dictionary_page_offset is None
        assert columns["status"].dictionary_page_offset is not None
