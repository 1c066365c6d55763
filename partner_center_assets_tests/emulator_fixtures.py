"""Fixtures for tests that talk to the Partner Center emulator over HTTPS, with real MSAL.

Load with ``pytest_plugins = ["partner_center_assets_tests.emulator_fixtures"]`` and use only its
fixtures (importing the module first would bypass pytest's assertion rewriting). Also here: a
scripted loopback API for page shapes the emulator does not produce (an empty page that still links
on, a link that repeats, a link to another host, timestamps that do not parse), and a fake clock whose
``sleep`` only records, so retries and pacing cost no time and their waits can be asserted.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from partner_center_assets.client import PartnerCenterClient
from partner_center_assets.emulator import Emulator
from partner_center_assets.settings import Settings


@dataclass
class FakeTime:
    """A monotonic clock that advances only when something sleeps; every sleep is recorded."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def settings_for(emu: Emulator, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for ``emu`` with no sign-in method; tests add the one they exercise."""
    base = Settings(
        database_url=f"duckdb:///{tmp_path / 'hunter.duckdb'}",
        base_url=emu.base_url,
        authority_host=emu.authority_host,
        tenant_id=emu.tenant_id,
        client_id=emu.client_id,
        token_cache_path=str(tmp_path / "token_cache.json"),
        ca_bundle=str(emu.ca_path),
        requests_per_minute=0,
    )
    return replace(base, **overrides)


@pytest.fixture
def emulator_settings(tmp_path: Path) -> Callable[..., Settings]:
    """``emulator_settings(emu, **overrides)``: settings for ``emu``, no sign-in method configured."""
    return lambda emu, **overrides: settings_for(emu, tmp_path, **overrides)


@pytest.fixture
def password_settings(tmp_path: Path) -> Callable[..., Settings]:
    """``password_settings(emu, **overrides)``: settings signing in with the emulator's user."""
    return lambda emu, **overrides: settings_for(
        emu, tmp_path, **{"username": emu.username, "password": emu.password, **overrides}
    )


@pytest.fixture
def start_emulator() -> Iterator[Callable[..., Emulator]]:
    """Start an emulator with the given options; all are stopped after the test."""
    started: list[Emulator] = []

    def start(**options: Any) -> Emulator:
        options.setdefault("count", 250)
        options.setdefault("seed", 7)
        options.setdefault("max_page_size", 100)
        emu = Emulator(**options)
        emu.__enter__()
        started.append(emu)
        return emu

    yield start
    for emu in reversed(started):
        emu.__exit__(None, None, None)


@pytest.fixture
def emulator(start_emulator: Callable[..., Emulator]) -> Emulator:
    """250 referrals served 100 per page at most."""
    return start_emulator()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def open_client(fake_time: FakeTime) -> Iterator[Callable[..., PartnerCenterClient]]:
    """``open_client(settings, **options)``: a client whose sleeps are recorded, closed after the test."""
    opened: list[PartnerCenterClient] = []

    def open_(settings: Settings, **options: Any) -> PartnerCenterClient:
        options.setdefault("sleep", fake_time.sleep)
        options.setdefault("clock", fake_time.clock)
        options.setdefault("backoff_base", 0.01)
        client = PartnerCenterClient.from_settings(settings, **options)
        opened.append(client)
        return client

    yield open_
    for client in opened:
        client.close()


@dataclass
class ScriptedRequest:
    target: str
    authorization: str | None
    accept: str | None
    client_request_id: str | None


class ScriptedApi:
    """A plain-HTTP loopback API answering each request target from a script of JSON bodies.

    A request is answered by the body registered for its exact target (path and query), else by the
    one registered for its path alone, else 404. Every request is recorded.
    """

    def __init__(self) -> None:
        self.bodies: dict[str, Any] = {}
        self.requests: list[ScriptedRequest] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api.requests.append(
                    ScriptedRequest(
                        self.path,
                        self.headers.get("Authorization"),
                        self.headers.get("Accept"),
                        self.headers.get("client-request-id"),
                    )
                )
                path = self.path.split("?", 1)[0]
                body = api.bodies.get(self.path, api.bodies.get(path))
                status = 200 if body is not None else 404
                payload = json.dumps(body if body is not None else {"error": {"code": "itemNotFound"}})
                data = payload.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("request-id", f"scripted-{len(api.requests)}")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def page(self, target: str, records: list[Any], next_link: str | None = None) -> None:
        body: dict[str, Any] = {"value": records}
        if next_link is not None:
            body["@odata.nextLink"] = next_link
        self.bodies[target] = body

    def start(self) -> ScriptedApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def start_scripted_api() -> Iterator[Callable[[], ScriptedApi]]:
    started: list[ScriptedApi] = []

    def start() -> ScriptedApi:
        api = ScriptedApi().start()
        started.append(api)
        return api

    yield start
    for api in started:
        api.stop()
