"""Errors raised by the Partner Center client.

Every message names what a person needs to act on (status, ``request-id``, URL, and what to do next)
and never a secret: tokens, passwords and client secrets stay out of messages and reprs.
"""

from __future__ import annotations


class PartnerCenterError(Exception):
    """A request to Partner Center (or its identity provider) failed for good."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.request_id = request_id
        self.url = url

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.args[0]!r})"


class PartnerCenterAuthError(PartnerCenterError):
    """No usable token: sign-in refused, or the API refused the signed-in identity."""


class PartnerCenterRateLimitError(PartnerCenterError):
    """The API kept answering 429 after every allowed attempt."""


class PartnerCenterNextLinkError(PartnerCenterError):
    """An ``@odata.nextLink`` points away from the configured API host; it was not followed."""
