"""Counting the top-level referral fields the API documentation does not list."""

from __future__ import annotations

from partner_center_assets.emulator import generate_referrals
from partner_center_assets.ingest.payload_fields import REPORTED_FIELDS, FieldCensus


def test_documented_fields_are_not_reported() -> None:
    census = FieldCensus()
    for referral in generate_referrals(200, seed=4):
        census.observe(referral)

    assert census.undocumented() == {}


def test_new_fields_are_counted_per_record_most_frequent_first() -> None:
    census = FieldCensus()
    census.observe({"id": "a", "solutionPlayV2": "x", "aiScore": 1})
    census.observe({"id": "b", "aiScore": 2})
    census.observe({"id": "c", "aiScore": None})

    assert list(census.undocumented().items()) == [("aiScore", 3), ("solutionPlayV2", 1)]


def test_records_that_are_not_objects_are_ignored() -> None:
    census = FieldCensus()
    for record in (None, "text", 3, ["aiScore"]):
        census.observe(record)

    assert census.undocumented() == {}


def test_at_most_the_reported_number_of_fields_is_named() -> None:
    census = FieldCensus()
    census.observe({f"field{n:02d}": n for n in range(REPORTED_FIELDS + 5)})

    assert len(census.undocumented()) == REPORTED_FIELDS
