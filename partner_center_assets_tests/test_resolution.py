"""Resolution over stored columns: the same decisions as over whole referrals, in row order."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from partner_center_assets.ingest.domains import DomainResolver
from partner_center_assets.ingest.normalize import NORMALIZED_COLUMNS, NORMALIZED_DTYPES, normalize_referral
from partner_center_assets.ingest.reasons import SkipReason
from partner_center_assets.ingest.redaction import PayloadTrimmer
from partner_center_assets.ingest.resolution import RULE_COLUMNS, resolve_columns
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
