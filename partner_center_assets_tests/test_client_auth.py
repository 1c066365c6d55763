"""Signing in: every method of the contract's order, its fall-backs, and the token cache file."""

from __future__ import annotations

import logging
import stat
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from partner_center_assets.client import (
    AuthMethod,
    PartnerCenterAuthError,
    PartnerCenterClient,
    PartnerCenterError,
    TokenProvider,
    build_referral_query,
)
from partner_center_assets.emulator import Emulator, Fault
from partner_center_assets.settings import Settings
from partner_center_assets_tests.token_cache_files import (
    SHORT_LIFETIME,
    age_refresh_tokens,
    grants,
    signed_in,
)

pytest_plugins = ["partner_center_assets_tests.emulator_fixtures"]
pytestmark = pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning")

QUERY = build_referral_query(direction="Incoming", statuses=["New", "Active"], top=10)


def test_password_sign_in_discovers_the_user_realm_on_the_authority_port(
    emulator: Emulator, password_settings: Callable[..., Settings]
) -> None:
    provider = TokenProvider.from_settings(password_settings(emulator))

    token = provider.get_token()

    realm = [r for r in emulator.requests if r.path.startswith("/common/userrealm/")]
    assert token
    assert provider.method == AuthMethod.PASSWORD
    assert [r.status for r in realm] == [200]
    assert grants(emulator) == [("password", 200)]


def test_every_identity_request_carries_a_client_request_id(
    emulator: Emulator, password_settings: Callable[..., Settings]
) -> None:
    TokenProvider.from_settings(password_settings(emulator)).get_token()

    identity = [r for r in emulator.requests if not r.is_api]
    assert {r.path.split("/")[-1] for r in identity} >= {"openid-configuration", "token"}
    assert all(r.client_request_id for r in identity)


def test_password_sign_in_with_a_client_secret_is_a_confidential_client(
    emulator: Emulator, password_settings: Callable[..., Settings]
) -> None:
    wrong_secret = TokenProvider.from_settings(password_settings(emulator, client_secret="not-the-secret"))
    right_secret = TokenProvider.from_settings(
        password_settings(emulator, client_secret=emulator.client_secret)
    )

    with pytest.raises(PartnerCenterAuthError, match="invalid_client"):
        wrong_secret.get_token()
    assert right_secret.get_token()
    assert right_secret.method == AuthMethod.PASSWORD


def test_a_refresh_token_from_elsewhere_signs_in(
    emulator: Emulator, emulator_settings: Callable[..., Settings]
) -> None:
    provider = TokenProvider.from_settings(
        emulator_settings(emulator, refresh_token=emulator.issue_refresh_token())
    )

    assert provider.method == AuthMethod.REFRESH_TOKEN
    assert provider.get_token()
    assert grants(emulator) == [("refresh_token", 200)]


