"""HTTP transport to the Partner Center API: one JSON GET with auth, retries, pacing and trust.

Retries run on tenacity (stop after ``max_attempts``, full-jitter exponential backoff, ``Retry-After``
taking precedence, an injectable ``sleep``) rather than a hand-written loop or urllib3's ``Retry``:
urllib3 retries below the point where we see the body, so it can neither retry a truncated or
non-JSON page nor refresh the token after a 401, and it cannot report waits per stream.

What is retried: 429, 5xx, connection errors and timeouts, and 2xx bodies that are truncated, not
JSON or not the expected shape. What is not: TLS verification failures (configuration, not weather),
other 4xx, redirects (never followed, so the bearer token cannot travel to another host). A 401 gets
one forced token refresh and one more try within the same attempt; 401 or 403 after that is a
:class:`PartnerCenterAuthError`. A retry budget caps what one transport (one sync) may spend waiting in
all, so a long 429 storm fails the run in minutes instead of holding it for hours.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
import tenacity

from partner_center_assets import tolerant_json

from .errors import PartnerCenterAuthError, PartnerCenterError, PartnerCenterRateLimitError

USER_AGENT = "partner-center-assets"

REQUEST_LOG = logging.getLogger(__name__)
"""One debug line per successful request. A plain Python logger, not the run's: in a Dagster run each
page already has its ``partner_center_referrals_fetched`` event, and a stored event per request cost
3 ms each (3 s per 100,000 referrals)."""
LOGIN_HINT = "run `partner-center login`"
ROLE_HINT = "check that the signed-in user has the Referral Admin or Referral User role in Partner Center"
_UNSAFE_IN_URL = re.compile(r"[\s\"<>\\^`{|}]")
_RETRIED_CONNECTION_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)

Timeout = float | tuple[float, float]
BodyCheck = Callable[[Any], str | None]
BodyReader = Callable[[bytes], Any | None]


class AccessTokenSource(Protocol):
    """What the transport needs from a token provider."""

    def get_token(self, force_refresh: bool = False) -> str: ...


@dataclass
class CallCounters:
    """Counts for one logical call, filled in place so they survive a failure."""

    requests: int = 0
    retries: int = 0
    waited_s: float = 0.0


@dataclass(frozen=True)
class ApiResponse:
    """A successful JSON response and how it was obtained."""

    url: str
    status_code: int
    request_id: str | None
    client_request_id: str
    body: Any
    attempts: int
    elapsed_s: float
    content: bytes = b""
    """The body as received, so it can be kept without being encoded again."""


class RequestPacer:
    """At most ``requests_per_minute`` request starts per minute (0 turns pacing off)."""

    def __init__(
        self,
        requests_per_minute: int,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if requests_per_minute < 0:
            raise ValueError("requests_per_minute must be 0 (off) or positive")
        self._interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self._sleep = sleep
        self._clock = clock
        self._next_slot: float | None = None
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Sleep until the next slot; return the seconds slept."""
        if not self._interval:
            return 0.0
        with self._lock:
            now = self._clock()
            slot = now if self._next_slot is None else max(now, self._next_slot)
            self._next_slot = slot + self._interval
            delay = slot - now
            if delay > 0:
                self._sleep(delay)
            return max(delay, 0.0)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; None if absent/bad."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = now or datetime.now(UTC)
    return max((when - reference).total_seconds(), 0.0)


