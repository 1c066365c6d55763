"""What the emulator was asked, so tests can check what a client sent (without its secrets)."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

API_PATH = "/v1.0/engagements/referrals"
REDACTED_BEARER = "Bearer <redacted>"
SENSITIVE_KEYS = frozenset(
    {
        "password",
        "client_secret",
        "client_assertion",
        "refresh_token",
        "access_token",
        "id_token",
        "code",
        "device_code",
        "assertion",
    }
)


def redact_authorization(value: str | None) -> str | None:
    """``Bearer <redacted>`` (or ``<Scheme> <redacted>``): the scheme is useful, the credential never is."""
    if not value:
        return None
    scheme = value.split(" ", 1)[0]
    return f"{scheme} <redacted>" if scheme else "<redacted>"


def redact_query(query: dict[str, str]) -> dict[str, str]:
    return {key: ("<redacted>" if key.lower() in SENSITIVE_KEYS else value) for key, value in query.items()}


@dataclass(frozen=True)
class RequestRecord:
    """One request as the emulator saw it. ``status`` is None when the connection was dropped."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    status: int | None = None
    request_id: str = ""
    client_request_id: str | None = None
    authorization: str | None = None
    grant_type: str | None = None
    token_kind: str | None = None
    fault: str | None = None
    started_at: float = 0.0
    duration_ms: float = 0.0

    @property
    def is_api(self) -> bool:
        return self.path == API_PATH or self.path.startswith(API_PATH + "/")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    """A bounded, thread-safe list of records (a long-running emulator must not grow without end)."""

    def __init__(self, limit: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._records: deque[RequestRecord] = deque(maxlen=limit)

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
