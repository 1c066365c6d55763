"""Responses in the two error dialects the emulated services speak.

Partner Center answers ``{"error": {"code", "message"}}``; the identity platform answers OAuth 2
errors with an ``AADSTS`` code in ``error_description``. Clients parse both, so both are reproduced.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class Reply:
    """What the WSGI layer sends: status, body bytes and extra headers."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = JSON_TYPE


def json_reply(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Reply:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Reply(status, body, list(headers or []))


def api_error(
    status: int,
    code: str,
    message: str,
    *,
    target: str | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> Reply:
    """A Partner Center error body."""
    error: dict[str, Any] = {"code": code, "message": message}
    if target:
        error["target"] = target
    return json_reply(status, {"error": error}, headers)


def throttled(retry_after: int | float | str | None) -> Reply:
    """429 as the Partner Center throttling guidance shows it."""
    wait = retry_after if retry_after is not None else 1
    headers = [("Retry-After", str(retry_after))] if retry_after is not None else []
    return json_reply(
        429, {"statusCode": 429, "message": f"Rate limit is exceeded. Try again in {wait} seconds."}, headers
    )


def aad_error(
    status: int,
    error: str,
    code: int,
    description: str,
    *,
    correlation_id: str | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> Reply:
    """An identity-platform OAuth error with the AADSTS code, trace and correlation ids."""
    trace_id = str(uuid.uuid4())
    correlation = correlation_id or str(uuid.uuid4())
    timestamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    payload = {
        "error": error,
        "error_description": (
            f"AADSTS{code}: {description} Trace ID: {trace_id} Correlation ID: {correlation} "
            f"Timestamp: {timestamp}"
        ),
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
    return json_reply(status, payload, headers)
