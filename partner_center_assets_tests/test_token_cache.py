"""The token cache file encrypted at rest with HUNTER_PARTNER_CENTER_TOKEN_CACHE_KEY, against the emulator."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from partner_center_assets.cli.login import new_cache_key_command
from partner_center_assets.client import AuthMethod, PartnerCenterAuthError, TokenProvider
from partner_center_assets.emulator import Emulator
from partner_center_assets.settings import PREFIX, TOKEN_CACHE_KEY_VARIABLE, Settings
from partner_center_assets_tests.token_cache_files import SHORT_LIFETIME, grant_types, signed_in

pytest_plugins = ["partner_center_assets_tests.emulator_fixtures"]
pytestmark = pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning")

KEY = Fernet.generate_key().decode()
OTHER_KEY = Fernet.generate_key().decode()


def cache_path(settings: Settings) -> Path:
    return Path(settings.token_cache_path)


def refresh_token_secrets(plaintext: bytes) -> list[str]:
    return [entry["secret"] for entry in json.loads(plaintext)["RefreshToken"].values()]


def test_with_a_key_the_cache_file_holds_no_token_in_clear(
    emulator: Emulator, password_settings: Callable[..., Settings]
) -> None:
    settings = password_settings(emulator, token_cache_key=KEY)

    signed_in(settings)

    stored = cache_path(settings).read_bytes()
    secrets = refresh_token_secrets(Fernet(KEY).decrypt(stored))
    assert secrets and all(secret.encode() not in stored for secret in secrets)
    assert b"RefreshToken" not in stored and b"AccessToken" not in stored
    assert cache_path(settings).stat().st_mode & 0o777 == 0o600


def test_a_later_run_with_the_key_refreshes_silently_from_the_encrypted_cache(
    start_emulator: Callable[..., Emulator], password_settings: Callable[..., Settings], emulator_settings
) -> None:
    emu = start_emulator(access_token_lifetime=SHORT_LIFETIME)
    signed_in(password_settings(emu, token_cache_key=KEY))
    later = TokenProvider.from_settings(emulator_settings(emu, token_cache_key=KEY))

    assert later.get_token()

    assert later.method == AuthMethod.TOKEN_CACHE
    assert grant_types(emu) == ["password", "refresh_token"]


def test_a_plain_cache_is_encrypted_by_the_first_run_with_a_key(
    emulator: Emulator, password_settings: Callable[..., Settings], emulator_settings
) -> None:
    signed_in(password_settings(emulator))
    assert json.loads(cache_path(password_settings(emulator)).read_text())

    signed_in(emulator_settings(emulator, token_cache_key=KEY))

    stored = cache_path(password_settings(emulator)).read_bytes()
    assert refresh_token_secrets(Fernet(KEY).decrypt(stored))
    assert grant_types(emulator) == ["password"]


def test_a_new_key_listed_before_the_old_one_rotates_the_cache(
    emulator: Emulator, password_settings: Callable[..., Settings], emulator_settings
) -> None:
    signed_in(password_settings(emulator, token_cache_key=OTHER_KEY))

    signed_in(emulator_settings(emulator, token_cache_key=f"{KEY},{OTHER_KEY}"))
    rotated = TokenProvider.from_settings(emulator_settings(emulator, token_cache_key=KEY))

    assert rotated.get_token()
    assert rotated.method == AuthMethod.TOKEN_CACHE


def test_a_cache_written_with_another_key_is_set_aside_and_replaced_by_the_next_method(
    emulator: Emulator, password_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    signed_in(password_settings(emulator, token_cache_key=OTHER_KEY))
    settings = password_settings(emulator, token_cache_key=KEY)

    with caplog.at_level(logging.WARNING):
        provider = signed_in(settings)

    assert provider.method == AuthMethod.PASSWORD
    assert f"cannot be decrypted with {TOKEN_CACHE_KEY_VARIABLE}" in caplog.text
    assert refresh_token_secrets(Fernet(KEY).decrypt(cache_path(settings).read_bytes()))


def test_an_app_only_sign_in_leaves_a_cache_it_could_not_read_for_the_right_key(
    emulator: Emulator, password_settings: Callable[..., Settings], emulator_settings
) -> None:
    signed_in(password_settings(emulator, token_cache_key=KEY))
    path = cache_path(password_settings(emulator))
    written = path.read_bytes()

    app_only = signed_in(emulator_settings(emulator, client_secret=emulator.client_secret))

    assert app_only.method == AuthMethod.CLIENT_CREDENTIALS
    assert path.read_bytes() == written
    assert signed_in(emulator_settings(emulator, token_cache_key=KEY)).method == AuthMethod.TOKEN_CACHE


def test_an_unreadable_cache_with_nothing_else_configured_says_why(
    emulator: Emulator, password_settings: Callable[..., Settings], emulator_settings
) -> None:
    signed_in(password_settings(emulator, token_cache_key=OTHER_KEY))
    written = cache_path(password_settings(emulator)).read_bytes()
    provider = TokenProvider.from_settings(emulator_settings(emulator, token_cache_key=KEY))

    with pytest.raises(PartnerCenterAuthError, match="partner-center login") as raised:
        provider.get_token()

    assert f"cannot be decrypted with {TOKEN_CACHE_KEY_VARIABLE}" in str(raised.value)
    assert cache_path(password_settings(emulator)).read_bytes() == written


def test_an_encrypted_cache_without_a_key_says_to_set_the_key(
    emulator: Emulator, password_settings: Callable[..., Settings], emulator_settings
) -> None:
    signed_in(password_settings(emulator, token_cache_key=KEY))
    provider = TokenProvider.from_settings(emulator_settings(emulator))

    with pytest.raises(
        PartnerCenterAuthError, match=f"is encrypted and {TOKEN_CACHE_KEY_VARIABLE} is not set"
    ):
        provider.get_token()


@pytest.mark.parametrize("value", ["not-a-key", f"{KEY},short", "c2hvcnQ="])
def test_a_key_that_is_not_a_fernet_key_is_refused_without_repeating_it(value: str) -> None:
    with pytest.raises(
        ValueError, match=f"{TOKEN_CACHE_KEY_VARIABLE} must be one or more Fernet keys"
    ) as raised:
        Settings.from_env({PREFIX + "TOKEN_CACHE_KEY": value})

    assert value not in str(raised.value)


def test_the_key_is_not_part_of_the_settings_repr() -> None:
    assert KEY not in repr(Settings.from_env({PREFIX + "TOKEN_CACHE_KEY": KEY}))


def test_new_cache_key_prints_a_key_the_settings_accept() -> None:
    result = CliRunner().invoke(new_cache_key_command)

    key = result.stdout.strip()
    assert result.exit_code == 0
    assert Settings.from_env({PREFIX + "TOKEN_CACHE_KEY": key}).token_cache_key == key


def test_an_unreadable_cache_survives_a_refused_sign_in(
    emulator: Emulator, password_settings: Callable[..., Settings]
) -> None:
    signed_in(password_settings(emulator, token_cache_key=OTHER_KEY))
    path = cache_path(password_settings(emulator))
    path.chmod(0o644)
    written = path.read_bytes()
    provider = TokenProvider.from_settings(password_settings(emulator, token_cache_key=KEY, password="wrong"))

    with pytest.raises(PartnerCenterAuthError):
        provider.get_token()

    assert path.read_bytes() == written
