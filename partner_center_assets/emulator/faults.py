"""Injected failures, so clients can be tested against throttling, outages and broken answers.

Faults queue up: for each request, the first fault (in the order added) whose path prefix matches
either lets the request pass while it is still skipping its first ``after`` matches, or claims it.
A fault that has claimed ``count`` requests is used up and removed.
"""

from __future__ import annotations

import threading
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

FAULT_KINDS = ("status", "drop", "slow", "malformed", "expire_token")
API_PREFIX = "/v1.0/engagements/referrals"


@dataclass
class Fault:
    """One injected failure.

    ``kind``: ``status`` (answer ``status``, with ``Retry-After: retry_after`` when given), ``drop``
    (close the connection without an answer), ``slow`` (wait ``delay`` seconds, then answer normally),
    ``malformed`` (200 with a truncated JSON body) or ``expire_token`` (treat the bearer token as
    expired: 401 on the API; on an identity path, ``invalid_grant`` as for an expired refresh token).
    ``count=None`` never runs out.
    """

    kind: str
    _: KW_ONLY
    status: int | None = None
    retry_after: int | float | str | None = None
    delay: float = 0.0
    count: int | None = 1
    path_prefix: str = API_PREFIX
    after: int = 0
    _skipped: int = field(default=0, init=False, repr=False, compare=False)
    _claimed: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if self.kind == "status" and (self.status is None or not 100 <= int(self.status) <= 599):
            raise ValueError("a 'status' fault needs status=<HTTP status code>")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be at least 1 (or None for no limit)")
        if self.after < 0 or self.delay < 0:
            raise ValueError("after and delay must not be negative")
        if not self.path_prefix.startswith("/"):
            raise ValueError("path_prefix must start with '/'")
        self.status = int(self.status) if self.status is not None else None
        self.delay = float(self.delay)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        """Build from the JSON the admin endpoint receives; unknown keys are an error."""
        allowed = {"kind", "status", "retry_after", "delay", "count", "path_prefix", "after"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        if "kind" not in data:
            raise ValueError("a fault needs a 'kind'")
        options = {key: value for key, value in data.items() if key != "kind"}
        return cls(str(data["kind"]), **options)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind,
            "status": self.status,
            "retry_after": self.retry_after,
            "delay": self.delay,
            "count": self.count,
            "path_prefix": self.path_prefix,
            "after": self.after,
        }
        data["remaining"] = None if self.count is None else self.count - self._claimed
        return data


class FaultQueue:
    """The faults waiting to happen; thread-safe, as the server answers requests concurrently."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.to_dict() for fault in self._faults]

    def claim(self, path: str) -> Fault | None:
        """The fault that applies to this request, if any (and account for it)."""
        with self._lock:
            for fault in self._faults:
                if not path.startswith(fault.path_prefix):
                    continue
                if fault._skipped < fault.after:
                    fault._skipped += 1
                    continue
                fault._claimed += 1
                if fault.count is not None and fault._claimed >= fault.count:
                    self._faults.remove(fault)
                return fault
        return None