class _RetryableFailure(Exception):
    """One attempt failed in a way worth another try (internal)."""

    def __init__(
        self,
        kind: str,
        detail: str,
        *,
        url: str,
        status_code: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.url = url
        self.status_code = status_code
        self.request_id = request_id
        self.retry_after = retry_after


@dataclass
class _CallState:
    counters: CallCounters
    attempts: int = 0
    refreshed: bool = False
    over_budget: bool = False


def response_request_id(response: requests.Response) -> str | None:
    """The server's ``request-id`` (the API also spells it ``Request-ID``; headers are case-blind)."""
    return response.headers.get("request-id") or response.headers.get("x-ms-request-id")


def _error_summary(response: requests.Response) -> str:
    """``code: message`` from an OData error body, or the start of a text body."""
    try:
        body = json.loads(response.content)
    except ValueError:
        text = response.text.strip()
        return text[:200]
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            parts = [str(error.get(k)) for k in ("code", "message") if error.get(k)]
            return ": ".join(parts)[:300]
        if body.get("message"):
            return str(body["message"])[:300]
    return ""


class ApiTransport:
    """Sends authenticated GETs to the API and returns parsed JSON, retrying what is worth retrying."""

    def __init__(
        self,
        *,
        token_provider: AccessTokenSource,
        ca_bundle: str | None = None,
        timeout: Timeout = (10, 60),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        max_attempts: int = 6,
        backoff_base: float = 1.0,
        max_retry_after: float = 60.0,
        retry_budget_s: float | None = None,
        requests_per_minute: int = 0,
        logger: logging.Logger | None = None,
        session: requests.Session | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if retry_budget_s is not None and retry_budget_s < 0:
            raise ValueError("retry_budget_s must be 0 or more")
        self._tokens = token_provider
        self._verify = ca_bundle
        self._timeout = timeout
        self._sleep = sleep
        self._clock = clock
        self._max_attempts = max_attempts
        self._max_retry_after = max_retry_after
        self._retry_budget_s = retry_budget_s
        self._waited_total_s = 0.0
        self._jitter = tenacity.wait_random_exponential(multiplier=backoff_base, max=max_retry_after)
        self._pacer = RequestPacer(requests_per_minute, sleep=sleep, clock=clock)
        self._logger = logger or logging.getLogger("partner_center_assets.client.http")
        self._session = session or requests.Session()
        self._settings_by_origin: dict[tuple[str, str], dict[str, Any]] = {}
        self._session.headers["User-Agent"] = USER_AGENT

    def close(self) -> None:
        self._session.close()

    def get_json(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        check_body: BodyCheck | None = None,
        read_body: BodyReader | None = None,
        counters: CallCounters | None = None,
    ) -> ApiResponse:
        """GET ``url`` (sent verbatim when ``params`` is empty) and return its JSON body.

        ``check_body`` returns a description of what is wrong with a parsed body, or None; a wrong
        body is retried like a 5xx. ``read_body`` reads what the caller needs of a body faster than
        a full parse, or returns None to have it parsed (and checked) in full; what it returns is
        the response's ``body`` then.
        """
        state = _CallState(counters=counters if counters is not None else CallCounters())
        started = self._clock()

        def stop(retry_state: tenacity.RetryCallState) -> bool:
            """After ``max_attempts``, or when the next wait (computed before ``stop``) passes the budget."""
            if retry_state.attempt_number >= self._max_attempts:
                return True
            budget = self._retry_budget_s
            state.over_budget = (
                budget is not None and self._waited_total_s + retry_state.upcoming_sleep > budget
            )
            return state.over_budget

        def before_sleep(retry_state: tenacity.RetryCallState) -> None:
            failure = retry_state.outcome.exception() if retry_state.outcome else None
            state.counters.retries += 1
            state.counters.waited_s += retry_state.upcoming_sleep
            self._waited_total_s += retry_state.upcoming_sleep
            if isinstance(failure, _RetryableFailure):
                self._logger.warning(
                    "GET %s -> %s (request-id %s); retry %d of %d in %.2fs",
                    failure.url,
                    failure.detail,
                    failure.request_id,
                    retry_state.attempt_number,
                    self._max_attempts - 1,
                    retry_state.upcoming_sleep,
                )

        retrying = tenacity.Retrying(
            stop=stop,
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(_RetryableFailure),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            response: ApiResponse = retrying(self._attempt, url, params, check_body, read_body, state)
        except _RetryableFailure as failure:
            raise self._exhausted(failure, state.attempts, over_budget=state.over_budget) from None
        return ApiResponse(
            url=response.url,
            status_code=response.status_code,
            request_id=response.request_id,
            client_request_id=response.client_request_id,
            body=response.body,
            attempts=state.attempts,
            elapsed_s=max(self._clock() - started, 0.0),
            content=response.content,
        )

    def _wait(self, retry_state: tenacity.RetryCallState) -> float:
        failure = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(failure, _RetryableFailure) and failure.retry_after is not None:
            return min(failure.retry_after, self._max_retry_after)
        return float(self._jitter(retry_state))

    def _attempt(
        self,
        url: str,
        params: Mapping[str, str] | None,
        check_body: BodyCheck | None,
        read_body: BodyReader | None,
        state: _CallState,
    ) -> ApiResponse:
        """One attempt: a send, and after a first 401 one forced refresh and a second send."""
        force_refresh = False
        while True:
            response, sent_url, client_request_id = self._send(url, params, state, force_refresh)
            status = response.status_code
            request_id = response_request_id(response)
            where = f"GET {sent_url} (request-id {request_id})"
            if status == 401 and not state.refreshed:
                state.refreshed = True
                force_refresh = True
                self._logger.warning(
                    "GET %s -> 401 (request-id %s); refreshing the access token once", sent_url, request_id
                )
                continue
            if status in (401, 403):
                self._logger.error("GET %s -> %s (request-id %s)", sent_url, status, request_id)
                raise PartnerCenterAuthError(
                    self._auth_failure_message(status, where, _error_summary(response)),
                    status_code=status,
                    request_id=request_id,
                    url=sent_url,
                )
            if status == 429 or status >= 500:
                kind = "throttled" if status == 429 else "server_error"
                raise _RetryableFailure(
                    kind,
                    str(status),
                    url=sent_url,
                    status_code=status,
                    request_id=request_id,
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                )
            if not 200 <= status < 300:
                self._logger.error("GET %s -> %s (request-id %s)", sent_url, status, request_id)
                summary = _error_summary(response)
                raise PartnerCenterError(
                    f"Partner Center answered {status} to {where}" + (f": {summary}" if summary else ""),
                    status_code=status,
                    request_id=request_id,
                    url=sent_url,
                )
            body, problem = self._parse(response, check_body, read_body)
            if problem is not None:
                raise _RetryableFailure(
                    "malformed",
                    f"{status} with a malformed body ({problem})",
                    url=sent_url,
                    status_code=status,
                    request_id=request_id,
                )
            REQUEST_LOG.debug(
                "GET %s -> %s (request-id %s, client-request-id %s)",
                sent_url,
                status,
                request_id,
                client_request_id,
            )
            return ApiResponse(
                url=sent_url,
                status_code=status,
                request_id=request_id,
                client_request_id=client_request_id,
                body=body,
                attempts=state.attempts,
                elapsed_s=0.0,
                content=response.content,
            )

    def _send(
        self,
        url: str,
        params: Mapping[str, str] | None,
        state: _CallState,
        force_refresh: bool,
    ) -> tuple[requests.Response, str, str]:
        self._pacer.wait()
        token = self._tokens.get_token(force_refresh=force_refresh)
        client_request_id = str(uuid.uuid4())
        headers = {
            "Accept": "application/json",
            "Authorization": f"Bearer {token}",
            "client-request-id": client_request_id,
        }
        prepared = self._session.prepare_request(
            requests.Request("GET", url, params=dict(params) if params else None, headers=headers)
        )
        if not params and _sendable_verbatim(url):
            prepared.url = url
        sent_url = str(prepared.url)
        settings = self._environment_settings(sent_url)
        state.attempts += 1
        state.counters.requests += 1
        try:
            response = self._session.send(prepared, timeout=self._timeout, allow_redirects=False, **settings)
        except requests.exceptions.SSLError:
            raise PartnerCenterError(
                f"TLS verification of {urlsplit(sent_url).netloc} failed for GET {sent_url}: set "
                "HUNTER_PARTNER_CENTER_CA_BUNDLE to the CA that signed the API's certificate",
                url=sent_url,
            ) from None
        except _RETRIED_CONNECTION_ERRORS as exc:
            raise _RetryableFailure("connection", type(exc).__name__, url=sent_url) from None
        return response, sent_url, client_request_id

    def _environment_settings(self, url: str) -> dict[str, Any]:
        """The proxies and CA bundle requests takes from the environment for ``url``, read once per
        origin: requests reads them again for every request, scanning the whole environment each
        time (0.6 s of a 1,000-page fetch under a profiler)."""
        origin = urlsplit(url)[:2]
        settings = self._settings_by_origin.get(origin)
        if settings is None:
            settings = self._session.merge_environment_settings(url, {}, None, self._verify, None)
            self._settings_by_origin[origin] = settings
        return dict(settings)

    @staticmethod
    def _parse(
        response: requests.Response, check_body: BodyCheck | None, read_body: BodyReader | None
    ) -> tuple[Any, str | None]:
        content = response.content
        if not content:
            return None, "empty body"
        if read_body is not None and (read := read_body(content)) is not None:
            return read, None
        try:
            body = tolerant_json.loads(content)
        except ValueError:
            return None, f"not JSON, {len(content)} bytes"
        if check_body is not None:
            problem = check_body(body)
            if problem is not None:
                return None, problem
        return body, None

    def _auth_failure_message(self, status: int, where: str, summary: str) -> str:
        detail = f" ({summary})" if summary else ""
        method = getattr(self._tokens, "method", None)
        app_only = (
            " The token is app-only (client credentials), which the Referrals API does not accept."
            if str(method) == "client_credentials"
            else ""
        )
        if status == 401:
            return (
                f"Partner Center refused the access token even after a refresh: 401 for {where}{detail}. "
                f"{LOGIN_HINT} to sign in again, and {ROLE_HINT}.{app_only}"
            )
        return f"Partner Center denied access: 403 for {where}{detail}. {ROLE_HINT}.{app_only}"

    def _exhausted(
        self, failure: _RetryableFailure, attempts: int, *, over_budget: bool
    ) -> PartnerCenterError:
        where = f"GET {failure.url} (request-id {failure.request_id})"
        budget = (
            f"; gave up because this sync's retries have waited {self._waited_total_s:.0f} s and the next "
            f"wait would pass HUNTER_PARTNER_CENTER_RETRY_BUDGET_SECONDS ({self._retry_budget_s:g})"
            if over_budget
            else ""
        )
        if failure.kind == "throttled":
            return PartnerCenterRateLimitError(
                f"Partner Center still answered 429 after {attempts} attempts: {where}{budget}; try again "
                "later or lower HUNTER_PARTNER_CENTER_REQUESTS_PER_MINUTE",
                status_code=failure.status_code,
                request_id=failure.request_id,
                url=failure.url,
            )
        if failure.kind == "connection":
            message = f"Could not reach Partner Center after {attempts} attempts ({failure.detail}): {where}"
        elif failure.kind == "malformed":
            message = f"Partner Center answered {failure.detail} after {attempts} attempts: {where}"
        else:
            message = f"Partner Center still answered {failure.detail} after {attempts} attempts: {where}"
        message += budget
        return PartnerCenterError(
            message, status_code=failure.status_code, request_id=failure.request_id, url=failure.url
        )


def _sendable_verbatim(url: str) -> bool:
    """A URL that can go on the wire as given (ASCII, nothing that needs quoting, a path)."""
    return url.isascii() and not _UNSAFE_IN_URL.search(url) and bool(urlsplit(url).path)