def test_client_credentials_sign_in_warns_that_referrals_need_a_user(
    emulator: Emulator, emulator_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    provider = TokenProvider.from_settings(emulator_settings(emulator, client_secret=emulator.client_secret))

    with caplog.at_level(logging.WARNING):
        assert provider.get_token()

    assert provider.method == AuthMethod.CLIENT_CREDENTIALS
    assert grants(emulator) == [("client_credentials", 200)]
    assert any("App+User" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_the_token_cache_file_is_readable_by_its_owner_only(
    emulator: Emulator, password_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = password_settings(emulator)

    signed_in(settings)

    cache = Path(settings.token_cache_path)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert sorted(p.name for p in cache.parent.iterdir() if p.name.startswith(".")) == []


def test_an_existing_world_readable_cache_is_rewritten_owner_only(
    start_emulator: Callable[..., Emulator],
    password_settings: Callable[..., Settings],
    emulator_settings: Callable[..., Settings],
) -> None:
    emu = start_emulator(access_token_lifetime=SHORT_LIFETIME)
    cache = Path(signed_in(password_settings(emu)).cache_path)
    cache.chmod(0o644)

    signed_in(emulator_settings(emu))

    assert stat.S_IMODE(cache.stat().st_mode) == 0o600


def test_a_later_run_uses_the_cached_access_token_without_signing_in(
    emulator: Emulator, password_settings: Callable[..., Settings], emulator_settings: Callable[..., Settings]
) -> None:
    signed_in(password_settings(emulator))
    later = TokenProvider.from_settings(emulator_settings(emulator))

    assert later.method == AuthMethod.TOKEN_CACHE
    assert later.get_token()
    assert grants(emulator) == [("password", 200)]


def test_a_later_run_refreshes_silently_from_the_cache(
    start_emulator: Callable[..., Emulator],
    password_settings: Callable[..., Settings],
    emulator_settings: Callable[..., Settings],
) -> None:
    emu = start_emulator(access_token_lifetime=SHORT_LIFETIME)
    signed_in(password_settings(emu))
    later = TokenProvider.from_settings(emulator_settings(emu))

    assert later.get_token()
    assert later.method == AuthMethod.TOKEN_CACHE
    assert grants(emu) == [("password", 200), ("refresh_token", 200)]


def test_the_cached_sign_in_tells_how_long_it_went_unused(
    start_emulator: Callable[..., Emulator],
    password_settings: Callable[..., Settings],
    emulator_settings: Callable[..., Settings],
) -> None:
    emu = start_emulator(access_token_lifetime=SHORT_LIFETIME)
    cache = Path(signed_in(password_settings(emu)).cache_path)
    age_refresh_tokens(cache, days=75)
    later = TokenProvider.from_settings(emulator_settings(emu))

    assert later.refresh_token_idle_days() == 75.0
    assert later.get_token()
    assert later.refresh_token_idle_days() == 0.0


def test_without_a_cached_sign_in_there_is_no_idle_time(
    emulator: Emulator, password_settings: Callable[..., Settings]
) -> None:
    assert TokenProvider.from_settings(password_settings(emulator)).refresh_token_idle_days() is None


def test_a_refused_cached_sign_in_says_how_long_it_had_gone_unused(
    start_emulator: Callable[..., Emulator],
    password_settings: Callable[..., Settings],
    emulator_settings: Callable[..., Settings],
) -> None:
    emu = start_emulator(access_token_lifetime=SHORT_LIFETIME)
    age_refresh_tokens(Path(signed_in(password_settings(emu)).cache_path), days=93)
    emu.revoke_refresh_tokens()
    provider = TokenProvider.from_settings(emulator_settings(emu))

    with pytest.raises(PartnerCenterAuthError) as raised:
        provider.get_token()

    assert "last used 93 days ago" in str(raised.value)
    assert "90 days without use" in str(raised.value)
    assert "partner-center login" in str(raised.value)


def test_a_revoked_cached_refresh_token_falls_back_to_the_next_method_and_replaces_the_cache(
    start_emulator: Callable[..., Emulator],
    password_settings: Callable[..., Settings],
    emulator_settings: Callable[..., Settings],
    caplog: pytest.LogCaptureFixture,
) -> None:
    emu = start_emulator(access_token_lifetime=SHORT_LIFETIME)
    cache = Path(signed_in(password_settings(emu)).cache_path)
    revoked_cache = cache.read_text()
    emu.revoke_refresh_tokens()
    provider = TokenProvider.from_settings(emulator_settings(emu, refresh_token=emu.issue_refresh_token()))

    with caplog.at_level(logging.WARNING):
        assert provider.get_token()

    assert provider.method == AuthMethod.REFRESH_TOKEN
    assert grants(emu) == [("password", 200), ("refresh_token", 400), ("refresh_token", 200)]
    assert any("refused" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert cache.read_text() != revoked_cache
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    next_run = TokenProvider.from_settings(emulator_settings(emu))
    assert next_run.get_token()
    assert next_run.method == AuthMethod.TOKEN_CACHE


def test_a_revoked_cache_with_nothing_else_configured_says_to_run_login(
    start_emulator: Callable[..., Emulator],
    password_settings: Callable[..., Settings],
    emulator_settings: Callable[..., Settings],
) -> None:
    emu = start_emulator(access_token_lifetime=SHORT_LIFETIME)
    signed_in(password_settings(emu))
    emu.revoke_refresh_tokens()
    provider = TokenProvider.from_settings(emulator_settings(emu))

    with pytest.raises(PartnerCenterAuthError, match="partner-center login"):
        provider.get_token()


def test_a_refused_password_is_final(emulator: Emulator, password_settings: Callable[..., Settings]) -> None:
    provider = TokenProvider.from_settings(
        password_settings(emulator, password="wrong-password", client_secret=emulator.client_secret)
    )

    with pytest.raises(PartnerCenterAuthError, match="USERNAME/PASSWORD was refused") as raised:
        provider.get_token()

    assert "invalid_grant" in str(raised.value)
    assert grants(emulator) == [("password", 400)]


def test_a_revoked_cache_falls_back_to_a_password_whose_refusal_is_final(
    start_emulator: Callable[..., Emulator],
    password_settings: Callable[..., Settings],
) -> None:
    emu = start_emulator(access_token_lifetime=SHORT_LIFETIME)
    signed_in(password_settings(emu))
    emu.revoke_refresh_tokens()
    provider = TokenProvider.from_settings(
        password_settings(emu, password="wrong-password", client_secret=emu.client_secret)
    )

    with pytest.raises(PartnerCenterAuthError, match="USERNAME/PASSWORD was refused"):
        provider.get_token()

    assert [grant for grant, _ in grants(emu)] == ["password", "refresh_token", "password"]


def test_a_refused_client_secret_is_final(
    emulator: Emulator, emulator_settings: Callable[..., Settings]
) -> None:
    provider = TokenProvider.from_settings(emulator_settings(emulator, client_secret="not-the-secret"))

    with pytest.raises(PartnerCenterAuthError, match="CLIENT_SECRET was refused"):
        provider.get_token()

    assert grants(emulator) == [("client_credentials", 401)]


def test_no_sign_in_method_says_to_run_login(
    emulator: Emulator, emulator_settings: Callable[..., Settings]
) -> None:
    provider = TokenProvider.from_settings(emulator_settings(emulator))

    with pytest.raises(PartnerCenterAuthError, match="partner-center login"):
        provider.get_token()


def test_missing_tenant_or_client_id_is_named(
    emulator: Emulator, password_settings: Callable[..., Settings]
) -> None:
    with pytest.raises(PartnerCenterAuthError, match="HUNTER_PARTNER_CENTER_TENANT_ID"):
        TokenProvider.from_settings(password_settings(emulator, tenant_id=None))


@pytest.mark.parametrize(
    ("method", "grant"),
    [
        (AuthMethod.PASSWORD, "password"),
        (AuthMethod.REFRESH_TOKEN, "refresh_token"),
        (AuthMethod.CLIENT_CREDENTIALS, "client_credentials"),
    ],
)
def test_a_forced_refresh_repeats_the_method_in_use(
    emulator: Emulator, emulator_settings: Callable[..., Settings], method: AuthMethod, grant: str
) -> None:
    options = {
        AuthMethod.PASSWORD: {"username": emulator.username, "password": emulator.password},
        AuthMethod.REFRESH_TOKEN: {"refresh_token": emulator.issue_refresh_token()},
        AuthMethod.CLIENT_CREDENTIALS: {"client_secret": emulator.client_secret},
    }[method]
    provider = TokenProvider.from_settings(emulator_settings(emulator, **options))

    first = provider.get_token()
    cached = provider.get_token()
    forced = provider.get_token(force_refresh=True)

    assert cached == first
    assert forced != first
    assert provider.method == method
    assert grants(emulator) == [(grant, 200), (grant, 200)]


def test_device_code_login_fills_the_cache_for_later_runs(
    start_emulator: Callable[..., Emulator], emulator_settings: Callable[..., Settings]
) -> None:
    emulator = start_emulator(device_code_interval=0)
    provider = TokenProvider.from_settings(emulator_settings(emulator))
    prompts: list[str] = []

    provider.device_code_login(prompts.append)

    assert len(prompts) == 1
    assert f"{emulator.authority_host}/devicelogin" in prompts[0]
    assert provider.account_username() == emulator.username
    assert stat.S_IMODE(Path(provider.cache_path).stat().st_mode) == 0o600
    later = TokenProvider.from_settings(emulator_settings(emulator))
    assert later.method == AuthMethod.TOKEN_CACHE
    assert later.get_token()


def test_secrets_never_reach_logs_or_error_messages(
    start_emulator: Callable[..., Emulator],
    password_settings: Callable[..., Settings],
    emulator_settings: Callable[..., Settings],
    open_client: Callable[..., PartnerCenterClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    emu = start_emulator(access_token_lifetime=SHORT_LIFETIME)
    given_refresh_token = emu.issue_refresh_token()
    caplog.set_level(logging.DEBUG)
    provider = TokenProvider.from_settings(password_settings(emu, client_secret=emu.client_secret))
    tokens = [provider.get_token(), provider.get_token(force_refresh=True)]
    client = open_client(password_settings(emu, client_secret=emu.client_secret), token_provider=provider)
    emu.expire_access_tokens()
    list(client.iter_referral_pages("discovery", QUERY, cutoff=None, max_pages=2))
    tokens.append(provider.get_token())
    cache_text = Path(provider.cache_path).read_text()
    errors: list[Exception] = []
    for settings in (
        password_settings(emu, password="wrong-password", client_secret=emu.client_secret),
        emulator_settings(emu, client_secret="wrong-secret"),
        emulator_settings(emu, refresh_token="rt.not-a-real-one"),
    ):
        with pytest.raises(PartnerCenterAuthError) as raised:
            TokenProvider.from_settings(replace(settings, token_cache_path="")).get_token()
        errors.append(raised.value)

    secrets = [emu.password, emu.client_secret, "wrong-password", "wrong-secret", "rt.not-a-real-one"]
    secrets += [given_refresh_token, *tokens]
    secrets += [
        line.split('"secret": "')[1].split('"')[0] for line in cache_text.split("\n") if '"secret": "' in line
    ]
    assert len(secrets) > 8
    for secret in secrets:
        assert secret not in caplog.text
        for error in errors:
            assert secret not in str(error)
            assert secret not in repr(error)
    assert emu.password not in repr(provider)


TOKEN_PATH_SUFFIX = "/oauth2/v2.0/token"


@pytest.mark.parametrize("status", [429, 500, 503, 504])
def test_a_transient_identity_platform_failure_at_sign_in_is_retried(
    emulator: Emulator, password_settings: Callable[..., Settings], status: int
) -> None:
    emulator.add_fault(
        Fault(
            "status",
            status=status,
            retry_after=0,
            count=2,
            path_prefix=f"/{emulator.tenant_id}{TOKEN_PATH_SUFFIX}",
        )
    )
    provider = TokenProvider.from_settings(password_settings(emulator))

    assert provider.get_token()
    assert grants(emulator) == [("password", status), ("password", status), ("password", 200)]


def test_a_transient_failure_of_the_refresh_after_a_401_is_retried(
    emulator: Emulator, emulator_settings: Callable[..., Settings]
) -> None:
    provider = TokenProvider.from_settings(
        emulator_settings(emulator, refresh_token=emulator.issue_refresh_token())
    )
    first = provider.get_token()
    emulator.add_fault(
        Fault("status", status=503, retry_after=0, path_prefix=f"/{emulator.tenant_id}{TOKEN_PATH_SUFFIX}")
    )

    refreshed = provider.get_token(force_refresh=True)

    assert refreshed and refreshed != first
    assert [status for _, status in grants(emulator)][-2:] == [503, 200]


def test_an_identity_platform_outage_is_a_clear_partner_center_error(
    emulator: Emulator, password_settings: Callable[..., Settings]
) -> None:
    emulator.add_fault(
        Fault(
            "status",
            status=503,
            retry_after=0,
            count=None,
            path_prefix=f"/{emulator.tenant_id}{TOKEN_PATH_SUFFIX}",
        )
    )
    provider = TokenProvider.from_settings(password_settings(emulator))

    with pytest.raises(PartnerCenterError) as raised:
        provider.get_token()

    assert "503" in str(raised.value)
    assert "try again" in str(raised.value)
    assert emulator.password not in str(raised.value)


def test_a_dropped_connection_to_the_token_endpoint_is_retried(
    emulator: Emulator, password_settings: Callable[..., Settings]
) -> None:
    emulator.add_fault(Fault("drop", path_prefix=f"/{emulator.tenant_id}{TOKEN_PATH_SUFFIX}"))
    provider = TokenProvider.from_settings(password_settings(emulator))

    assert provider.get_token()
    assert grants(emulator)[-1] == ("password", 200)
