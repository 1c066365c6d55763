"""``partner-center login``: a one-time device-code sign-in that fills the token cache.

Later runs (the daily schedule included) refresh silently from that cache, so the person who signs in
once is the identity the sync uses: it needs the Referral Admin or Referral User role.
"""

from __future__ import annotations

import click

from partner_center_assets.client import PartnerCenterError, TokenProvider
from partner_center_assets.settings import Settings


@click.command("login")
def login() -> None:
    """Sign in to Partner Center by device code and save the token cache."""
    settings = Settings.from_env()
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
    click.echo(f"Logged in as {who}. Token cache saved to {provider.cache_path} (readable by you only).")
