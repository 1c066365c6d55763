"""Signing in against the emulator and editing the saved MSAL token cache, for the sign-in tests."""

from __future__ import annotations

import json
import time
from pathlib import Path

from partner_center_assets.client import TokenProvider
from partner_center_assets.emulator import Emulator
from partner_center_assets.settings import Settings

SHORT_LIFETIME = 120
"""Access tokens this short (seconds) are below MSAL's five-minute margin, so every silent
acquisition redeems the cached refresh token."""


def grants(emu: Emulator) -> list[tuple[str | None, int | None]]:
    """(grant type, status) of every token request the emulator received, in order."""
    return [(r.grant_type, r.status) for r in emu.requests if r.path.endswith("/oauth2/v2.0/token")]


def grant_types(emu: Emulator) -> list[str | None]:
    return [grant for grant, _ in grants(emu)]


def signed_in(settings: Settings) -> TokenProvider:
    """A provider that has acquired one token (and so written the cache file)."""
    provider = TokenProvider.from_settings(settings)
    provider.get_token()
    provider.close()
    return provider


def age_refresh_tokens(cache_file: Path, days: float) -> None:
    """Make every refresh token in ``cache_file`` look last issued ``days`` ago."""
    cache = json.loads(cache_file.read_text(encoding="utf-8"))
    stamp = str(int(time.time() - days * 86400))
    for entry in cache.get("RefreshToken", {}).values():
        entry["last_modification_time"] = stamp
    cache_file.write_text(json.dumps(cache), encoding="utf-8")
