"""The fast cases of the reliability suite (``bench/reliability.py``), as specifications run in CI.

Real processes throughout: ``partner-center emulator`` in its own process, every sync a child
process (the daily job without its dbt step), a throwaway PostgreSQL database per run. Each test
compares the Hunter tables with those a clean run over the same data leaves. ``python -m
bench.reliability --long`` runs the heavy variants (full CLI syncs, the whole fault matrix, at
least 20 crashes).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.reliability import (
    CaseResult,
    Suite,
    bad_input,
    concurrency,
    crash_safety,
    database_faults,
    fault_matrix,
    secrets,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def suite(postgres_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    """The emulator with the suite's data, and the states a clean first and a clean later sync leave."""
    suite = Suite(tmp_path_factory.mktemp("reliability"), long=False, seed=7)
    try:
        suite.setup()
        yield suite
    finally:
        suite.close()


def _explain(result: CaseResult) -> str:
    return "\n".join(result.failures + [f"note: {note}" for note in result.notes])


def test_faults_at_the_first_middle_and_last_page_leave_the_state_of_a_clean_run(suite: Suite) -> None:
    result = fault_matrix(suite)
    assert result.failures == [], _explain(result)
    assert result.figures.faults_survived == result.figures.faults_injected > 0


def test_a_sync_killed_during_fetch_staging_merge_or_links_converges_on_the_next_run(suite: Suite) -> None:
    result = crash_safety(suite)
    assert result.failures == [], _explain(result)
    assert result.figures.converged == result.figures.crashes >= 4
    assert (result.figures.rows_lost, result.figures.rows_duplicated) == (0, 0)


def test_a_connection_terminated_mid_merge_fails_the_run_and_commits_nothing(suite: Suite) -> None:
    result = database_faults(suite)
    assert result.failures == [], _explain(result)
    assert result.figures.database_faults_clean == result.figures.database_faults > 0
    assert not [note for note in result.notes if "closing FAILED line says only" in note]


def test_two_syncs_started_at_once_wait_or_fail_clearly_and_leave_the_clean_state(suite: Suite) -> None:
    result = concurrency(suite)
    assert result.failures == [], _explain(result)
    assert result.figures.concurrent_correct == result.figures.concurrent_syncs > 0


def test_no_secret_reaches_output_dagster_events_or_files(suite: Suite) -> None:
    result = secrets(suite)
    assert result.failures == [], _explain(result)
    assert result.figures.secrets_leaked == 0
    assert result.figures.secrets_checked >= 4


def test_ten_thousand_hostile_documents_are_each_ingested_or_skipped_with_a_reason(suite: Suite) -> None:
    result = bad_input(suite)
    assert result.failures == [], _explain(result)
    assert result.figures.hostile_accounted == result.figures.hostile_records == 10_000
