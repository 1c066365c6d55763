"""OData query options for the referrals list.

Values from configuration end up inside ``$filter``; they are validated as plausible enum values and
quoted the OData way (single quotes doubled), so no setting can change the shape of the query. Either
measure alone would do; both together guard against a mistake in the other.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from partner_center_assets.settings import check_enum_value

_ORDERBY = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:/[A-Za-z][A-Za-z0-9]*)*(?: (?:asc|desc))?")


def quote_odata_string(value: str) -> str:
    """An OData string literal: ``O'Neil`` becomes ``'O''Neil'``."""
    return "'" + value.replace("'", "''") + "'"


def build_referral_query(
    *,
    direction: str,
    statuses: Sequence[str],
    top: int,
    orderby: str = "updatedDateTime desc",
) -> dict[str, str]:
    """Query options selecting referrals of one direction whose status is one of ``statuses``.

    >>> build_referral_query(direction="Incoming", statuses=["New", "Active"], top=200)["$filter"]
    "direction eq 'Incoming' and (status eq 'New' or status eq 'Active')"
    """
    if isinstance(statuses, str):
        raise ValueError("statuses must be a sequence of values, not one string")
    if not statuses:
        raise ValueError("statuses must name at least one referral status")
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ValueError(f"top must be a positive whole number, got {top!r}")
    if not isinstance(orderby, str) or not _ORDERBY.fullmatch(orderby):
        raise ValueError(f"orderby {orderby!r} must be a property path, optionally followed by asc or desc")
    direction_clause = f"direction eq {quote_odata_string(check_enum_value('direction', direction))}"
    status_clauses = [f"status eq {quote_odata_string(check_enum_value('status', s))}" for s in statuses]
    status_part = status_clauses[0] if len(status_clauses) == 1 else "(" + " or ".join(status_clauses) + ")"
    return {
        "$filter": f"{direction_clause} and {status_part}",
        "$orderby": orderby,
        "$top": str(top),
    }
