"""When skipped referrals pass, warn or fail the ``skipped_by_reason`` check."""

from __future__ import annotations

import pytest

from partner_center_assets.ingest.reasons import empty_skip_counts
from partner_center_assets.ingest.skip_review import (
    ERROR_SHARE_VARIABLE,
    WARN_SHARE_VARIABLE,
    SkipLimits,
    Verdict,
    review_skips,
)


def counts(**skipped: int) -> dict[str, int]:
    return {**empty_skip_counts(), **skipped}


def test_a_few_skips_pass() -> None:
    review = review_skips(counts(no_domain=10), 100, SkipLimits())

    assert review.verdict is Verdict.PASSED
    assert review.share == pytest.approx(0.10)
    assert review.problems == ()


def test_a_skipped_share_above_the_warn_limit_warns() -> None:
    review = review_skips(counts(no_domain=51), 100, SkipLimits())

    assert review.verdict is Verdict.WARN
    assert review.problems == ("51% of fetched referrals skipped (threshold 50%)",)


def test_a_share_equal_to_the_warn_limit_passes() -> None:
    assert review_skips(counts(no_domain=50), 100, SkipLimits()).verdict is Verdict.PASSED


def test_any_invalid_payload_warns() -> None:
    review = review_skips(counts(invalid_payload=1), 1000, SkipLimits())

    assert review.verdict is Verdict.WARN
    assert review.problems == ("1 invalid payload(s)",)


def test_a_share_above_the_error_limit_is_an_error_naming_the_variable() -> None:
    review = review_skips(counts(no_domain=60, invalid_payload=5), 100, SkipLimits(error_share=0.6))

    assert review.verdict is Verdict.ERROR
    assert review.problems[0] == "5 invalid payload(s)"
    assert ERROR_SHARE_VARIABLE in review.problems[1]


def test_without_an_error_limit_every_skip_is_at_most_a_warning() -> None:
    assert review_skips(counts(no_domain=100), 100, SkipLimits()).verdict is Verdict.WARN


def test_a_sync_that_fetched_nothing_passes() -> None:
    assert review_skips(counts(), 0, SkipLimits(error_share=0.0)).verdict is Verdict.PASSED


def test_limits_default_to_warning_above_half_and_never_erroring() -> None:
    assert SkipLimits.from_env({}) == SkipLimits(warn_share=0.5, error_share=None)


def test_limits_are_read_from_their_variables() -> None:
    limits = SkipLimits.from_env({WARN_SHARE_VARIABLE: " 0.2 ", ERROR_SHARE_VARIABLE: "0.9"})

    assert limits == SkipLimits(warn_share=0.2, error_share=0.9)


@pytest.mark.parametrize("raw", ["half", "1.5", "-0.1", "nan", "inf"])
@pytest.mark.parametrize("variable", [WARN_SHARE_VARIABLE, ERROR_SHARE_VARIABLE])
def test_a_limit_that_is_not_a_share_is_refused_naming_its_variable(variable: str, raw: str) -> None:
    with pytest.raises(ValueError, match=f"{variable} must be a share from 0 to 1"):
        SkipLimits.from_env({variable: raw})
