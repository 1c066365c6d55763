"""Why a fetched referral was not written: the skip reasons of the contract, in its order."""

from __future__ import annotations

from enum import StrEnum


class SkipReason(StrEnum):
    """One reason per rule of the ingestion contract; the value is the public name."""

    INVALID_PAYLOAD = "invalid_payload"
    DUPLICATE = "duplicate"
    DIRECTION_NOT_INCOMING = "direction_not_incoming"
    STATUS_NOT_ALLOWED = "status_not_allowed"
    SUBSTATUS_EXCLUDED = "substatus_excluded"
    NO_DOMAIN = "no_domain"


SKIP_REASONS: tuple[str, ...] = tuple(reason.value for reason in SkipReason)
NEW_REFERRAL_REASONS: tuple[str, ...] = SKIP_REASONS[2:]
"""The reasons that apply only to referrals not stored yet (§4.4)."""


def empty_skip_counts() -> dict[str, int]:
    """Every reason mapped to zero, so reports always list all of them."""
    return dict.fromkeys(SKIP_REASONS, 0)
