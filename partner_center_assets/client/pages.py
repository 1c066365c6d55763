"""The referrals reader: pages of ``GET /engagements/referrals`` followed by ``@odata.nextLink``.

Only a missing next link ends a stream: pages shorter than ``$top`` are normal. A next link is
followed verbatim on the configured API host, resolved against the base URL when relative, upgraded
from ``http://`` to the base URL's scheme and port on the configured host (when on port 80 or the
base URL's port), and refused on any other host or port before anything, let alone the token, is
sent there. A stream also ends at the watermark, at ``max_pages``, on a repeated link or on an empty
page that still has a next link; the last three log a warning.

The watermark stop comes after the first page whose newest parseable ``updatedDateTime`` is
strictly older than the cutoff; that page's records are still yielded. Pages come newest first, so
every referral updated at or after the cutoff has been read, with one page of margin past the cutoff
for a server whose order is not perfectly stable: a quiet day costs two requests per stream. A page
on which no ``updatedDateTime`` parses never stops a stream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urljoin, urlsplit, urlunsplit

from partner_center_assets import tolerant_json
from partner_center_assets.settings import Settings

from .auth import TokenProvider
from .errors import PartnerCenterNextLinkError
from .http import AccessTokenSource, ApiTransport, CallCounters, Timeout
from .page_outline import NEXT_LINK, PageOutline, outline

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass
class RawPage:
    """One page as received: the body untouched, plus how it was fetched."""

    stream: str
    page_number: int
    url: str
    status_code: int
    request_id: str | None
    client_request_id: str
    record_count: int
    odata_count: int | None
    next_link: str | None
    attempts: int
    elapsed_s: float
    content: bytes = b""
    """The response body as received (``records`` is its ``value`` array, parsed)."""
    parsed_records: list[Any] | None = field(default=None, repr=False)

    @property
    def records(self) -> list[Any]:
        """The ``value`` array; parsed from ``content`` on first use when the page was only outlined
        (:mod:`partner_center_assets.client.page_outline`)."""
        if self.parsed_records is None:
            self.parsed_records = list(tolerant_json.loads(self.content)["value"])
        return self.parsed_records


@dataclass
class StreamStats:
    """What one stream cost and why it ended.

    ``throttled_seconds`` is the time slept before retries (``Retry-After`` and backoff), not pacing.
    ``stop_reason``: ``no_next_link``, ``watermark``, ``max_pages``, ``repeated_link`` or ``empty_page``.
    """

    pages: int = 0
    records: int = 0
    requests: int = 0
    retries: int = 0
    throttled_seconds: float = 0.0
    stop_reason: str = ""
    max_pages_reached: bool = False


def check_page_body(body: Any) -> str | None:
    """Why a list response cannot be a page, or None: an object whose ``value`` is a list."""
    if not isinstance(body, Mapping):
        return f"expected a JSON object, got {type(body).__name__}"
    if "value" not in body:
        return "no 'value' array"
    if not isinstance(body["value"], list):
        return f"'value' is {type(body['value']).__name__}, not an array"
    link = body.get(NEXT_LINK)
    if link is not None and not isinstance(link, str):
        return f"'{NEXT_LINK}' is {type(link).__name__}, not a string"
    return None


def check_entity_body(body: Any) -> str | None:
    if not isinstance(body, Mapping):
        return f"expected a JSON object, got {type(body).__name__}"
    return None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def resolve_next_link(link: str, base_url: str) -> str:
    """The URL to request for ``link``, or :class:`PartnerCenterNextLinkError` if it leaves the API host."""
    base = urlsplit(base_url)
    base_scheme, base_host, base_port = _origin(base_url)
    parts = urlsplit(link)
    if not parts.scheme and not parts.netloc:
        return urljoin(base_url.rstrip("/") + "/", link)
    scheme = (parts.scheme or base_scheme).lower()
    host = (parts.hostname or "").lower()
    if host == base_host and not parts.username and not parts.password:
        if scheme == base_scheme and (parts.port or _DEFAULT_PORTS.get(scheme)) == base_port:
            return link if parts.scheme else f"{base_scheme}:{link}"
        if scheme == "http" and parts.port in (None, _DEFAULT_PORTS["http"], base_port):
            return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, parts.fragment))
    raise PartnerCenterNextLinkError(
        f"Refusing @odata.nextLink to {parts.netloc or link!r}: it is not the configured API host "
        f"{base.netloc}, so neither the request nor the access token is sent there",
        url=link,
    )


def link_key(url: str) -> tuple[Any, ...]:
    """What two links to the same page share, however they are encoded.

    Servers write next links percent-encoded or not (``%20``, ``+`` or a bare space) while the URL
    actually requested is always encoded, so links are compared decoded, query parameters in order.
    """
    scheme, host, port = _origin(url)
    parts = urlsplit(url)
    return (
        scheme,
        host,
        port,
        unquote(parts.path),
        tuple(sorted(parse_qsl(parts.query, keep_blank_values=True))),
    )


class PartnerCenterClient:
    """Authenticated, paced, retrying reader of Partner Center referrals."""

    def __init__(
        self,
        *,
        base_url: str,
        api_version: str,
        transport: ApiTransport,
        token_provider: AccessTokenSource,
        logger: logging.Logger | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version.strip("/")
        self.token_provider = token_provider
        self._transport = transport
        self._logger = logger or logging.getLogger("partner_center_assets.client")

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        logger: logging.Logger | None = None,
        token_provider: AccessTokenSource | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_retry_after: float = 60.0,
        backoff_base: float = 1.0,
        max_attempts: int = 6,
        timeout: Timeout = (10, 60),
        clock: Callable[[], float] = time.monotonic,
    ) -> PartnerCenterClient:
        provider = token_provider or TokenProvider.from_settings(settings, logger=logger)
        transport = ApiTransport(
            token_provider=provider,
            ca_bundle=settings.ca_bundle,
            timeout=timeout,
            sleep=sleep,
            clock=clock,
            max_attempts=max_attempts,
            backoff_base=backoff_base,
            max_retry_after=max_retry_after,
            retry_budget_s=settings.retry_budget_seconds,
            requests_per_minute=settings.requests_per_minute,
            logger=logger,
        )
        return cls(
            base_url=settings.base_url,
            api_version=settings.api_version,
            transport=transport,
            token_provider=provider,
            logger=logger,
        )

    @property
    def referrals_url(self) -> str:
        return f"{self.base_url}/{self.api_version}/engagements/referrals"

    def close(self) -> None:
        self._transport.close()
        close = getattr(self.token_provider, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> PartnerCenterClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get_referral(self, referral_id: str) -> dict[str, Any]:
        """One referral by id."""
        if not isinstance(referral_id, str) or not referral_id.strip():
            raise ValueError("referral_id must be a non-blank string")
        url = f"{self.referrals_url}/{quote(referral_id, safe='')}"
        return dict(self._transport.get_json(url, check_body=check_entity_body).body)

    def iter_referral_pages(
        self,
        stream: str,
        query: Mapping[str, str],
        *,
        cutoff: datetime | None,
        max_pages: int,
        stats: StreamStats | None = None,
    ) -> Iterator[RawPage]:
        """Pages of one stream, newest first as ordered by ``query``; see the module docstring for stops.

        ``stats`` is updated as pages arrive, so a caller keeps the counts even when the stream fails.
        """
        if max_pages < 1:
            raise ValueError("max_pages must be at least 1")
        if cutoff is not None and cutoff.tzinfo is None:
            raise ValueError("cutoff must be timezone-aware")
        stats = stats if stats is not None else StreamStats()
        url = self.referrals_url
        params: Mapping[str, str] | None = dict(query)
        followed: set[tuple[Any, ...]] = set()
        page_number = 0
        while True:
            page_number += 1
            counters = CallCounters()
            try:
                response = self._transport.get_json(
                    url, params=params, check_body=check_page_body, read_body=outline, counters=counters
                )
            finally:
                stats.requests += counters.requests
                stats.retries += counters.retries
                stats.throttled_seconds += counters.waited_s
            followed.add(link_key(response.url))
            body = response.body
            parsed = None if isinstance(body, PageOutline) else list(body["value"])
            shape = body if isinstance(body, PageOutline) else PageOutline.of(body)
            page = RawPage(
                stream=stream,
                page_number=page_number,
                url=response.url,
                status_code=response.status_code,
                request_id=response.request_id,
                client_request_id=response.client_request_id,
                record_count=shape.record_count,
                odata_count=shape.odata_count,
                next_link=shape.next_link,
                attempts=response.attempts,
                elapsed_s=response.elapsed_s,
                content=response.content,
                parsed_records=parsed,
            )
            stats.pages += 1
            stats.records += shape.record_count
            yield page

            newest = shape.newest_updated
            next_link = shape.next_link
            if next_link is None:
                self._stop(stats, page, "no_next_link")
                return
            if cutoff is not None and newest is not None and newest < cutoff:
                self._stop(stats, page, "watermark")
                return
            if not shape.record_count:
                self._stop(stats, page, "empty_page", warn=True)
                return
            if page_number >= max_pages:
                stats.max_pages_reached = True
                self._stop(stats, page, "max_pages", warn=True)
                return
            url = resolve_next_link(next_link, self.base_url)
            if link_key(url) in followed:
                self._stop(stats, page, "repeated_link", warn=True)
                return
            params = None

    def _stop(self, stats: StreamStats, page: RawPage, reason: str, *, warn: bool = False) -> None:
        stats.stop_reason = reason
        messages = {
            "no_next_link": "no next link",
            "watermark": "every record on the page is older than the watermark cutoff",
            "empty_page": "an empty page still carried a next link",
            "max_pages": "the page limit (HUNTER_PARTNER_CENTER_MAX_PAGES) was reached; older referrals "
            "were not read in this sync",
            "repeated_link": "the next link repeats one already followed",
        }
        self._logger.log(
            logging.WARNING if warn else logging.INFO,
            "Stream %s stopped after page %d (%d records): %s; last page GET %s -> %s (request-id %s)",
            page.stream,
            page.page_number,
            stats.records,
            messages[reason],
            page.url,
            page.status_code,
            page.request_id,
        )
