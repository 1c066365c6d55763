"""Access tokens for the Partner Center API, from MSAL, and the token cache file that keeps them.

Sign-in methods, the first that applies (contract, "Authentication order"):

1. ``token_cache``: the cache file holds an account (a device-code login or an earlier run): silent
   refresh, the unattended daily path;
2. ``refresh_token``: a refresh token from a consent done elsewhere;
3. ``password``: username and password (a confidential client when a client secret is set);
4. ``client_credentials``: the client secret alone; an app-only token, which the real Referrals API
   refuses, so a warning is logged.

A refused refresh token (cached or configured) falls through to the next configured method, whose
tokens then replace the cache; a refused password or secret is final, so a typo never quietly turns
into a weaker sign-in. The cache file (``token_cache``: mode 0600, encrypted when a key is set) is
rewritten atomically whenever an acquisition changed it. No token, password or secret reaches a log
line or an exception: MSAL errors are reported by their ``error`` and ``error_description`` only.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msal
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from partner_center_assets.settings import SCOPE, Settings

from .errors import PartnerCenterAuthError, PartnerCenterError
from .token_cache import TokenCacheFile

SCOPES = [SCOPE]
LOGIN_HINT = "run `partner-center login` to sign in again"
REFRESH_TOKEN_IDLE_LIMIT_DAYS = 90
"""Entra ID refresh tokens expire after this many days without use."""

MICROSOFT_AUTHORITY_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoft.com",
        "login.windows.net",
        "sts.windows.net",
        "login-us.microsoftonline.com",
        "login.microsoftonline.us",
        "login.usgovcloudapi.net",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
        "login.microsoftonline.de",
        "login.sovcloud-identity.fr",
        "login.sovcloud-identity.de",
        "login.sovcloud-identity.sg",
    }
)
_MICROSOFT_AUTHORITY_SUFFIXES = (
    ".microsoftonline.com",
    ".microsoftonline.us",
    ".microsoftonline.cn",
    ".microsoftonline.de",
)

logger_name = "partner_center_assets.client.auth"

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
"""Identity-platform answers worth asking again: throttling and passing outages."""

_TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error"})
"""OAuth error codes (RFC 6749 §5.2) that say "not now" rather than "no"."""


class IdentityRetry(Retry):
    """urllib3's retry, honouring ``Retry-After`` up to a minute (a daily sync should not sleep an hour)."""

    MAX_RETRY_AFTER = 60.0

    def get_retry_after(self, response: Any) -> float | None:
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, self.MAX_RETRY_AFTER)


IDENTITY_ATTEMPTS = 5
"""Tries of one identity request before a transient failure is reported."""


def identity_retry(attempts: int = IDENTITY_ATTEMPTS, backoff: float = 0.5) -> IdentityRetry:
    """Retries of token and discovery requests, POSTs included: MSAL's own throttling only
    replays a failed answer for its ``Retry-After`` instead of asking again."""
    return IdentityRetry(
        total=attempts - 1,
        backoff_factor=backoff,
        backoff_max=30,
        status_forcelist=TRANSIENT_STATUSES,
        allowed_methods=None,
        respect_retry_after_header=True,
        raise_on_status=False,
    )


class AuthMethod(StrEnum):
    """How the current token was obtained; compares equal to its string value."""

    TOKEN_CACHE = "token_cache"
    REFRESH_TOKEN = "refresh_token"
    PASSWORD = "password"
    CLIENT_CREDENTIALS = "client_credentials"


_REFRESH_METHODS = frozenset({AuthMethod.TOKEN_CACHE, AuthMethod.REFRESH_TOKEN})


def is_microsoft_authority_host(hostname: str | None) -> bool:
    """True for Entra ID hosts MSAL knows; any other host (an emulator) gets no instance discovery."""
    host = (hostname or "").lower().rstrip(".")
    return host in MICROSOFT_AUTHORITY_HOSTS or host.endswith(_MICROSOFT_AUTHORITY_SUFFIXES)


