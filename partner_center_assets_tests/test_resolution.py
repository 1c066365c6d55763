"""Resolution over stored columns: the same decisions as over whole referrals, in row order."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from partner_center_assets.ingest.domains import DomainResolver
from partner_center_assets.ingest.normalize import NORMALIZED_COLUMNS, NORMALIZED_DTYPES, normalize_referral
from partner_center_assets.ingest.reasons import SkipReason
from partner_center_assets.ingest.redaction import PayloadTrimmer
from partner_center_assets.ingest.resolution import (
    DUPLICATE_KEY_COLUMNS,
    RULE_COLUMNS,
    DuplicateKeyRow,
    find_duplicates,
    resolve_columns,
)
from partner_center_assets.ingest.rules import (
    RESOLVED_DTYPES,
    RESOLVED_EXTRA_COLUMNS,
    mark_duplicates,
    resolve_batch,
)
from partner_center_assets.sync_files import arrow_schema, with_columns
from partner_center_assets_tests.test_rules import referral

RESOLVER = DomainResolver()


def records() -> list[tuple[str, object]]:
    return [
        ("discovery", referral("r1")),
        ("discovery", referral("r2", status="Closed")),
        ("discovery", referral("r1", updatedDateTime="2024-01-03T00:00:00Z")),
        ("discovery", 7),
        ("discovery", referral("r3", customerProfile={"team": [{"email": "someone@gmail.com"}]})),
    ]


def columns_of(items: list[tuple[str, object]]) -> dict[str, list[Any]]:
    rows = [
        normalize_referral(record, fetch_seq=seq, stream=stream) for seq, (stream, record) in enumerate(items)
    ]
    return {name: [getattr(row, name) for row in rows] for name in NORMALIZED_COLUMNS}


def test_decisions_match_resolving_whole_referrals_row_for_row() -> None:
    items = records()
    columns = columns_of(items)
    normalized = [
        normalize_referral(record, fetch_seq=seq, stream=s) for seq, (s, record) in enumerate(items)
    ]
    duplicates = mark_duplicates(normalized)

    resolved = resolve_columns(columns, duplicates, RESOLVER, direction="Incoming")

    expected = [
        item.as_row()[len(NORMALIZED_COLUMNS) :] for item in resolve_batch(items, RESOLVER, "Incoming")
    ]
    assert [decision.as_row() for decision in resolved.decisions] == expected
    assert [decision.skip_reason for decision in resolved.decisions] == [
        SkipReason.DUPLICATE,
        None,
        None,
        SkipReason.INVALID_PAYLOAD,
        None,
    ]


def test_only_the_rule_columns_are_read() -> None:
    columns = {name: values for name, values in columns_of(records()).items() if name in RULE_COLUMNS}
    resolved = resolve_columns(columns, {}, RESOLVER, direction="Incoming")
    assert len(resolved.decisions) == len(records())


def test_trimmed_payloads_are_reported_by_row_with_their_new_hash() -> None:
    items = [
        ("discovery", referral("r1", team=[{"email": "seller@partner.example"}])),
        ("discovery", referral("r2")),
    ]
    trimmer = PayloadTrimmer((("team",),))

    resolved = resolve_columns(columns_of(items), {}, RESOLVER, direction="Incoming", trimmer=trimmer)

    assert list(resolved.trimmed) == [0]
    text, digest = resolved.trimmed[0]
    assert "team" not in json.loads(text)
    assert digest == normalize_referral(json.loads(text), fetch_seq=0, stream="discovery").payload_hash
    assert resolved.decisions[0].domain == "fabrikam.com"
    assert trimmer.trimmed == 1


def test_payloads_holding_integers_beyond_64_bits_or_deep_nesting_resolve_their_domain() -> None:
    items = [
        ("discovery", referral("r1", details={"dealValue": 10**30})),
        ("discovery", referral("r2", deep=json.loads("[" * 300 + "]" * 300))),
    ]

    resolved = resolve_columns(columns_of(items), {}, RESOLVER, direction="Incoming")

    assert [decision.domain for decision in resolved.decisions] == ["fabrikam.com", "fabrikam.com"]
    assert [decision.skip_reason for decision in resolved.decisions] == [None, None]


def test_a_trimmed_payload_keeps_an_integer_beyond_64_bits_exactly() -> None:
    items = [("discovery", referral("r1", team=[{"email": "x@partner.example"}], big=10**30))]

    resolved = resolve_columns(
        columns_of(items), {}, RESOLVER, direction="Incoming", trimmer=PayloadTrimmer((("team",),))
    )

    text, _ = resolved.trimmed[0]
    assert '"big":1000000000000000000000000000000' in text


def test_no_rows_give_empty_decision_columns() -> None:
    resolved = resolve_columns(columns_of([]), {}, RESOLVER, direction="Incoming")
    assert resolved.decision_columns() == {name: [] for name in RESOLVED_EXTRA_COLUMNS}


def test_decision_columns_extend_a_stored_batch_without_touching_its_other_columns() -> None:
    columns = columns_of(records())
    batch = pa.RecordBatch.from_pydict(columns, schema=arrow_schema(NORMALIZED_DTYPES))
    resolved = resolve_columns(columns, {}, RESOLVER, direction="Incoming")

    extended = with_columns(batch, arrow_schema(RESOLVED_DTYPES), resolved.decision_columns())

    assert extended.schema == arrow_schema(RESOLVED_DTYPES)
    for name in NORMALIZED_COLUMNS:
        assert extended.column(name).equals(batch.column(name))
    assert extended.column("domain").to_pylist() == [d.domain for d in resolved.decisions]


_KEY_SCHEMA = arrow_schema({name: NORMALIZED_DTYPES[name] for name in DUPLICATE_KEY_COLUMNS})
_MOMENTS = [datetime(2024, 1, day, tzinfo=UTC) for day in (1, 2, 3)]


@st.composite
def keyed_rows_in_batches(draw: st.DrawFn) -> tuple[list[DuplicateKeyRow], list[pa.RecordBatch]]:
    """Rows of few ids (some missing, some invalid, some tied) split into batches at random.

    A valid row always has its time of update (normalization makes a row without one invalid).
    """
    count = draw(st.integers(0, 30))
    rows = []
    for seq in range(count):
        invalid = draw(st.sampled_from([None, None, None, "not an object"]))
        moments = _MOMENTS if invalid is None else [*_MOMENTS, None]
        rows.append(
            DuplicateKeyRow(
                fetch_seq=seq,
                id=draw(st.sampled_from(["a", "b", "c", "d", None])),
                updated_at=draw(st.sampled_from(moments)),
                invalid_detail=invalid,
            )
        )
    cuts = sorted(draw(st.lists(st.integers(0, count), max_size=4)))
    bounds = [0, *cuts, count]
    batches = [
        pa.RecordBatch.from_pylist([row._asdict() for row in rows[start:end]], schema=_KEY_SCHEMA)
        for start, end in itertools.pairwise(bounds)
    ]
    return rows, batches


@given(keyed_rows_in_batches())
def test_duplicates_found_in_arrow_batches_are_those_of_the_rule(case) -> None:
    rows, batches = case
    assert find_duplicates(batches) == mark_duplicates(rows)


def test_no_batches_have_no_duplicates() -> None:
    assert find_duplicates([]) == {}


def test_a_duplicate_split_across_batches_keeps_the_latest_copy() -> None:
    first = DuplicateKeyRow(0, "r1", _MOMENTS[2], None)
    second = DuplicateKeyRow(1, "r1", _MOMENTS[0], None)
    batches = [pa.RecordBatch.from_pylist([row._asdict()], schema=_KEY_SCHEMA) for row in (first, second)]
    assert find_duplicates(batches) == {1: SkipReason.DUPLICATE}
