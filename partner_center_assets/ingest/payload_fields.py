"""Which top-level fields of the referrals a sync read are new: not in the API's documentation.

The referral resource has grown over the years (``solutionPlay`` for FY26 co-sell, for one). A field
we do not know is never lost, since the whole payload is stored in ``raw_payload``; counting such
fields per sync tells the people who keep the dbt models when there is something new to model.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

DOCUMENTED_FIELDS = frozenset(
    {
        # The referral resource and its create/update requests.
        "id",
        "engagementId",
        "name",
        "organizationId",
        "organizationName",
        "externalReferenceId",
        "createdDateTime",
        "updatedDateTime",
        "expirationDateTime",
        "acceptedDateTime",
        "status",
        "substatus",
        "statusReason",
        "type",
        "qualification",
        "direction",
        "referralSource",
        "callToAction",
        "customerProfile",
        "consent",
        "details",
        "customerMarketplaceIntent",
        "team",
        "inviteContext",
        "target",
        "links",
        "eTag",
        "salesStage",
        "campaignId",
        "favorite",
        "lastModifiedVia",
        "lastRunId",
        "partnerRole",
        "solutionArea",
        "solutionPlay",
        # Seen in real responses, not in the reference.
        "quality",
        "isSpam",
        "mpnId",
        "referralProgram",
        "dealSensitivity",
        "createdVia",
        "tags",
        "closedDateTime",
        "registrationStatus",
        "trackingInfo",
        "registrations",
        # Legacy fields the domain rules still read.
        "website",
        "email",
    }
)
REPORTED_FIELDS = 20
"""At most this many new fields are named in a report, the most frequent first."""


class FieldCensus:
    """Counts, over the records of one sync, the top-level fields the documentation does not list."""

    def __init__(self) -> None:
        self._fields: Counter[str] = Counter()

    def observe(self, record: Any) -> None:
        if isinstance(record, dict):
            self._fields.update(record.keys())

    def merge(self, other: FieldCensus) -> None:
        """Add the counts of another census, taken over other records of the same sync."""
        self._fields.update(other._fields)

    def undocumented(self) -> dict[str, int]:
        """New field → records holding it, most frequent first (ties by name), at most REPORTED_FIELDS."""
        new = [(name, count) for name, count in self._fields.items() if name not in DOCUMENTED_FIELDS]
        new.sort(key=lambda item: (-item[1], item[0]))
        return dict(new[:REPORTED_FIELDS])
