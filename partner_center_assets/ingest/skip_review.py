"""Judging a sync's skipped referrals: when the skip counts deserve a warning or an error.

A few skips are normal (consumer mail, declined referrals); a sudden majority usually means a broken
domain list, a changed payload or a wrong filter, and should stop the models downstream.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from partner_center_assets.ingest.reasons import SkipReason
from partner_center_assets.settings import PREFIX

WARN_SHARE_VARIABLE = PREFIX + "SKIPPED_SHARE_WARN"
ERROR_SHARE_VARIABLE = PREFIX + "SKIPPED_SHARE_ERROR"
DEFAULT_WARN_SHARE = 0.5


class Verdict(StrEnum):
    PASSED = "passed"
    WARN = "warn"
    ERROR = "error"


def _share(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value: float | None = float(raw)
    except ValueError:
        value = None
    if value is None or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a share from 0 to 1 (0.5 is half), got {raw!r}")
    return value


@dataclass(frozen=True)
class SkipLimits:
    """Shares of fetched referrals above which skips warn, and (when set) fail the check."""

    warn_share: float = DEFAULT_WARN_SHARE
    error_share: float | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SkipLimits:
        """Read both limits; a value that is not a share from 0 to 1 is refused, naming its variable."""
        env = os.environ if environ is None else environ
        warn = _share(env, WARN_SHARE_VARIABLE)
        error = _share(env, ERROR_SHARE_VARIABLE)
        return cls(DEFAULT_WARN_SHARE if warn is None else warn, error)


@dataclass(frozen=True)
class SkipReview:
    verdict: Verdict
    share: float
    problems: tuple[str, ...]


def review_skips(counts: Mapping[str, int], fetched: int, limits: SkipLimits) -> SkipReview:
    """Pass, warn (any invalid payload, or the warn share passed) or error (the error share passed)."""
    skipped = sum(counts.values())
    share = skipped / fetched if fetched else 0.0
    problems: list[str] = []
    verdict = Verdict.PASSED
    invalid = counts.get(SkipReason.INVALID_PAYLOAD, 0)
    if invalid > 0:
        problems.append(f"{invalid} invalid payload(s)")
        verdict = Verdict.WARN
    if limits.error_share is not None and share > limits.error_share:
        problems.append(
            f"{share:.0%} of fetched referrals skipped (error above {limits.error_share:.0%}, "
            f"{ERROR_SHARE_VARIABLE})"
        )
        verdict = Verdict.ERROR
    elif share > limits.warn_share:
        problems.append(f"{share:.0%} of fetched referrals skipped (threshold {limits.warn_share:.0%})")
        verdict = Verdict.WARN
    return SkipReview(verdict, share, tuple(problems))
