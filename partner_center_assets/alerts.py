"""Telling a chat channel that a sync failed: one JSON POST to an incoming webhook.

Teams and Slack incoming webhooks (and most alerting endpoints) accept a JSON body with a ``text``
field; the other fields carry the same facts for endpoints that parse them. A webhook URL embeds its
own credential, so it never appears in a message, log line or exception of ours.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
import tenacity

ALERT_WEBHOOK_VARIABLE = "HUNTER_PARTNER_CENTER_ALERT_WEBHOOK_URL"
DAGSTER_UI_VARIABLE = "HUNTER_PARTNER_CENTER_DAGSTER_UI_URL"
MAX_ERROR_CHARS = 1500
ATTEMPTS = 3
TIMEOUT_S = 10.0
_RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class AlertDeliveryError(Exception):
    """The webhook could not be reached or refused the alert (the message never holds the URL)."""


def check_webhook_url(url: str) -> str:
    """An https URL with a host (plain http only on this machine); the error never repeats the URL."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if not host or not (parts.scheme == "https" or (parts.scheme == "http" and host in _LOOPBACK_HOSTS)):
        raise ValueError(f"{ALERT_WEBHOOK_VARIABLE} must be an https URL (the webhook of a channel)")
    return url.strip()


@dataclass(frozen=True)
class FailureAlert:
    """What a channel needs to know about a failed run: which run, why, and where to look."""

    job: str
    run_id: str
    errors: tuple[str, ...]
    run_url: str | None = None

    def text(self) -> str:
        reasons = "\n".join(f"- {error}" for error in self.errors) or "- (no step error was recorded)"
        link = f"\n{self.run_url}" if self.run_url else ""
        text = f"Partner Center sync failed: job {self.job}, run {self.run_id}{link}\n{reasons}"
        return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"

    def payload(self) -> dict[str, object]:
        return {
            "text": self.text(),
            "job": self.job,
            "run_id": self.run_id,
            "run_url": self.run_url,
            "errors": list(self.errors),
        }


def run_url(ui_url: str | None, run_id: str) -> str | None:
    """The run's page in the Dagster UI at ``ui_url`` (its base address), if one is configured."""
    if not ui_url:
        return None
    parts = urlsplit(ui_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{DAGSTER_UI_VARIABLE} must be the http(s) address of the Dagster UI, got {ui_url!r}"
        )
    return f"{ui_url.strip().rstrip('/')}/runs/{run_id}"


class _Retryable(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def post_alert(
    url: str,
    alert: FailureAlert,
    *,
    timeout: float = TIMEOUT_S,
    attempts: int = ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """POST ``alert``; retry timeouts, connection errors, 408, 429 and 5xx; return the final status."""
    target = check_webhook_url(url)

    @tenacity.retry(
        retry=tenacity.retry_if_exception_type((_Retryable, requests.ConnectionError, requests.Timeout)),
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_exponential(multiplier=0.5, max=5),
        sleep=sleep,
        reraise=True,
    )
    def send() -> int:
        response = requests.post(target, json=alert.payload(), timeout=timeout, allow_redirects=False)
        if response.status_code in _RETRIED_STATUSES:
            raise _Retryable(response.status_code)
        return response.status_code

    try:
        status = send()
    except _Retryable as exc:
        raise AlertDeliveryError(f"the alert webhook answered HTTP {exc.status} {attempts} times") from None
    except requests.RequestException as exc:
        raise AlertDeliveryError(
            f"the alert webhook could not be reached ({type(exc).__name__}) after {attempts} attempts"
        ) from None
    if status >= 300:
        raise AlertDeliveryError(f"the alert webhook refused the alert with HTTP {status}")
    return status
