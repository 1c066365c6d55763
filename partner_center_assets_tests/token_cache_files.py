"""Editing a saved MSAL token cache the way time would: its refresh tokens last used days ago."""

from __future__ import annotations

import json
import time
from pathlib import Path


def age_refresh_tokens(cache_file: Path, days: float) -> None:
    """Make every refresh token in ``cache_file`` look last issued ``days`` ago."""
    cache = json.loads(cache_file.read_text(encoding="utf-8"))
    stamp = str(int(time.time() - days * 86400))
    for entry in cache.get("RefreshToken", {}).values():
        entry["last_modification_time"] = stamp
    cache_file.write_text(json.dumps(cache), encoding="utf-8")
