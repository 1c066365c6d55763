"""``partner-center login``: a one-time device-code sign-in that fills the token cache.

Later runs (the daily schedule included) refresh silently from that cache, so the person who signs in
once is the identity the sync uses: it needs the Referral Admin or Referral User role.
"""

from __future__ import annotations

import click

from partner_center_assets.client import PartnerCenterError, TokenProvider
from partner_center_assets.client.token_cache import new_cache_key
from partner_center_assets.settings import TOKEN_CACHE_KEY_VARIABLE, Settings


@click.command("login")
def login() -> None:
    """Sign in to Partner Center by device code and save the token cache."""
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        provider = TokenProvider.from_settings(settings)
        try:
            provider.device_code_login(lambda message: click.echo(message))
            username = provider.account_username()
        finally:
            provider.close()
    except PartnerCenterError as exc:
        raise click.ClickException(str(exc)) from None
    who = username or "an account without a username claim"
    protection = "encrypted, readable by you only" if settings.token_cache_key else "readable by you only"
    click.echo(f"Logged in as {who}. Token cache saved to {provider.cache_path} ({protection}).")


@click.command("new-cache-key")
def new_cache_key_command() -> None:
    """Print a new token cache encryption key (for HUNTER_PARTNER_CENTER_TOKEN_CACHE_KEY)."""
    click.echo(new_cache_key())
    click.echo(
        f"Store it where your secrets live and set {TOKEN_CACHE_KEY_VARIABLE} to it. To rotate, set "
        "'<new key>,<old key>': the next run rewrites the cache with the new key.",
        err=True,
    )
