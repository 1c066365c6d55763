"""``partner-center doctor``: one ``OK``/``FAIL`` line per prerequisite of a sync, with a hint.

Checks run in order (configuration, token, API, database); a check that depends on a failed one
fails with "skipped". Nothing printed can hold a secret: messages of our errors never include one, and
the database URL is shown with its password masked. The exit code is 1 when any check fails.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import click
import sqlalchemy as sa

from partner_center_assets.client import (
    PartnerCenterClient,
    PartnerCenterError,
    TokenProvider,
    build_referral_query,
)
from partner_center_assets.client.auth import REFRESH_TOKEN_IDLE_LIMIT_DAYS
from partner_center_assets.hunter_db.engine import create_hunter_engine, parse_database_url
from partner_center_assets.ingest.skip_review import SkipLimits
from partner_center_assets.settings import Settings


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'OK' if self.ok else 'FAIL':<4} {self.name}: {self.detail}"


def check_configuration(settings: Settings, provider: TokenProvider | None) -> CheckResult:
    missing = [
        f"HUNTER_PARTNER_CENTER_{name}"
        for name, value in (("TENANT_ID", settings.tenant_id), ("CLIENT_ID", settings.client_id))
        if not value
    ]
    if missing:
        return CheckResult("configuration", False, f"set {', '.join(missing)}")
    assert provider is not None
    methods = provider.candidates()
    if not methods:
        return CheckResult(
            "configuration",
            False,
            "no sign-in method: run `partner-center login`, or set HUNTER_PARTNER_CENTER_REFRESH_TOKEN "
            "or HUNTER_PARTNER_CENTER_USERNAME and _PASSWORD" + provider.cache_problem_note(),
        )
    return CheckResult(
        "configuration",
        True,
        f"API {settings.base_url}, tenant {settings.tenant_id}, sign-in methods: "
        + ", ".join(str(m) for m in methods),
    )


def check_token(provider: TokenProvider | None) -> CheckResult:
    if provider is None:
        return CheckResult("token", False, "skipped: configuration incomplete")
    try:
        idle = provider.refresh_token_idle_days()
        provider.get_token()
    except PartnerCenterError as exc:
        return CheckResult("token", False, str(exc))
    detail = f"acquired by {provider.method}"
    if idle is not None:
        detail += (
            f"; the cached refresh token had been unused {idle:g} days "
            f"(it expires after {REFRESH_TOKEN_IDLE_LIMIT_DAYS})"
        )
    return CheckResult("token", True, detail)


def check_api(settings: Settings, client: PartnerCenterClient | None, token_ok: bool) -> CheckResult:
    if client is None or not token_ok:
        return CheckResult("api", False, "skipped: no access token")
    try:
        query = build_referral_query(direction=settings.direction, statuses=settings.statuses, top=1)
        page = next(client.iter_referral_pages("doctor", query, cutoff=None, max_pages=1))
    except ValueError as exc:
        return CheckResult("api", False, f"invalid referral filter setting: {exc}")
    except PartnerCenterError as exc:
        return CheckResult("api", False, str(exc))
    return CheckResult(
        "api",
        True,
        f"HTTP {page.status_code} from {page.url} (request-id {page.request_id}, "
        f"{len(page.records)} record(s) with $top=1)",
    )


def check_database(settings: Settings) -> CheckResult:
    try:
        url = parse_database_url(settings.database_url)
    except ValueError as exc:
        return CheckResult("database", False, str(exc))
    shown = url.render_as_string(hide_password=True)
    is_duckdb_file = url.get_backend_name() == "duckdb" and url.database not in (None, "", ":memory:")
    if is_duckdb_file and not Path(str(url.database)).exists():
        folder = _existing_parent(Path(str(url.database)))
        if not os.access(folder, os.W_OK | os.X_OK):
            return CheckResult("database", False, f"{shown} does not exist and {folder} is not writable")
        return CheckResult("database", True, f"{shown} does not exist yet: {_APPLIED_BY_SYNC}")
    try:
        engine = create_hunter_engine(settings.database_url)
    except (ValueError, ImportError) as exc:
        return CheckResult("database", False, f"{shown}: {_first_line(exc)}")
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("select 1"))
        try:
            from partner_center_assets.hunter_db import migrate
        except ImportError as exc:
            return CheckResult(
                "database", False, f"connected to {shown}, but migrations are unavailable ({exc})"
            )
        current = migrate.current_revision(engine)
        head = migrate.head_revision()
    except Exception as exc:  # any driver or migration failure is this check's verdict
        return CheckResult("database", False, f"{shown}: {type(exc).__name__}: {_first_line(exc)}")
    finally:
        engine.dispose()
    if current is not None and current != head and not migrate.is_known_revision(current):
        return CheckResult(
            "database",
            False,
            f"{shown} is at revision {current}, which this version does not know (head is {head}): "
            "it was migrated by a newer release; run that release",
        )
    if current != head:
        behind = f"{shown} is at revision {current or 'none'}, head is {head}"
        return CheckResult("database", True, f"{behind}: {_APPLIED_BY_SYNC}")
    return CheckResult("database", True, f"{shown} at head revision {head}")


_APPLIED_BY_SYNC = "the next sync applies the pending migrations (or run `partner-center db upgrade` now)"


def _existing_parent(path: Path) -> Path:
    """The nearest folder above ``path`` that exists: the one a sync has to create the file in."""
    for folder in path.absolute().parents:
        if folder.exists():
            return folder
    return Path("/")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else ""


def run_checks(settings: Settings) -> list[CheckResult]:
    provider: TokenProvider | None = None
    client: PartnerCenterClient | None = None
    if settings.tenant_id and settings.client_id:
        provider = TokenProvider.from_settings(settings)
        client = PartnerCenterClient.from_settings(
            settings, token_provider=provider, max_attempts=3, max_retry_after=10.0, backoff_base=0.5
        )
    try:
        configuration = check_configuration(settings, provider)
        token = check_token(provider if configuration.ok else None)
        api = check_api(settings, client, token.ok)
        database = check_database(settings)
    finally:
        if client is not None:
            client.close()
    return [configuration, token, api, database]


@click.command("doctor")
def doctor() -> None:
    """Check configuration, sign-in, API reachability and the database; exit 1 if any check fails."""
    try:
        settings = Settings.from_env()
        SkipLimits.from_env()
    except ValueError as exc:
        click.echo(CheckResult("configuration", False, str(exc)).line())
        raise SystemExit(1) from None
    results = run_checks(settings)
    for result in results:
        click.echo(result.line())
    if not all(result.ok for result in results):
        raise SystemExit(1)
