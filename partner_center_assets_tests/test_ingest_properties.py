"""Properties over arbitrary referral-shaped JSON: nothing crashes, every record is accounted for."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partner_center_assets.ingest.domains import DomainResolver
from partner_center_assets.ingest.mail_lists import CONSUMER_DOMAINS, DISPOSABLE_DOMAINS
from partner_center_assets.ingest.normalize import normalize_referral
from partner_center_assets.ingest.payload import (
    canonical_json,
    canonical_json_with_hash,
    payload_hash,
    strip_nul,
)
from partner_center_assets.ingest.reasons import SKIP_REASONS
from partner_center_assets.ingest.rules import SyncCounters, resolve_batch

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

RESOLVER = DomainResolver(own_domains=["partner-firm.com"])

nasty_text = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(["\u0000", "@", ".", " ", "é", "😀", "\ud800", "/", ":", "ß", "x"])),
    st.builds(
        lambda char, size: char * size, st.sampled_from(["a", "\u0000", "@", "😀"]), st.integers(0, 20_000)
    ),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    nasty_text,
)
junk = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(nasty_text, children, max_size=4)
    ),
    max_leaves=12,
)


def maybe(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(valid, valid, junk)


timestamps = maybe(
    st.sampled_from(
        [
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00.1234567Z",
            "2024-01-01T00:00:00.123Z",
            "2024-01-02T00:00:00+01:00",
            "2024-01-01T00:00:00.1234561Z",
        ]
    )
)
emails = maybe(
    st.one_of(
        st.sampled_from(
            [
                "sue@fabrikam.com",
                "bob@sales.contoso.co.uk",
                "x@gmail.com",
                "x@microsoft.com",
                "x@partner-firm.com",
                "x@faß.de",
                "bad@@x.com",
                "noat",
            ]
        ),
        st.emails(),
    )
)
members = maybe(st.fixed_dictionaries({}, optional={"email": emails, "firstName": junk}))
customer_profile = maybe(
    st.fixed_dictionaries(
        {},
        optional={
            "name": maybe(st.text()),
            "address": maybe(
                st.fixed_dictionaries({}, optional={"country": maybe(st.sampled_from(["US", "DE"]))})
            ),
            "team": st.one_of(st.lists(members, max_size=4), members),
            "ids": maybe(
                st.lists(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "profileType": maybe(st.sampled_from(["External", "Duns"])),
                            "id": maybe(st.sampled_from(["fabrikam.com", "https://www.x.org/", "795986822"])),
                        },
                    ),
                    max_size=3,
                )
            ),
            "website": maybe(st.sampled_from(["www.fabrikam.com", "https://contoso.com/x", "co.uk"])),
            "email": emails,
        },
    )
)
referral_like = st.fixed_dictionaries(
    {},
    optional={
        "id": maybe(st.sampled_from(["r1", "r2", "r3", " ", "", "r\u00001"])),
        "createdDateTime": timestamps,
        "updatedDateTime": timestamps,
        "status": maybe(st.sampled_from(["New", "Active", "Closed", "None"])),
        "substatus": maybe(st.sampled_from(["Pending", "Accepted", "Lost", "Declined", "Expired", "Error"])),
        "direction": maybe(st.sampled_from(["Incoming", "Outgoing"])),
        "name": maybe(nasty_text),
        "customerProfile": customer_profile,
        "team": junk,
        "details": maybe(st.fixed_dictionaries({}, optional={"dealValue": junk, "currency": junk})),
        "website": junk,
        "extra": junk,
    },
)
records = st.one_of(referral_like, referral_like, referral_like, junk)
batches = st.lists(st.tuples(st.sampled_from(["discovery", "changes"]), records), max_size=12)


def strings_in(value: Any) -> list[str]:
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            found.extend(item)
            stack.extend(item.values())
    return found


@SETTINGS
@given(records)
def test_normalization_never_raises_and_stores_clean_json(record: object) -> None:
    item = normalize_referral(record, fetch_seq=0, stream="discovery")
    assert not any("\u0000" in text for text in strings_in(json.loads(item.raw_payload)))
    item.raw_payload.encode("utf-8")
    assert canonical_json(json.loads(item.raw_payload)) == item.raw_payload
    assert item.payload_hash == payload_hash(item.raw_payload)
    text_fields = [item.id, item.name, item.status, item.direction, item.customer_name, item.currency]
    assert all(value is None or "\u0000" not in value for value in text_fields)
    if item.invalid_detail is None:
        assert item.id is not None and item.id.strip()
        assert item.created_at is not None and item.updated_at is not None


@SETTINGS
@given(batches)
def test_every_record_is_kept_or_skipped_under_exactly_one_reason(batch: list[tuple[str, object]]) -> None:
    resolved = resolve_batch(batch, RESOLVER, "Incoming")
    assert len(resolved) == len(batch)
    counters = SyncCounters(fetched=len(batch))
    kept_ids: list[str | None] = []
    for item in resolved:
        assert item.skip_reason is None or item.new_skip_reason is None
        reason = item.skip_reason or item.new_skip_reason
        if reason is None:
            counters.inserted += 1
            kept_ids.append(item.referral.id)
            assert item.domain is not None
        else:
            assert reason in SKIP_REASONS
            counters.add_skip(reason)
    assert counters.total_accounted() == counters.fetched
    assert len(kept_ids) == len(set(kept_ids))
    valid_ids = {r.referral.id for r in resolved if r.skip_reason != "invalid_payload"}
    surviving = {r.referral.id for r in resolved if r.skip_reason is None}
    assert surviving == valid_ids


@SETTINGS
@given(st.one_of(referral_like, junk))
def test_resolved_domains_are_registrable_ascii_and_allowed(record: Any) -> None:
    resolution = RESOLVER.resolve(record)
    if resolution.domain is None:
        assert resolution.source is None and resolution.detail != "resolved"
    else:
        domain = resolution.domain
        assert domain.isascii() and domain == domain.lower() and "." in domain
        assert domain not in CONSUMER_DOMAINS and domain not in DISPOSABLE_DOMAINS
        assert domain not in {"microsoft.com", "partner-firm.com"}
        assert RESOLVER.host_to_domain(domain, kind="url") == domain


@SETTINGS
@given(st.one_of(nasty_text, st.emails(), junk), st.sampled_from(["email", "url"]))
def test_host_to_domain_never_raises(value: Any, kind: Any) -> None:
    domain = RESOLVER.host_to_domain(value, kind=kind)
    assert domain is None or (domain.isascii() and not domain.endswith("."))


utf8_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]))
json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), utf8_text
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(utf8_text, children, max_size=4)
    ),
    max_leaves=20,
)


plain_floats = st.one_of(
    st.just(0.0),
    st.floats(min_value=1e-4, max_value=1e16, exclude_max=True).flatmap(lambda x: st.sampled_from([x, -x])),
)
"""Floats that ``json`` writes without an exponent: where its text and orjson's are the same."""
values_json_and_orjson_agree_on = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), plain_floats, utf8_text),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(utf8_text, children, max_size=4)
    ),
    max_leaves=20,
)


