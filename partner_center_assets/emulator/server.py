"""The ``Emulator``: one HTTPS server on loopback playing both Partner Center and Entra ID.

It runs werkzeug's threaded server in a background thread. Werkzeug's own request loop closes the
connection after every response, so requests are answered by a small keep-alive handler instead:
a client session then reuses its TLS connection, as it would against the real service, and paging
speed is not dominated by handshakes. Every request is logged (never with a credential) and kept in
``Emulator.requests`` for tests; ``/_emulator/...`` endpoints let another process drive the same
controls as the Python API.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import ipaddress
import json
import logging
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, quote

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request

from partner_center_assets.emulator.api import LIST_PATH, ReferralsApi
from partner_center_assets.emulator.faults import Fault, FaultQueue
from partner_center_assets.emulator.generator import iter_referrals
from partner_center_assets.emulator.identity import IdentityConfig, IdentityProvider
from partner_center_assets.emulator.replies import Reply, aad_error, api_error, json_reply, throttled
from partner_center_assets.emulator.request_log import (
    RequestLog,
    RequestRecord,
    redact_authorization,
    redact_query,
)
from partner_center_assets.emulator.store import RawReferral, ReferralStore
from partner_center_assets.emulator.tls import server_tls
from partner_center_assets.settings import PREFIX

logger = logging.getLogger("partner_center_assets.emulator")

ADMIN_PREFIX = "/_emulator/"
_DROP_KEY = "partner_center_assets.emulator.drop"
_KEEP_ALIVE_SECONDS = 120
_LOG_SAFE = "$'(),/:;@*!~ "
_MALFORMED_BODY = (
    b'{"@odata.context":"https://api.partner.microsoft.com/v1.0/$metadata#Referrals","value":[{"id":"'
)

StartResponse = Callable[..., Any]


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _public_host(host: str) -> str:
    """The name clients use: a wildcard bind address is reached through 127.0.0.1."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.is_unspecified:
        return "127.0.0.1" if address.version == 4 else "[::1]"
    return f"[{host}]" if address.version == 6 else host


class _KeepAliveHandler(WSGIRequestHandler):
    """HTTP/1.1 keep-alive request handling for responses that always carry Content-Length."""

    protocol_version = "HTTP/1.1"
    timeout = _KEEP_ALIVE_SECONDS
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        connections: set[socket.socket] | None = getattr(self.server, "open_connections", None)
        if connections is not None:
            connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            connections: set[socket.socket] | None = getattr(self.server, "open_connections", None)
            if connections is not None:
                connections.discard(self.connection)

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.make_environ()
        if environ.get("wsgi.input_terminated"):
            body = environ["wsgi.input"].read()
        else:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = self.rfile.read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("wsgi.input_terminated", None)

        response: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            response[:] = [status, headers]
            return None

        result = self.server.app(environ, start_response)
        try:
            payload = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if environ.get(_DROP_KEY):
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        status, headers = response
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        for key, value in headers:
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """The application logs each request itself, with its request-id and without credentials."""

    def log_error(self, format: str, *args: Any) -> None:
        logger.debug("connection %s: " + format, self.client_address, *args)


