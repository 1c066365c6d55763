"""Configuration of the contract, read from ``HUNTER_*`` environment variables.

One place knows the variable names and their defaults, so the Dagster resources, the CLI and the
tests all agree. Nothing here imports Dagster.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from cryptography.fernet import Fernet

from partner_center_assets.parallel import available_cpus

PREFIX = "HUNTER_PARTNER_CENTER_"

DEFAULT_BASE_URL = "https://api.partner.microsoft.com"
DEFAULT_API_VERSION = "v1.0"
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
DEFAULT_DIRECTION = "Incoming"
DEFAULT_STATUS = "Active"
MAX_TOP = 2**31 - 1
DIRECTIONS = ("Incoming", "Outgoing")
STATUSES = ("None", "New", "Active", "Closed")
"""The values the API documents; ``$filter`` compares them as written, so they are sent in this case."""
DEFAULT_TOP = 200
DEFAULT_MAX_PAGES = 10
DEFAULT_REQUESTS_PER_MINUTE = 60
DEFAULT_LOOKBACK_MINUTES = 60
DEFAULT_RETRY_BUDGET_SECONDS = 900
DEFAULT_SYNC_CRON = "0 6 * * *"
DEFAULT_SYNC_TIMEZONE = "UTC"
MAX_DEFAULT_WORKERS = 4
"""Default ceiling of ``WORKERS``: the sync process itself writes every result, in order."""
TOKEN_CACHE_FILENAME = "partner_center_token_cache.json"
DATABASE_FILENAME = "hunter.duckdb"
SCOPE = "https://api.partner.microsoft.com/.default"


def home_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where local state lives: ``$DAGSTER_HOME``, else ``./.hunter``."""
    env = os.environ if environ is None else environ
    home = env.get("DAGSTER_HOME")
    return Path(home) if home else Path.cwd() / ".hunter"


def default_database_url(environ: Mapping[str, str] | None = None) -> str:
    """The embedded DuckDB file used when ``HUNTER_DATABASE_URL`` is unset."""
    return f"duckdb:///{home_dir(environ) / DATABASE_FILENAME}"


def default_token_cache_path(environ: Mapping[str, str] | None = None) -> Path:
    return home_dir(environ) / TOKEN_CACHE_FILENAME


def split_list(value: str | None) -> list[str]:
    """Split a comma-separated setting, dropping blanks."""
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def domain_list(value: str | None) -> tuple[str, ...]:
    """A comma-separated list of domains, lowercased (own domains and the list overrides)."""
    return tuple(domain.lower() for domain in split_list(value))


TOKEN_CACHE_KEY_VARIABLE = PREFIX + "TOKEN_CACHE_KEY"


def cache_keys(value: str | None) -> tuple[str, ...]:
    """The comma-separated Fernet keys of the token cache; the error names the variable, never a key."""
    keys = tuple(split_list(value))
    try:
        for key in keys:
            Fernet(key)
    except ValueError:
        raise ValueError(
            f"{TOKEN_CACHE_KEY_VARIABLE} must be one or more Fernet keys separated by commas "
            "(make one with `partner-center new-cache-key`)"
        ) from None
    return keys


_FIELD_NAME = re.compile(r"[A-Za-z0-9_@$\-]+")


def field_paths(value: str | None) -> tuple[tuple[str, ...], ...]:
    """``team, customerProfile.team.phoneNumber`` → dotted paths into a referral, each checked."""
    paths = []
    for item in split_list(value):
        path = tuple(item.split("."))
        if not all(_FIELD_NAME.fullmatch(name) for name in path):
            raise ValueError(
                f"{PREFIX}DROP_FIELDS must list dotted field paths such as 'team' or "
                f"'customerProfile.team.phoneNumber', separated by commas; got {item!r}"
            )
        paths.append(path)
    return tuple(dict.fromkeys(paths))


