"""Processes a test started or made start: whether they are still running."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path


def running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, waiting for init to reap it, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def still_running_after(pids: Iterable[int], seconds: float = 10.0) -> list[int]:
    """The ``pids`` still running once all have ended or ``seconds`` have passed."""
    pids = list(pids)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(running(pid) for pid in pids):
        time.sleep(0.05)
    return [pid for pid in pids if running(pid)]
