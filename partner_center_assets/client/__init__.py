"""Client of the Partner Center Referrals API: sign-in, paged reading, errors, query building."""

from .auth import AuthMethod, TokenProvider
from .errors import (
    PartnerCenterAuthError,
    PartnerCenterError,
    PartnerCenterNextLinkError,
    PartnerCenterRateLimitError,
)
from .pages import PartnerCenterClient, RawPage, StreamStats
from .query import build_referral_query

__all__ = [
    "AuthMethod",
    "PartnerCenterAuthError",
    "PartnerCenterClient",
    "PartnerCenterError",
    "PartnerCenterNextLinkError",
    "PartnerCenterRateLimitError",
    "RawPage",
    "StreamStats",
    "TokenProvider",
    "build_referral_query",
]