def without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\u0000", "")
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    if isinstance(value, dict):
        return {without_nul(key): without_nul(item) for key, item in value.items()}
    return value


@SETTINGS
@given(json_values)
def test_strip_nul_removes_nul_and_nothing_else(value: Any) -> None:
    assert json.loads(canonical_json(strip_nul(value))) == without_nul(value)


@SETTINGS
@given(values_json_and_orjson_agree_on)
def test_canonical_text_is_what_json_dumps_writes_so_stored_hashes_stay_valid(value: Any) -> None:
    assert canonical_json(value) == json.dumps(
        value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    )


@SETTINGS
@given(json_values)
def test_canonical_text_reads_back_as_the_same_text(value: Any) -> None:
    text = canonical_json(value)
    assert json.loads(text) == value
    assert canonical_json(json.loads(text)) == text


@SETTINGS
@given(st.one_of(json_values, junk, st.integers(min_value=2**64), st.text(alphabet=["a", "\ud800"])))
def test_the_text_and_hash_written_together_are_the_text_and_its_hash(value: Any) -> None:
    text = canonical_json(value)
    assert canonical_json_with_hash(value) == (text, payload_hash(text))


@SETTINGS
@given(st.text(alphabet=st.sampled_from(["a", "\u0000", "\ud800", "é"])))
def test_cleaned_text_always_encodes_as_utf8(text: str) -> None:
    cleaned = strip_nul({text: [text]})
    canonical_json(cleaned).encode("utf-8")
    assert "\u0000" not in next(iter(cleaned))
