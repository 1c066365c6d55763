"""Resources of the pipeline: the Partner Center client and the Hunter database.

Each contract variable that is set when the code location loads is bound through ``dg.EnvVar``, so
the UI shows the variable's name and never its value; unset ones keep the contract's default.
"""

from __future__ import annotations

import logging
import os

import dagster as dg
import sqlalchemy as sa
from pydantic import PrivateAttr
from sqlalchemy.engine import Engine

from partner_center_assets.client import PartnerCenterClient
from partner_center_assets.hunter_db import migrate
from partner_center_assets.hunter_db.engine import create_hunter_engine, describe, unavailable
from partner_center_assets.ingest.domains import DomainResolver
from partner_center_assets.settings import (
    PREFIX,
    Settings,
    default_database_url,
    domain_list,
    field_paths,
    split_list,
)
from partner_center_assets.sync_files import SyncFiles


class PartnerCenter(dg.ConfigurableResource):
    """The authenticated, paged Partner Center Referrals client (configuration of CONTRACT §1)."""

    base_url: str | None = None
    api_version: str | None = None
    authority_host: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    username: str | None = None
    password: str | None = None
    refresh_token: str | None = None
    token_cache: str | None = None
    token_cache_key: str | None = None
    ca_bundle: str | None = None
    referral_default_direction: str | None = None
    referral_default_status: str | None = None
    referral_default_top: int | None = None
    max_pages: int | None = None
    requests_per_minute: int | None = None
    lookback_minutes: int | None = None
    retry_budget_seconds: int | None = None
    own_domains: str | None = None
    extra_consumer_domains: str | None = None
    allowed_domains: str | None = None
    drop_fields: str | None = None

    def settings(self) -> Settings:
        """The contract settings: environment defaults, overridden by what this resource sets."""
        base = Settings.from_env()
        overrides: dict[str, object] = {}
        simple = {
            "base_url": "base_url",
            "api_version": "api_version",
            "authority_host": "authority_host",
            "tenant_id": "tenant_id",
            "client_id": "client_id",
            "client_secret": "client_secret",
            "username": "username",
            "password": "password",
            "refresh_token": "refresh_token",
            "token_cache": "token_cache_path",
            "token_cache_key": "token_cache_key",
            "ca_bundle": "ca_bundle",
            "referral_default_direction": "direction",
            "referral_default_top": "top",
            "max_pages": "max_pages",
            "requests_per_minute": "requests_per_minute",
            "lookback_minutes": "lookback_minutes",
            "retry_budget_seconds": "retry_budget_seconds",
        }
        for field, target in simple.items():
            value = getattr(self, field)
            if isinstance(value, str):
                value = value.strip()
            if value not in (None, ""):
                overrides[target] = value
        if statuses := split_list(self.referral_default_status):
            overrides["statuses"] = tuple(statuses)
        for field in ("own_domains", "extra_consumer_domains", "allowed_domains"):
            if domains := domain_list(getattr(self, field)):
                overrides[field] = domains
        if paths := field_paths(self.drop_fields):
            overrides["drop_fields"] = paths
        return Settings(**{**base.__dict__, **overrides})

    def client(self, logger: logging.Logger | None = None) -> PartnerCenterClient:
        return PartnerCenterClient.from_settings(self.settings(), logger=logger)

    def domain_resolver(self) -> DomainResolver:
        settings = self.settings()
        return DomainResolver(
            settings.own_domains,
            extra_consumer_domains=settings.extra_consumer_domains,
            allowed_domains=settings.allowed_domains,
        )


class HunterDatabase(dg.ConfigurableResource):
    """The Hunter database (``HUNTER_DATABASE_URL``; embedded DuckDB by default)."""

    url: str | None = None
    _engine: Engine | None = PrivateAttr(default=None)

    def resolved_url(self) -> str:
        return self.url or os.environ.get("HUNTER_DATABASE_URL", "").strip() or default_database_url()

    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_hunter_engine(self.resolved_url())
        return self._engine

    def ensure_schema(self) -> str | None:
        """Apply pending migrations, as the sync job does before it reads or writes."""
        engine = self.engine()
        try:
            needed = migrate.pending(engine)
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise unavailable(self.resolved_url(), exc) from exc
        if needed:
            return migrate.upgrade(engine)
        return migrate.current_revision(engine)

    def describe(self) -> str:
        return describe(self.resolved_url())

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Release connections: DuckDB admits one writing process and dbt runs next."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


class SyncStorage(dg.ConfigurableResource):
    """Directory of the intermediate assets' files (default ``$DAGSTER_HOME/partner_center``)."""

    directory: str | None = None

    def files(self) -> SyncFiles:
        return SyncFiles(self.directory)


_PARTNER_CENTER_FIELDS: dict[str, tuple[str, bool]] = {
    "base_url": ("BASE_URL", False),
    "api_version": ("API_VERSION", False),
    "authority_host": ("AUTHORITY_HOST", False),
    "tenant_id": ("TENANT_ID", False),
    "client_id": ("CLIENT_ID", False),
    "client_secret": ("CLIENT_SECRET", False),
    "username": ("USERNAME", False),
    "password": ("PASSWORD", False),
    "refresh_token": ("REFRESH_TOKEN", False),
    "token_cache": ("TOKEN_CACHE", False),
    "token_cache_key": ("TOKEN_CACHE_KEY", False),
    "ca_bundle": ("CA_BUNDLE", False),
    "referral_default_direction": ("REFERRAL_DEFAULT_DIRECTION", False),
    "referral_default_status": ("REFERRAL_DEFAULT_STATUS", False),
    "referral_default_top": ("REFERRAL_DEFAULT_TOP", True),
    "max_pages": ("MAX_PAGES", True),
    "requests_per_minute": ("REQUESTS_PER_MINUTE", True),
    "lookback_minutes": ("LOOKBACK_MINUTES", True),
    "retry_budget_seconds": ("RETRY_BUDGET_SECONDS", True),
    "own_domains": ("OWN_DOMAINS", False),
    "extra_consumer_domains": ("EXTRA_CONSUMER_DOMAINS", False),
    "allowed_domains": ("ALLOWED_DOMAINS", False),
    "drop_fields": ("DROP_FIELDS", False),
}


def partner_center_from_env() -> PartnerCenter:
    """Bind every contract variable that is set through ``dg.EnvVar`` (values resolve at run time)."""
    bound: dict[str, object] = {}
    for field, (suffix, is_int) in _PARTNER_CENTER_FIELDS.items():
        name = PREFIX + suffix
        if os.environ.get(name, "").strip():
            bound[field] = dg.EnvVar.int(name) if is_int else dg.EnvVar(name)
    return PartnerCenter(**bound)


def hunter_database_from_env() -> HunterDatabase:
    if os.environ.get("HUNTER_DATABASE_URL", "").strip():
        return HunterDatabase(url=dg.EnvVar("HUNTER_DATABASE_URL"))
    return HunterDatabase()


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "partner_center": partner_center_from_env(),
            "hunter_db": hunter_database_from_env(),
            "sync_storage": SyncStorage(),
        }
    )