class Emulator:
    """Partner Center Referrals API and Entra ID token endpoints on one local HTTPS server."""

    def __init__(
        self,
        referrals: list[dict[str, Any]] | None = None,
        *,
        count: int = 250,
        seed: int = 7,
        host: str = "127.0.0.1",
        port: int = 0,
        tenant_id: str = "emulator-tenant",
        client_id: str = "emulator-client",
        client_secret: str = "emulator-secret",
        username: str = "seller@partner.example",
        password: str = "emulator-password",
        max_page_size: int = 100,
        access_token_lifetime: int = 3600,
        next_link_style: str = "absolute",
        state_dir: str | Path | None = None,
        device_code_interval: int = 1,
    ) -> None:
        self.host = host
        self.port = port
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.username = username
        self.password = password
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self._owns_state_dir = False
        self.store = ReferralStore()
        self.store.replace(referrals if referrals is not None else iter_referrals(count, seed))
        self.api = ReferralsApi(self.store, max_page_size=max_page_size, next_link_style=next_link_style)
        self.identity = IdentityProvider(
            IdentityConfig(
                tenant_id=tenant_id,
                client_id=client_id,
                client_secret=client_secret,
                username=username,
                password=password,
                access_token_lifetime=access_token_lifetime,
                device_code_interval=device_code_interval,
            )
        )
        self.faults = FaultQueue()
        self._log = RequestLog()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.ca_path: Path | None = None

    def __repr__(self) -> str:
        where = self.base_url if self._server is not None else "not started"
        return f"<Emulator {where} referrals={len(self.store)}>"

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Emulator:
        if self._server is not None:
            return self
        if self.state_dir is None:
            self.state_dir = Path(tempfile.mkdtemp(prefix="partner-center-emulator-"))
            self._owns_state_dir = True
        tls = server_tls(self.state_dir, self.host)
        self.ca_path = tls.ca_path
        server = make_server(
            self.host,
            self.port,
            self._wsgi,
            threaded=True,
            request_handler=_KeepAliveHandler,
            ssl_context=tls.context,
        )
        # The TLS handshake then runs in the connection's thread, not in the accept loop.
        server.socket.do_handshake_on_connect = False  # type: ignore[attr-defined]
        server.open_connections = set()  # type: ignore[attr-defined]
        server.handle_error = self._handle_server_error  # type: ignore[method-assign]
        self._server = server
        self.port = server.server_port
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="partner-center-emulator",
            daemon=True,
        )
        self._thread.start()
        logger.info("Partner Center emulator listening on %s (CA %s)", self.base_url, self.ca_path)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        for connection in list(getattr(server, "open_connections", ())):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._owns_state_dir and self.state_dir is not None:
            shutil.rmtree(self.state_dir, ignore_errors=True)
            self.state_dir = None
            self._owns_state_dir = False
        logger.info("Partner Center emulator stopped")

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @staticmethod
    def _handle_server_error(request: Any, client_address: Any) -> None:
        logger.debug("connection from %s ended with an error", client_address, exc_info=True)

    # --- addresses ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"https://{_public_host(self.host)}:{self.port}"

    @property
    def authority_host(self) -> str:
        return self.base_url

    @property
    def authority(self) -> str:
        return f"{self.authority_host}/{self.tenant_id}"

    # --- data -----------------------------------------------------------------------------------

    def set_referrals(self, referrals: Iterable[dict[str, Any] | RawReferral]) -> None:
        self.store.replace(referrals)

    def upsert_referrals(self, referrals: Iterable[dict[str, Any] | RawReferral]) -> None:
        self.store.upsert(referrals)

    def generate(self, count: int, seed: int = 7) -> None:
        """Replace the referrals with generated ones, without holding them all as dicts."""
        self.store.replace(iter_referrals(count, seed))

    @property
    def referrals(self) -> list[dict[str, Any]]:
        return self.store.all()

    # --- faults and tokens ----------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        self.faults.add(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    def expire_access_tokens(self) -> None:
        self.identity.expire_access_tokens()

    def revoke_refresh_tokens(self) -> None:
        self.identity.revoke_refresh_tokens()

    def product_environment(self) -> dict[str, str]:
        """The ``HUNTER_PARTNER_CENTER_*`` variables that point the product at this emulator."""
        values = {
            "BASE_URL": self.base_url,
            "AUTHORITY_HOST": self.authority_host,
            "TENANT_ID": self.tenant_id,
            "CLIENT_ID": self.client_id,
            "CLIENT_SECRET": self.client_secret,
            "USERNAME": self.username,
            "PASSWORD": self.password,
            "CA_BUNDLE": str(self.ca_path),
        }
        return {PREFIX + name: value for name, value in values.items()}

    def issue_refresh_token(self) -> str:
        return self.identity.issue_refresh_token()

    # --- request log ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        return self._log.records()

    def api_requests(self) -> list[RequestRecord]:
        return [record for record in self._log.records() if record.is_api]

    def reset_log(self) -> None:
        self._log.clear()

    # --- WSGI -----------------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started, wall = time.perf_counter(), time.time()
        request = Request(environ)
        request_id = str(uuid.uuid4())
        client_request_id = request.headers.get("client-request-id")
        query = dict(parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True))
        path = request.path
        if path.startswith(ADMIN_PREFIX):
            try:
                reply = self._admin(request)
            except Exception:
                logger.exception("admin request %s %s failed", request.method, path)
                reply = json_reply(500, {"error": "internal error; see the emulator log"})
            self._log_line(request.method, path, query, reply.status, request_id, client_request_id, None)
            return self._respond(start_response, reply, request_id, client_request_id)

        grant_type: str | None = None
        form: dict[str, str] = {}
        if request.method == "POST":
            form = request.form.to_dict()
            grant_type = form.get("grant_type") if path.endswith("/oauth2/v2.0/token") else None
        context: dict[str, Any] = {"token_kind": None}
        fault = self.faults.claim(path)
        try:
            if fault is not None and fault.kind == "drop":
                environ[_DROP_KEY] = True
                reply = None
            else:
                if fault is not None and fault.kind == "slow":
                    time.sleep(fault.delay)
                reply = self._faulted(fault, path, client_request_id)
                if reply is None:
                    reply = self._route(request, path, query, form, client_request_id, context)
                if fault is not None and fault.kind == "malformed":
                    truncated = reply.body[: len(reply.body) // 2] if len(reply.body) > 2 else _MALFORMED_BODY
                    reply = Reply(200, truncated)
        except Exception:
            logger.exception("request %s %s failed", request.method, path)
            reply = api_error(500, "generalException", "The emulator failed to answer; see its log.")
        status = reply.status if reply is not None else None
        record = RequestRecord(
            method=request.method,
            path=path,
            query=redact_query(query),
            status=status,
            request_id=request_id,
            client_request_id=client_request_id,
            authorization=redact_authorization(request.headers.get("Authorization")),
            grant_type=grant_type,
            token_kind=context["token_kind"],
            fault=fault.kind if fault is not None else None,
            started_at=wall,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )
        self._log.append(record)
        self._log_line(request.method, path, query, status, request_id, client_request_id, record)
        if reply is None:
            start_response("500 Internal Server Error", [("Content-Length", "0")])
            return [b""]
        return self._respond(start_response, reply, request_id, client_request_id)

    @staticmethod
    def _respond(
        start_response: StartResponse, reply: Reply, request_id: str, client_request_id: str | None
    ) -> Iterable[bytes]:
        headers = [
            ("Content-Type", reply.content_type),
            ("Content-Length", str(len(reply.body))),
            ("request-id", request_id),
        ]
        if client_request_id:
            headers.append(("client-request-id", client_request_id))
        headers.extend(reply.headers)
        try:
            phrase = HTTPStatus(reply.status).phrase
        except ValueError:
            phrase = "Unknown"
        start_response(f"{reply.status} {phrase}", headers)
        return [reply.body]

    @staticmethod
    def _log_line(
        method: str,
        path: str,
        query: dict[str, str],
        status: int | None,
        request_id: str,
        client_request_id: str | None,
        record: RequestRecord | None,
    ) -> None:
        shown = redact_query(query)
        target = path + (
            "?" + "&".join(f"{key}={quote(value, safe=_LOG_SAFE)}" for key, value in shown.items())
            if shown
            else ""
        )
        extra = ""
        if record is not None:
            if record.grant_type:
                extra += f" grant_type={record.grant_type}"
            if record.token_kind:
                extra += f" token_kind={record.token_kind}"
            if record.fault:
                extra += f" fault={record.fault}"
        logger.info(
            "%s %s -> %s request-id=%s client-request-id=%s%s",
            method,
            target,
            status if status is not None else "dropped",
            request_id,
            client_request_id or "-",
            extra,
        )

    def _faulted(self, fault: Fault | None, path: str, correlation_id: str | None) -> Reply | None:
        if fault is None or fault.kind in ("slow", "malformed"):
            return None
        identity_path = not (path == LIST_PATH or path.startswith(LIST_PATH + "/"))
        if fault.kind == "status":
            status = fault.status or 500
            headers = [("Retry-After", str(fault.retry_after))] if fault.retry_after is not None else []
            if status == 429 and not identity_path:
                return throttled(fault.retry_after)
            if identity_path:
                error = "temporarily_unavailable" if status >= 500 or status == 429 else "invalid_request"
                return aad_error(
                    status,
                    error,
                    50196,
                    "The server is busy; try again.",
                    headers=headers,
                    correlation_id=correlation_id,
                )
            code = "serviceNotAvailable" if status in (502, 503, 504) else "generalException"
            return api_error(status, code, f"Injected failure with status {status}.", headers=headers)
        if identity_path:
            return aad_error(
                400,
                "invalid_grant",
                700082,
                "The refresh token has expired due to inactivity.",
                correlation_id=correlation_id,
            )
        return self._unauthenticated("The access token has expired.")

    @staticmethod
    def _unauthenticated(message: str) -> Reply:
        return api_error(
            401,
            "unauthenticated",
            message,
            headers=[
                ("WWW-Authenticate", 'Bearer authorization_uri="https://login.microsoftonline.com/common"')
            ],
        )

    def _route(
        self,
        request: Request,
        path: str,
        query: dict[str, str],
        form: dict[str, str],
        correlation_id: str | None,
        context: dict[str, Any],
    ) -> Reply:
        host = request.host or f"{_public_host(self.host)}:{self.port}"
        authority_host = f"https://{host}"
        method = request.method
        if path == LIST_PATH or path.startswith(LIST_PATH + "/"):
            if method != "GET":
                return api_error(
                    405,
                    "invalidRequest",
                    f"{method} is not supported by the emulator.",
                    headers=[("Allow", "GET")],
                )
            grant, problem = self.identity.check_bearer(request.headers.get("Authorization"))
            if grant is None:
                return self._unauthenticated(problem)
            context["token_kind"] = grant.kind
            rest = path[len(LIST_PATH) :].strip("/")
            if not rest:
                return self.api.list_referrals(query, host)
            if "/" in rest:
                return api_error(404, "itemNotFound", f"No resource at {path}.")
            return self.api.get_referral(rest, host)
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "common" and parts[1] == "userrealm" and method == "GET":
            return self.identity.user_realm(parts[2])
        if parts == ["devicelogin"]:
            return Reply(
                200,
                b"The emulator approves device codes by itself: keep the client polling.\n",
                content_type="text/plain; charset=utf-8",
            )
        if len(parts) >= 3 and self._is_identity_path(parts):
            tenant = parts[0]
            if not self.identity.accepts_tenant(tenant):
                return self.identity.unknown_tenant(tenant, correlation_id)
            endpoint = "/".join(parts[1:])
            if endpoint == "v2.0/.well-known/openid-configuration" and method == "GET":
                return self.identity.openid_configuration(tenant, authority_host)
            if endpoint == "oauth2/v2.0/token" and method == "POST":
                return self.identity.token(
                    self._with_basic_auth(request, form), authority_host, correlation_id
                )
            if endpoint == "oauth2/v2.0/devicecode" and method == "POST":
                return self.identity.device_code(form, authority_host, correlation_id)
            return aad_error(
                400,
                "invalid_request",
                900561,
                f"The endpoint only accepts {'POST' if endpoint.startswith('oauth2') else 'GET'} requests, "
                "or it is not emulated.",
                correlation_id=correlation_id,
            )
        return api_error(404, "itemNotFound", f"No resource at {path}.")

    @staticmethod
    def _is_identity_path(parts: list[str]) -> bool:
        return parts[1] in ("oauth2", "v2.0")

    @staticmethod
    def _with_basic_auth(request: Request, form: dict[str, str]) -> dict[str, str]:
        """Accept client_secret_basic as well as client_secret_post."""
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            return form
        try:
            decoded = base64.b64decode(header[6:].strip()).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return form
        client_id, _, secret = decoded.partition(":")
        return {**form, "client_id": client_id, "client_secret": secret}

    # --- admin ----------------------------------------------------------------------------------

    def _admin(self, request: Request) -> Reply:
        if not _is_loopback(request.remote_addr or ""):
            return json_reply(403, {"error": "the admin endpoints answer loopback clients only"})
        endpoint = request.path[len(ADMIN_PREFIX) :].strip("/")
        method = request.method
        try:
            payload: Any = json.loads(request.get_data() or b"null") if method in ("PUT", "POST") else None
        except ValueError as exc:
            return json_reply(400, {"error": f"the body is not JSON: {exc}"})
        try:
            return self._admin_action(method, endpoint, payload)
        except (ValueError, TypeError) as exc:
            return json_reply(400, {"error": str(exc)})

    def _admin_action(self, method: str, endpoint: str, payload: Any) -> Reply:
        if endpoint == "referrals" and method in ("PUT", "POST"):
            if isinstance(payload, dict) and isinstance(payload.get("value"), list):
                payload = payload["value"]
            if not isinstance(payload, list):
                raise ValueError("expected a JSON list of referrals (or an object with 'value')")
            if method == "PUT":
                self.set_referrals(payload)
            else:
                self.upsert_referrals(payload)
            return json_reply(200, {"count": len(self.store), "received": len(payload)})
        if endpoint == "generate" and method == "POST":
            options = payload if isinstance(payload, dict) else {}
            self.generate(int(options.get("count", 250)), int(options.get("seed", 7)))
            return json_reply(200, {"count": len(self.store)})
        if endpoint == "faults" and method == "POST":
            items = payload if isinstance(payload, list) else [payload]
            for item in items:
                if not isinstance(item, dict):
                    raise ValueError("a fault is a JSON object with at least 'kind'")
                self.add_fault(Fault.from_dict(item))
            return json_reply(201, {"faults": self.faults.pending()})
        if endpoint == "faults" and method == "DELETE":
            self.clear_faults()
            return json_reply(200, {"faults": []})
        if endpoint == "faults" and method == "GET":
            return json_reply(200, {"faults": self.faults.pending()})
        if endpoint == "requests" and method == "GET":
            return json_reply(200, [record.to_dict() for record in self.requests])
        if endpoint == "requests" and method == "DELETE":
            self.reset_log()
            return json_reply(200, {"requests": 0})
        if endpoint == "tokens/expire" and method == "POST":
            self.expire_access_tokens()
            return json_reply(200, {"expired": True})
        if endpoint == "tokens/revoke-refresh" and method == "POST":
            self.revoke_refresh_tokens()
            return json_reply(200, {"revoked": True})
        if endpoint == "tokens/refresh-token" and method == "POST":
            return json_reply(200, {"refresh_token": self.issue_refresh_token()})
        if endpoint == "status" and method == "GET":
            return json_reply(
                200,
                {
                    "referrals": len(self.store),
                    "faults": len(self.faults.pending()),
                    "requests": len(self._log.records()),
                    "base_url": self.base_url,
                },
            )
        return json_reply(404, {"error": f"no admin endpoint {method} {ADMIN_PREFIX}{endpoint}"})