class IdentitySession(requests.Session):
    """The ``http_client`` handed to MSAL.

    What MSAL cannot do itself with an explicit CA bundle and a non-default port, and more:

    * ``verify`` is passed on every request, because requests lets ``REQUESTS_CA_BUNDLE`` override
      ``Session.verify`` but never an explicit per-request value;
    * MSAL builds some URLs from the authority's host name alone (user-realm discovery:
      ``https://{host}/common/userrealm/...``), dropping the port; a request to the authority's host
      without a port is sent to the authority's configured port;
    * transient answers (429, 5xx) and dropped connections are retried here, below MSAL, with
      :func:`identity_retry`;
    * every request carries a ``client-request-id`` (MSAL sends one only with token requests), so
      Microsoft support can trace any of them.
    """

    def __init__(
        self,
        authority: str,
        *,
        ca_bundle: str | None = None,
        timeout: float | tuple[float, float] = (10, 60),
        retry: Retry | None = None,
    ) -> None:
        super().__init__()
        parts = urlsplit(authority)
        self._authority_host = (parts.hostname or "").lower()
        self._authority_port = parts.port
        self._ca_bundle = ca_bundle
        self._timeout = timeout
        adapter = HTTPAdapter(max_retries=retry or identity_retry())
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def _with_authority_port(self, url: str) -> str:
        if self._authority_port is None:
            return url
        parts = urlsplit(url)
        if parts.scheme != "https" or (parts.hostname or "").lower() != self._authority_host:
            return url
        if parts.port is not None:
            return url
        netloc = parts.netloc.rsplit("@", 1)
        host_part = netloc[-1]
        netloc[-1] = f"{host_part}:{self._authority_port}"
        return urlunsplit(parts._replace(netloc="@".join(netloc)))

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if isinstance(url, bytes):
            url = url.decode()
        url = self._with_authority_port(url)
        if self._ca_bundle and kwargs.get("verify") in (None, True):
            kwargs["verify"] = self._ca_bundle
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        headers = dict(kwargs.get("headers") or {})
        if not any(name.lower() == "client-request-id" for name in headers):
            headers["client-request-id"] = str(uuid.uuid4())
        kwargs["headers"] = headers
        return super().request(method, url, *args, **kwargs)


def describe_msal_error(result: dict[str, Any] | None) -> str:
    """``error: error_description`` of an MSAL result; nothing else of it (it may echo the request)."""
    if not result:
        return "no token in the cache"
    error = str(result.get("error") or "unknown_error")
    description = str(result.get("error_description") or "").strip()
    return f"{error}: {description}" if description else error