def schedule_settings(environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The daily schedule's cron and timezone, validated.

    Read on their own when the code location loads, so that any other invalid setting fails the run
    that uses it (naming the variable) instead of keeping the whole location from loading.
    """
    env = os.environ if environ is None else environ
    cron = env.get(PREFIX + "SYNC_CRON", "").strip() or DEFAULT_SYNC_CRON
    timezone = env.get(PREFIX + "SYNC_TIMEZONE", "").strip() or DEFAULT_SYNC_TIMEZONE
    return _cron(cron), _timezone(timezone)


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    """Every setting of the contract, with its default."""

    database_url: str = ""
    base_url: str = DEFAULT_BASE_URL
    api_version: str = DEFAULT_API_VERSION
    authority_host: str = DEFAULT_AUTHORITY_HOST
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    token_cache_path: str = ""
    token_cache_key: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None
    direction: str = DEFAULT_DIRECTION
    statuses: tuple[str, ...] = (DEFAULT_STATUS,)
    top: int = DEFAULT_TOP
    max_pages: int = DEFAULT_MAX_PAGES
    requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE
    lookback_minutes: int = DEFAULT_LOOKBACK_MINUTES
    retry_budget_seconds: int = DEFAULT_RETRY_BUDGET_SECONDS
    own_domains: tuple[str, ...] = ()
    extra_consumer_domains: tuple[str, ...] = ()
    allowed_domains: tuple[str, ...] = ()
    drop_fields: tuple[tuple[str, ...], ...] = ()
    sync_cron: str = DEFAULT_SYNC_CRON
    sync_timezone: str = DEFAULT_SYNC_TIMEZONE
    workers: int = 0

    def __post_init__(self) -> None:
        """Refuse values no sync could run with, naming the variable, before any request is made."""
        _url(PREFIX + "BASE_URL", self.base_url, loopback_http=True)
        _url(PREFIX + "AUTHORITY_HOST", self.authority_host, loopback_http=False)
        for name, value, minimum in (
            ("REFERRAL_DEFAULT_TOP", self.top, 1),
            ("MAX_PAGES", self.max_pages, 1),
            ("REQUESTS_PER_MINUTE", self.requests_per_minute, 0),
            ("LOOKBACK_MINUTES", self.lookback_minutes, 0),
            ("RETRY_BUDGET_SECONDS", self.retry_budget_seconds, 0),
            ("WORKERS", self.workers, 0),
        ):
            if value < minimum:
                what = "a positive whole number" if minimum else "0 or a positive whole number"
                raise ValueError(f"{PREFIX}{name} must be {what}, got {value}")
        if self.top > MAX_TOP:
            raise ValueError(
                f"{PREFIX}REFERRAL_DEFAULT_TOP must be at most {MAX_TOP} ($top is a 32-bit integer)"
            )
        if self.token_cache_path and Path(self.token_cache_path).expanduser().is_dir():
            raise ValueError(
                f"{PREFIX}TOKEN_CACHE must name a file, not the directory {self.token_cache_path!r}"
            )
        cache_keys(self.token_cache_key)
        if not self.statuses:
            raise ValueError(f"{PREFIX}REFERRAL_DEFAULT_STATUS must name at least one referral status")
        check_enum_value(PREFIX + "REFERRAL_DEFAULT_DIRECTION", self.direction)
        for status in self.statuses:
            check_enum_value(PREFIX + "REFERRAL_DEFAULT_STATUS", status)
        object.__setattr__(self, "direction", _documented_case(self.direction, DIRECTIONS))
        object.__setattr__(self, "statuses", tuple(_documented_case(s, STATUSES) for s in self.statuses))

    def worker_count(self) -> int:
        """Processes the normalize and resolve steps use: ``WORKERS``, or one per CPU (at most
        :data:`MAX_DEFAULT_WORKERS`) when it is 0; 1 keeps the work in the sync process."""
        return self.workers or min(available_cpus(), MAX_DEFAULT_WORKERS)

    def undocumented_filter_values(self) -> list[str]:
        """Configured direction and statuses the API does not document: likely typos that match nothing."""
        values = [(PREFIX + "REFERRAL_DEFAULT_DIRECTION", self.direction, DIRECTIONS)]
        values += [(PREFIX + "REFERRAL_DEFAULT_STATUS", status, STATUSES) for status in self.statuses]
        return [
            f"{name}={value!r} is not one of {', '.join(known)}"
            for name, value, known in values
            if value not in known
        ]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the contract's variables; blank values count as unset."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(PREFIX + name, "").strip()
            return value or None

        cron, timezone = schedule_settings(env)
        return cls(
            database_url=(env.get("HUNTER_DATABASE_URL", "").strip() or default_database_url(env)),
            base_url=get("BASE_URL") or DEFAULT_BASE_URL,
            api_version=get("API_VERSION") or DEFAULT_API_VERSION,
            authority_host=get("AUTHORITY_HOST") or DEFAULT_AUTHORITY_HOST,
            tenant_id=get("TENANT_ID"),
            client_id=get("CLIENT_ID"),
            client_secret=get("CLIENT_SECRET"),
            username=get("USERNAME"),
            password=get("PASSWORD"),
            refresh_token=get("REFRESH_TOKEN"),
            token_cache_path=get("TOKEN_CACHE") or str(default_token_cache_path(env)),
            token_cache_key=get("TOKEN_CACHE_KEY"),
            ca_bundle=get("CA_BUNDLE"),
            direction=get("REFERRAL_DEFAULT_DIRECTION") or DEFAULT_DIRECTION,
            statuses=tuple(split_list(get("REFERRAL_DEFAULT_STATUS"))) or (DEFAULT_STATUS,),
            top=_int(env, PREFIX + "REFERRAL_DEFAULT_TOP", DEFAULT_TOP),
            max_pages=_int(env, PREFIX + "MAX_PAGES", DEFAULT_MAX_PAGES),
            requests_per_minute=_int(env, PREFIX + "REQUESTS_PER_MINUTE", DEFAULT_REQUESTS_PER_MINUTE),
            lookback_minutes=_int(env, PREFIX + "LOOKBACK_MINUTES", DEFAULT_LOOKBACK_MINUTES),
            retry_budget_seconds=_int(env, PREFIX + "RETRY_BUDGET_SECONDS", DEFAULT_RETRY_BUDGET_SECONDS),
            own_domains=domain_list(get("OWN_DOMAINS")),
            extra_consumer_domains=domain_list(get("EXTRA_CONSUMER_DOMAINS")),
            allowed_domains=domain_list(get("ALLOWED_DOMAINS")),
            drop_fields=field_paths(get("DROP_FIELDS")),
            sync_cron=cron,
            sync_timezone=timezone,
            workers=_int(env, PREFIX + "WORKERS", 0),
        )


def _documented_case(value: str, known: tuple[str, ...]) -> str:
    """``value`` spelled as the API documents it (``active`` → ``Active``), or as given if unknown."""
    return next((name for name in known if name.casefold() == value.casefold()), value)


MAX_VALUE_LENGTH = 64
_ENUM_VALUE = re.compile(r"[A-Za-z0-9]+")


def check_enum_value(name: str, value: object) -> str:
    """``value`` when it is a plausible Partner Center enum value (it goes into ``$filter``)."""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}")
    if not value or len(value) > MAX_VALUE_LENGTH or not _ENUM_VALUE.fullmatch(value):
        raise ValueError(
            f"{name} {value[:80]!r} is not a plausible Partner Center value: "
            f"use letters and digits only, at most {MAX_VALUE_LENGTH} characters (e.g. 'Incoming', 'Active')"
        )
    return value


_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _url(name: str, value: str, *, loopback_http: bool) -> None:
    """An https URL with a host (and, with ``loopback_http``, plain http on this machine)."""
    parts = urlsplit(value)
    try:
        valid_port = parts.port is None or parts.port > 0
    except ValueError:
        valid_port = False
    host = parts.hostname or ""
    scheme_ok = parts.scheme == "https" or (
        loopback_http and parts.scheme == "http" and host in _LOOPBACK_HOSTS
    )
    if not (host and valid_port and scheme_ok):
        raise ValueError(f"{name} must be an https URL such as 'https://host', got {value!r}")


_CRON_ALIASES = frozenset({"@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"})
_CRON_FIELD = re.compile(r"[0-9A-Za-z*,/\-]+")


def _cron(expression: str) -> str:
    """A five-field cron expression or an alias such as ``@daily``; anything else names the variable."""
    fields = expression.split()
    if expression in _CRON_ALIASES:
        return expression
    if len(fields) == 5 and all(_CRON_FIELD.fullmatch(f) for f in fields) and _fires(" ".join(fields)):
        return " ".join(fields)
    raise ValueError(
        f"{PREFIX}SYNC_CRON must be a five-field cron expression with values in range, on a day "
        f"that exists, such as '0 6 * * *'; got {expression!r}"
    )


def _fires(expression: str) -> bool:
    """Whether croniter accepts the expression (values in range) and it names a day that exists,
    as Dagster requires of a schedule (not the 30th or 31st of February)."""
    if not croniter.is_valid(expression):
        return False
    expanded = croniter.expand(expression)[0]
    return not (expanded[3] == [2] and len(expanded[2]) == 1 and expanded[2][0] in (30, 31))


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{PREFIX}SYNC_TIMEZONE must be an IANA time zone such as 'Europe/Berlin', got {name!r}"
        ) from None
    return name
