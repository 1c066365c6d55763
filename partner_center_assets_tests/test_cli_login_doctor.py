"""``partner-center login`` and ``partner-center doctor`` against the emulator."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from cryptography.fernet import Fernet

from partner_center_assets.cli.doctor import doctor
from partner_center_assets.cli.login import login
from partner_center_assets.client import AuthMethod, TokenProvider
from partner_center_assets.emulator import Emulator, Fault
from partner_center_assets.hunter_db import migrate
from partner_center_assets.settings import Settings
from partner_center_assets_tests.token_cache_files import age_refresh_tokens

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

pytest_plugins = ["partner_center_assets_tests.emulator_fixtures"]
pytestmark = pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning")


@pytest.fixture
def emulator(start_emulator: Callable[..., Emulator]) -> Emulator:
    """An emulator that approves device codes on the second poll, with no wait between polls."""
    return start_emulator(device_code_interval=0)


@pytest.fixture
def environment(emulator: Emulator, tmp_path: Path) -> dict[str, str | None]:
    """The variables pointing the commands at the emulator; every other ``HUNTER_`` variable unset."""
    env: dict[str, str | None] = {name: None for name in os.environ if name.startswith("HUNTER_")}
    env.update(
        {
            "DAGSTER_HOME": str(tmp_path),
            "HUNTER_DATABASE_URL": f"duckdb:///{tmp_path / 'hunter.duckdb'}",
            "HUNTER_PARTNER_CENTER_BASE_URL": emulator.base_url,
            "HUNTER_PARTNER_CENTER_AUTHORITY_HOST": emulator.authority_host,
            "HUNTER_PARTNER_CENTER_TENANT_ID": emulator.tenant_id,
            "HUNTER_PARTNER_CENTER_CLIENT_ID": emulator.client_id,
            "HUNTER_PARTNER_CENTER_CA_BUNDLE": str(emulator.ca_path),
            "HUNTER_PARTNER_CENTER_TOKEN_CACHE": str(tmp_path / "token_cache.json"),
            "HUNTER_PARTNER_CENTER_REQUESTS_PER_MINUTE": "0",
        }
    )
    return env


def with_password(
    env: dict[str, str | None], emu: Emulator, password: str | None = None
) -> dict[str, str | None]:
    return {
        **env,
        "HUNTER_PARTNER_CENTER_USERNAME": emu.username,
        "HUNTER_PARTNER_CENTER_PASSWORD": password or emu.password,
    }


def migrated(env: dict[str, str | None]) -> dict[str, str | None]:
    engine = sa.create_engine(str(env["HUNTER_DATABASE_URL"]))
    migrate.upgrade(engine)
    engine.dispose()
    return env


def test_login_shows_the_code_saves_the_cache_and_names_the_account(
    emulator: Emulator, environment: dict[str, str | None]
) -> None:
    result = CliRunner().invoke(login, env=environment)

    cache = Path(str(environment["HUNTER_PARTNER_CENTER_TOKEN_CACHE"]))
    assert result.exit_code == 0, result.output
    assert f"{emulator.authority_host}/devicelogin" in result.output
    assert "enter the code" in result.output
    assert f"Logged in as {emulator.username}" in result.output
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600


def test_after_login_runs_sign_in_from_the_cache(
    emulator: Emulator, environment: dict[str, str | None]
) -> None:
    CliRunner().invoke(login, env=environment)
    provider = TokenProvider.from_settings(Settings.from_env({k: v for k, v in environment.items() if v}))

    assert provider.method == AuthMethod.TOKEN_CACHE
    assert provider.get_token()
    assert [r.grant_type for r in emulator.requests if r.grant_type] == [DEVICE_CODE_GRANT, DEVICE_CODE_GRANT]


def test_login_without_a_client_id_names_the_missing_variable(environment: dict[str, str | None]) -> None:
    result = CliRunner().invoke(login, env={**environment, "HUNTER_PARTNER_CENTER_CLIENT_ID": None})

    assert result.exit_code == 1
    assert "HUNTER_PARTNER_CENTER_CLIENT_ID" in result.output


def test_doctor_passes_every_check_on_a_healthy_setup(
    emulator: Emulator, environment: dict[str, str | None]
) -> None:
    env = migrated(with_password(environment, emulator))

    result = CliRunner().invoke(doctor, env=env)

    lines = result.output.splitlines()
    assert result.exit_code == 0, result.output
    assert [line.split()[:2] for line in lines] == [
        ["OK", "configuration:"],
        ["OK", "token:"],
        ["OK", "api:"],
        ["OK", "database:"],
    ]
    assert "acquired by password" in lines[1]
    assert emulator.api_requests()[0].request_id in lines[2]
    assert emulator.api_requests()[0].query["$top"] == "1"
    assert migrate.head_revision() in lines[3]
    assert emulator.password not in result.output


def test_doctor_tells_how_long_the_cached_sign_in_went_unused(
    emulator: Emulator, environment: dict[str, str | None]
) -> None:
    CliRunner().invoke(login, env=environment)
    age_refresh_tokens(Path(str(environment["HUNTER_PARTNER_CENTER_TOKEN_CACHE"])), days=12)

    result = CliRunner().invoke(doctor, env=migrated(environment))

    token_line = result.output.splitlines()[1]
    assert result.exit_code == 0, result.output
    assert token_line.startswith("OK   token: acquired by token_cache")
    assert "unused 12 days (it expires after 90)" in token_line


def test_doctor_fails_a_skip_limit_that_is_not_a_share_and_names_it(
    environment: dict[str, str | None],
) -> None:
    env = {**environment, "HUNTER_PARTNER_CENTER_SKIPPED_SHARE_ERROR": "5%"}

    result = CliRunner().invoke(doctor, env=migrated(env))

    assert result.exit_code == 1
    assert result.output.startswith(
        "FAIL configuration: HUNTER_PARTNER_CENTER_SKIPPED_SHARE_ERROR must be a share from 0 to 1"
    )


def test_login_with_a_cache_key_saves_an_encrypted_cache_that_doctor_reads_with_the_key(
    environment: dict[str, str | None],
) -> None:
    key = Fernet.generate_key().decode()
    keyed = {**environment, "HUNTER_PARTNER_CENTER_TOKEN_CACHE_KEY": key}

    login_result = CliRunner().invoke(login, env=keyed)
    doctor_result = CliRunner().invoke(doctor, env=migrated(keyed))

    cache = Path(str(environment["HUNTER_PARTNER_CENTER_TOKEN_CACHE"]))
    assert "(encrypted, readable by you only)" in login_result.output
    assert json.loads(Fernet(key).decrypt(cache.read_bytes()))["RefreshToken"]
    assert doctor_result.exit_code == 0, doctor_result.output


def test_doctor_says_why_a_cache_under_another_key_cannot_be_used(
    environment: dict[str, str | None],
) -> None:
    CliRunner().invoke(
        login, env={**environment, "HUNTER_PARTNER_CENTER_TOKEN_CACHE_KEY": Fernet.generate_key().decode()}
    )
    other = {**environment, "HUNTER_PARTNER_CENTER_TOKEN_CACHE_KEY": Fernet.generate_key().decode()}

    result = CliRunner().invoke(doctor, env=migrated(other))

    first = result.output.splitlines()[0]
    assert result.exit_code == 1
    assert first.startswith("FAIL configuration: no sign-in method")
    assert "cannot be decrypted with HUNTER_PARTNER_CENTER_TOKEN_CACHE_KEY" in first


def test_doctor_fails_without_a_sign_in_method_and_says_what_to_do(
    environment: dict[str, str | None],
) -> None:
    result = CliRunner().invoke(doctor, env=migrated(environment))

    lines = result.output.splitlines()
    assert result.exit_code == 1
    assert lines[0].startswith("FAIL configuration:") and "partner-center login" in lines[0]
    assert lines[1].startswith("FAIL token: skipped")
    assert lines[2].startswith("FAIL api: skipped")
    assert lines[3].startswith("OK   database:")


def test_doctor_reports_a_refused_password_without_printing_it(
    emulator: Emulator, environment: dict[str, str | None]
) -> None:
    env = migrated(with_password(environment, emulator, password="a-wrong-password"))

    result = CliRunner().invoke(doctor, env=env)

    lines = result.output.splitlines()
    assert result.exit_code == 1
    assert lines[1].startswith("FAIL token:") and "invalid_grant" in lines[1]
    assert "a-wrong-password" not in result.output


def test_doctor_reports_an_api_that_refuses_access(
    emulator: Emulator, environment: dict[str, str | None]
) -> None:
    emulator.add_fault(Fault("status", status=403))
    env = migrated(with_password(environment, emulator))

    result = CliRunner().invoke(doctor, env=env)

    lines = result.output.splitlines()
    assert result.exit_code == 1
    assert lines[2].startswith("FAIL api:") and "Referral Admin or Referral User" in lines[2]


def test_doctor_passes_a_database_the_next_sync_will_migrate_and_says_so(
    emulator: Emulator, environment: dict[str, str | None]
) -> None:
    env = with_password(environment, emulator)
    engine = sa.create_engine(str(env["HUNTER_DATABASE_URL"]))
    engine.connect().close()
    engine.dispose()

    result = CliRunner().invoke(doctor, env=env)

    lines = result.output.splitlines()
    assert result.exit_code == 0, result.output
    assert lines[3].startswith("OK   database:")
    assert "revision none" in lines[3] and "next sync applies the pending migrations" in lines[3]


def test_doctor_passes_a_duckdb_file_the_first_sync_will_create(
    emulator: Emulator, environment: dict[str, str | None], tmp_path: Path
) -> None:
    env = {
        **with_password(environment, emulator),
        "HUNTER_DATABASE_URL": f"duckdb:///{tmp_path}/new/h.duckdb",
    }

    result = CliRunner().invoke(doctor, env=env)

    assert result.exit_code == 0, result.output
    assert "does not exist yet" in result.output.splitlines()[3]


def test_doctor_fails_a_database_migrated_by_a_newer_release(
    emulator: Emulator, environment: dict[str, str | None]
) -> None:
    env = migrated(with_password(environment, emulator))
    engine = sa.create_engine(str(env["HUNTER_DATABASE_URL"]))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE partner_center_alembic_version SET version_num = '9999_newer'"))
    engine.dispose()

    result = CliRunner().invoke(doctor, env=env)

    lines = result.output.splitlines()
    assert result.exit_code == 1
    assert lines[3].startswith("FAIL database:") and "9999_newer" in lines[3]
    assert "newer release" in lines[3]


def test_doctor_masks_the_database_password(environment: dict[str, str | None]) -> None:
    url = "postgresql+psycopg://hunter:db-secret-pw@127.0.0.1:1/hunter"

    result = CliRunner().invoke(doctor, env={**environment, "HUNTER_DATABASE_URL": url})

    assert result.exit_code == 1
    assert result.output.splitlines()[3].startswith("FAIL database:")
    assert "db-secret-pw" not in result.output


def test_doctor_names_an_unsupported_database_url(environment: dict[str, str | None]) -> None:
    result = CliRunner().invoke(
        doctor, env={**environment, "HUNTER_DATABASE_URL": "mysql://hunter@db/hunter"}
    )

    assert result.exit_code == 1
    assert "duckdb:/// or postgresql+psycopg://" in result.output.splitlines()[3]
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HUNTER_PARTNER_CENTER_SYNC_CRON", "every morning"),
        ("HUNTER_PARTNER_CENTER_SYNC_CRON", "0 6 * *"),
        ("HUNTER_PARTNER_CENTER_SYNC_CRON", "99 6 * * *"),
        ("HUNTER_PARTNER_CENTER_SYNC_CRON", "0 25 * * *"),
        ("HUNTER_PARTNER_CENTER_SYNC_CRON", "0 6 31 2 *"),
        ("HUNTER_PARTNER_CENTER_SYNC_TIMEZONE", "Mars/Olympus_Mons"),
    ],
)
def test_doctor_names_an_invalid_schedule_setting(
    environment: dict[str, str | None], name: str, value: str
) -> None:
    result = CliRunner().invoke(doctor, env={**environment, name: value})

    assert result.exit_code == 1
    assert result.output.startswith(f"FAIL configuration: {name} must be")


@pytest.mark.parametrize("cron", ["0 6 * * *", "30 5 * * MON-FRI", "*/15 * * * *", "@daily"])
def test_valid_schedules_are_accepted(cron: str) -> None:
    assert Settings.from_env({"HUNTER_PARTNER_CENTER_SYNC_CRON": cron}).sync_cron == cron