class _Refused(Exception):
    """The identity provider refused one method (internal; carries the safe error text)."""

    def __init__(self, detail: str, *, transient: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.transient = transient


class TokenProvider:
    """Access tokens for the Partner Center API by the first sign-in method that applies."""

    def __init__(
        self,
        *,
        authority: str,
        client_id: str,
        client_secret: str | None = None,
        username: str | None = None,
        password: str | None = None,
        refresh_token: str | None = None,
        cache_path: Path | None = None,
        cache_key: str | None = None,
        http_session: requests.Session | None = None,
        ca_bundle: str | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self._authority = authority.rstrip("/")
        self._authority_host = (urlsplit(self._authority).hostname or "").lower()
        self._client_id = client_id
        self._client_secret = client_secret
        self._username = username
        self._password = password
        self._refresh_token = refresh_token
        self._logger = logger or logging.getLogger(logger_name)
        self._owns_session = http_session is None
        self._session = http_session or IdentitySession(self._authority, ca_bundle=ca_bundle)
        self._cache_file = TokenCacheFile(cache_path, self._logger, cache_key)
        self._lock = threading.RLock()
        self._cache: msal.SerializableTokenCache | None = None
        self._apps: dict[str, msal.ClientApplication] = {}
        self._active: AuthMethod | None = None
        self._account: dict[str, Any] | None = None
        self._warned_app_only = False

    def __repr__(self) -> str:
        return f"TokenProvider(authority={self._authority!r}, client_id={self._client_id!r})"

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        http_session: requests.Session | None = None,
        logger: logging.Logger | None = None,
    ) -> TokenProvider:
        missing = [
            name
            for name, value in (("TENANT_ID", settings.tenant_id), ("CLIENT_ID", settings.client_id))
            if not value
        ]
        if missing:
            names = ", ".join(f"HUNTER_PARTNER_CENTER_{name}" for name in missing)
            raise PartnerCenterAuthError(f"Partner Center sign-in is not configured: set {names}")
        authority = f"{settings.authority_host.rstrip('/')}/{settings.tenant_id}"
        return cls(
            authority=authority,
            client_id=str(settings.client_id),
            client_secret=settings.client_secret,
            username=settings.username,
            password=settings.password,
            refresh_token=settings.refresh_token,
            cache_path=Path(settings.token_cache_path) if settings.token_cache_path else None,
            cache_key=settings.token_cache_key,
            http_session=http_session,
            ca_bundle=settings.ca_bundle,
            logger=logger,
        )

    @property
    def cache_path(self) -> Path | None:
        return self._cache_file.path

    @property
    def method(self) -> AuthMethod:
        """The method in use, or the one the next acquisition starts with."""
        with self._lock:
            if self._active is not None:
                return self._active
            candidates = self.candidates()
            if not candidates:
                raise PartnerCenterAuthError(self._nothing_configured_message())
            return candidates[0]

    def candidates(self) -> list[AuthMethod]:
        """The configured methods, in the contract's order (no network needed)."""
        with self._lock:
            methods: list[AuthMethod] = []
            if self._cache_holds_account():
                methods.append(AuthMethod.TOKEN_CACHE)
            if self._refresh_token:
                methods.append(AuthMethod.REFRESH_TOKEN)
            if self._username and self._password:
                methods.append(AuthMethod.PASSWORD)
            elif self._client_secret:
                methods.append(AuthMethod.CLIENT_CREDENTIALS)
            return methods

    def account_username(self) -> str | None:
        """The username of the signed-in account held in the cache, if any."""
        with self._lock:
            accounts = self._token_cache().search(msal.TokenCache.CredentialType.ACCOUNT)
            for account in accounts:
                if account.get("environment", "").lower() == self._authority_host:
                    return account.get("username") or None
            return None

    def refresh_token_renewed_at(self) -> datetime | None:
        """When the cache's refresh token for this app was last issued, i.e. last used to sign in.

        Entra ID refresh tokens die after 90 days without use; the age of this one is how long the
        daily run has gone without signing in. None when the cache holds none (or no date for it).
        """
        with self._lock:
            stamps: list[int] = []
            for entry in self._token_cache().search(msal.TokenCache.CredentialType.REFRESH_TOKEN):
                if entry.get("client_id") != self._client_id:
                    continue
                if entry.get("environment", "").lower() != self._authority_host:
                    continue
                with contextlib.suppress(TypeError, ValueError):
                    stamps.append(int(entry.get("last_modification_time")))
            return datetime.fromtimestamp(max(stamps), UTC) if stamps else None

    def refresh_token_idle_days(self, now: datetime | None = None) -> float | None:
        """Days, to one decimal, since the cached sign-in was last used; ``None`` when there is none."""
        renewed = self.refresh_token_renewed_at() if AuthMethod.TOKEN_CACHE in self.candidates() else None
        return None if renewed is None else _days_since(renewed, now)

    def get_token(self, force_refresh: bool = False) -> str:
        """An access token; ``force_refresh`` skips cached access tokens (after a 401)."""
        with self._lock:
            methods = self.candidates()
            if self._active is not None and self._active not in methods:
                methods.insert(0, self._active)
            if self._active is not None:
                methods = methods[methods.index(self._active) :]
            if not methods:
                raise PartnerCenterAuthError(self._nothing_configured_message())
            for position, method in enumerate(methods):
                try:
                    token = self._acquire(method, force_refresh=force_refresh)
                except _Refused as refused:
                    if refused.transient:
                        raise PartnerCenterError(self._unavailable_message(refused.detail)) from None
                    remaining = methods[position + 1 :]
                    if method not in _REFRESH_METHODS:
                        raise PartnerCenterAuthError(self._refused_message(method, refused.detail)) from None
                    if not remaining:
                        raise PartnerCenterAuthError(
                            f"The {_label(method)} was refused ({refused.detail}){self._idle_note(method)}"
                            f" and no other sign-in method is configured: {LOGIN_HINT}"
                        ) from None
                    self._logger.warning(
                        "The %s was refused (%s); trying %s instead",
                        _label(method),
                        refused.detail,
                        _label(remaining[0]),
                    )
                    if method is AuthMethod.TOKEN_CACHE:
                        self._forget_accounts()
                    self._active = None
                    self._account = None
                    force_refresh = False
                    continue
                if self._active is not method:
                    self._logger.info("Signed in to Partner Center by %s", _label(method))
                self._active = method
                return token
            raise AssertionError("unreachable: every branch returns, continues or raises")

    def device_code_login(self, prompt: Callable[[str], None]) -> None:
        """Interactive sign-in by device code; on success the cache holds only the new account."""
        with self._lock:
            fresh = msal.SerializableTokenCache()
            app = self._build_app(public=True, cache=fresh)
            flow = self._call_msal(lambda: app.initiate_device_flow(scopes=SCOPES))
            if "user_code" not in flow:
                raise PartnerCenterAuthError(
                    f"Device-code sign-in could not start ({describe_msal_error(flow)}); check "
                    "HUNTER_PARTNER_CENTER_CLIENT_ID and that the app registration allows public client flows"
                )
            prompt(
                flow.get("message")
                or f"To sign in, open {flow.get('verification_uri')} and enter the code {flow['user_code']}"
            )
            result = self._call_msal(lambda: app.acquire_token_by_device_flow(flow))
            if "access_token" not in result:
                raise PartnerCenterAuthError(f"Device-code sign-in failed ({describe_msal_error(result)})")
            self._cache = fresh
            self._apps = {}
            self._active = None
            self._account = None
            self._cache_file.save(fresh, force=True)
            self._logger.info("Device-code sign-in saved to %s", self._cache_file.path)

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    # -- acquisition per method -------------------------------------------------------------------------

    def _acquire(self, method: AuthMethod, *, force_refresh: bool) -> str:
        if method is AuthMethod.TOKEN_CACHE:
            result = self._silent(force_refresh=force_refresh)
        elif method is AuthMethod.REFRESH_TOKEN:
            result = self._by_refresh_token(force_refresh=force_refresh)
        elif method is AuthMethod.PASSWORD:
            result = self._by_password(force_refresh=force_refresh)
        else:
            result = self._for_client(force_refresh=force_refresh)
        self._cache_file.save(self._token_cache())
        if not result or "access_token" not in result:
            transient = bool(result) and str(result.get("error")) in _TRANSIENT_ERRORS
            raise _Refused(describe_msal_error(result), transient=transient)
        return str(result["access_token"])

    def _silent(self, *, force_refresh: bool) -> dict[str, Any] | None:
        app = self._user_app()
        account = self._account or self._pick_account(app)
        if account is None:
            return None
        self._account = account
        return self._call_msal(
            lambda: app.acquire_token_silent_with_error(SCOPES, account, force_refresh=force_refresh)
        )

    def _by_refresh_token(self, *, force_refresh: bool) -> dict[str, Any] | None:
        """The configured refresh token once; then its successors from the cache."""
        app = self._user_app()
        if self._active is AuthMethod.REFRESH_TOKEN and self._account is not None:
            result = self._silent(force_refresh=force_refresh)
            if result and "access_token" in result:
                return result
        result = self._call_msal(lambda: app.acquire_token_by_refresh_token(self._refresh_token, SCOPES))
        self._account = self._pick_account(app) if "access_token" in result else None
        return result

    def _by_password(self, *, force_refresh: bool) -> dict[str, Any] | None:
        """Cached tokens between calls; the password grant itself first and on a forced refresh."""
        app = self._user_app()
        if self._active is AuthMethod.PASSWORD and self._account is not None and not force_refresh:
            result = self._silent(force_refresh=False)
            if result and "access_token" in result:
                return result
        result = self._call_msal(
            lambda: app.acquire_token_by_username_password(self._username, self._password, SCOPES)
        )
        self._account = self._pick_account(app) if "access_token" in result else None
        return result

    def _for_client(self, *, force_refresh: bool) -> dict[str, Any] | None:
        if not self._warned_app_only:
            self._warned_app_only = True
            self._logger.warning(
                "Signing in with the client secret alone (client credentials): the Partner Center "
                "Referrals API accepts only App+User tokens and will likely answer 401/403; "
                "run `partner-center login` or configure a refresh token or username and password"
            )
        app = self._app(public=False)
        if force_refresh:
            cache = self._token_cache()
            for entry in list(
                cache.search(
                    msal.TokenCache.CredentialType.ACCESS_TOKEN,
                    query={"client_id": self._client_id, "home_account_id": None},
                )
            ):
                cache.remove_at(entry)
        return self._call_msal(lambda: app.acquire_token_for_client(scopes=SCOPES))

    # -- helpers ----------------------------------------------------------------------------------------

    def _token_cache(self) -> msal.SerializableTokenCache:
        if self._cache is None:
            self._cache = self._cache_file.load()
        return self._cache

    def _cache_holds_account(self) -> bool:
        cache = self._token_cache()
        has_account = any(
            entry.get("environment", "").lower() == self._authority_host
            for entry in cache.search(msal.TokenCache.CredentialType.ACCOUNT)
        )
        has_refresh_token = any(
            entry.get("client_id") == self._client_id
            for entry in cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN)
        )
        return has_account and has_refresh_token

    def _pick_account(self, app: msal.ClientApplication) -> dict[str, Any] | None:
        accounts = self._call_msal(app.get_accounts)
        if self._username:
            preferred = [a for a in accounts if (a.get("username") or "").lower() == self._username.lower()]
            accounts = preferred or accounts
        return accounts[0] if accounts else None

    def _forget_accounts(self) -> None:
        app = self._user_app()
        for account in self._call_msal(app.get_accounts):
            app.remove_account(account)

    def _user_app(self) -> msal.ClientApplication:
        """A confidential client when a secret is configured, else a public one."""
        return self._app(public=not self._client_secret)

    def _app(self, *, public: bool) -> msal.ClientApplication:
        key = "public" if public else "confidential"
        if key not in self._apps:
            self._apps[key] = self._build_app(public=public, cache=self._token_cache())
        return self._apps[key]

    def _build_app(self, *, public: bool, cache: msal.SerializableTokenCache) -> msal.ClientApplication:
        options: dict[str, Any] = {
            "authority": self._authority,
            "token_cache": cache,
            "http_client": self._session,
        }
        if not is_microsoft_authority_host(self._authority_host):
            options["instance_discovery"] = False
        if public:
            return self._call_msal(lambda: msal.PublicClientApplication(self._client_id, **options))
        return self._call_msal(
            lambda: msal.ConfidentialClientApplication(
                self._client_id, client_credential=self._client_secret, **options
            )
        )

    def _call_msal(self, call: Callable[[], Any]) -> Any:
        """Run an MSAL call; transport failures become errors that name the host, never the request."""
        try:
            return call()
        except requests.exceptions.SSLError:
            raise PartnerCenterError(
                f"TLS verification of the identity provider {self._authority_host} failed: "
                "set HUNTER_PARTNER_CENTER_CA_BUNDLE to the CA that signed its certificate"
            ) from None
        except requests.RequestException as exc:
            raise PartnerCenterError(
                f"Could not reach the identity provider {self._authority_host} ({type(exc).__name__}); "
                "check the network and try again"
            ) from None
        except msal.exceptions.MsalServiceError as exc:
            raise PartnerCenterError(self._unavailable_message(_first_line(exc))) from None
        except ValueError as exc:
            raise PartnerCenterAuthError(
                f"The identity provider at {self._authority} could not be used ({_first_line(exc)}); "
                "check HUNTER_PARTNER_CENTER_AUTHORITY_HOST and HUNTER_PARTNER_CENTER_TENANT_ID"
            ) from None

    def _idle_note(self, method: AuthMethod) -> str:
        """Why a cached refresh token may have died: how long it had gone unused, when that is known."""
        renewed = self.refresh_token_renewed_at() if method is AuthMethod.TOKEN_CACHE else None
        if renewed is None:
            return ""
        return (
            f"; it was last used {_days_since(renewed):g} days ago, and refresh tokens expire after "
            f"{REFRESH_TOKEN_IDLE_LIMIT_DAYS} days without use"
        )

    def _refused_message(self, method: AuthMethod, detail: str) -> str:
        if method is AuthMethod.PASSWORD:
            return (
                f"Sign-in with HUNTER_PARTNER_CENTER_USERNAME/PASSWORD was refused ({detail}); check them "
                "(accounts with MFA cannot use a password: run `partner-center login` instead)"
            )
        return (
            f"Sign-in with HUNTER_PARTNER_CENTER_CLIENT_ID/CLIENT_SECRET was refused ({detail}); "
            "check the app registration and its secret"
        )

    def _unavailable_message(self, detail: str) -> str:
        return (
            f"The identity provider {self._authority_host} is unavailable ({detail}) after "
            f"{IDENTITY_ATTEMPTS} attempts; try again later"
        )

    def _nothing_configured_message(self) -> str:
        return (
            "No Partner Center sign-in is configured: run `partner-center login` (device code), or set "
            "HUNTER_PARTNER_CENTER_REFRESH_TOKEN, or HUNTER_PARTNER_CENTER_USERNAME and _PASSWORD"
            + self.cache_problem_note()
        )

    def cache_problem_note(self) -> str:
        """``" (the token cache … could not be used)"``, or nothing when the cache file was readable."""
        with self._lock:
            self._token_cache()
            problem = self._cache_file.problem
        return f" ({problem})" if problem else ""


def _days_since(moment: datetime, now: datetime | None = None) -> float:
    """Whole and tenth days from ``moment`` to ``now`` (never negative, whatever the clocks say)."""
    return round(max(((now or datetime.now(UTC)) - moment).total_seconds(), 0.0) / 86400, 1)


def _label(method: AuthMethod) -> str:
    return {
        AuthMethod.TOKEN_CACHE: "cached sign-in (token cache)",
        AuthMethod.REFRESH_TOKEN: "configured refresh token",
        AuthMethod.PASSWORD: "username/password sign-in",
        AuthMethod.CLIENT_CREDENTIALS: "client credentials sign-in",
    }[method]


def _first_line(exc: BaseException) -> str:
    """The first sentence of an exception's text: MSAL's ValueErrors append pages of generic advice."""
    lines = str(exc).strip().splitlines()
    if not lines:
        return type(exc).__name__
    sentence = lines[0].split(". ", 1)[0]
    return sentence[:300]
