"""The Microsoft identity platform endpoints MSAL uses, with one tenant, one app and one user.

Enough of Entra ID for MSAL to run unchanged: OpenID discovery, the v2 token endpoint (client
credentials, password, refresh token and device code grants), the device-code endpoint and user
realm discovery. Access tokens are opaque random strings remembered with their expiry, so the API
can refuse expired or unknown ones; refresh tokens rotate on every use and can all be revoked at once.
"""

from __future__ import annotations

import base64
import json
import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from partner_center_assets.emulator.replies import Reply, aad_error, json_reply

API_SCOPE = "https://api.partner.microsoft.com/.default"
USER_SCOPES = frozenset({"openid", "profile", "offline_access"})
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_TYPES = ("client_credentials", "password", "refresh_token", DEVICE_CODE_GRANT)
SHARED_TENANTS = frozenset({"organizations", "common"})
_USER_CODE_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class IdentityConfig:
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    username: str
    password: str = field(repr=False)
    access_token_lifetime: int = 3600
    device_code_interval: int = 1
    device_code_lifetime: int = 900


@dataclass(frozen=True)
class AccessGrant:
    """What an access token stands for: an app (client credentials) or the user."""

    kind: str  # "app" | "user"
    expires_at: float


@dataclass
class _RefreshGrant:
    generation: int
    scope: str


@dataclass
class _DeviceFlow:
    user_code: str
    scope: str
    expires_at: float
    polls: int = 0
    redeemed: bool = False


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _random_token(prefix: str) -> str:
    return f"{prefix}.{secrets.token_urlsafe(32)}"


class IdentityProvider:
    """Token issuing and checking; thread-safe."""

    def __init__(self, config: IdentityConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._access: dict[str, AccessGrant] = {}
        self._refresh: dict[str, _RefreshGrant] = {}
        self._refresh_generation = 0
        self._devices: dict[str, _DeviceFlow] = {}
        self.user_object_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"user:{config.username.lower()}"))

    # --- administration -------------------------------------------------------------------------

    def expire_access_tokens(self) -> None:
        with self._lock:
            self._access = {token: AccessGrant(grant.kind, 0.0) for token, grant in self._access.items()}

    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            self._refresh_generation += 1

    def issue_refresh_token(self) -> str:
        """A refresh token for the user, as a consent done elsewhere would leave behind."""
        return self._new_refresh_token(" ".join([API_SCOPE, *sorted(USER_SCOPES)]))

    # --- API side -------------------------------------------------------------------------------

    def check_bearer(self, authorization: str | None) -> tuple[AccessGrant | None, str]:
        """(grant, "") for a valid bearer token, else (None, reason) with a reason safe to show."""
        if not authorization:
            return None, "The request has no Authorization header."
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None, "The Authorization header must hold a Bearer token."
        with self._lock:
            grant = self._access.get(token.strip())
        if grant is None:
            return None, "The access token is not valid."
        if grant.expires_at <= self._clock():
            return None, "The access token has expired."
        return grant, ""

    # --- identity endpoints ---------------------------------------------------------------------

    def accepts_tenant(self, tenant: str) -> bool:
        return tenant.lower() in SHARED_TENANTS or tenant.lower() == self.config.tenant_id.lower()

    def unknown_tenant(self, tenant: str, correlation_id: str | None) -> Reply:
        return aad_error(
            400,
            "invalid_tenant",
            90002,
            f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID.",
            correlation_id=correlation_id,
        )

    def openid_configuration(self, tenant: str, authority_host: str) -> Reply:
        base = f"{authority_host}/{tenant}"
        return json_reply(
            200,
            {
                "issuer": f"{authority_host}/{self.config.tenant_id}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
                "response_modes_supported": ["query", "fragment", "form_post"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "claims_supported": [
                    "sub",
                    "iss",
                    "aud",
                    "exp",
                    "iat",
                    "nbf",
                    "oid",
                    "tid",
                    "preferred_username",
                ],
                "tenant_region_scope": None,
                "cloud_instance_name": "microsoftonline.com",
                "request_uri_parameter_supported": False,
            },
        )

    def user_realm(self, user: str) -> Reply:
        domain = user.rpartition("@")[2]
        return json_reply(
            200,
            {
                "ver": "1.0",
                "account_type": "Managed",
                "domain_name": domain,
                "cloud_instance_name": "microsoftonline.com",
                "cloud_audience_urn": "urn:federation:MicrosoftOnline",
            },
        )

    def device_code(self, form: Mapping[str, str], authority_host: str, correlation_id: str | None) -> Reply:
        problem = self._check_client_id(form, correlation_id)
        if problem:
            return problem
        scope = form.get("scope", "")
        problem = self._check_scope(scope, user=True, correlation_id=correlation_id)
        if problem:
            return problem
        device_code = _random_token("dc")
        user_code = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(9))
        lifetime = self.config.device_code_lifetime
        with self._lock:
            self._devices[device_code] = _DeviceFlow(user_code, scope, self._clock() + lifetime)
        verification_uri = f"{authority_host}/devicelogin"
        return json_reply(
            200,
            {
                "user_code": user_code,
                "device_code": device_code,
                "verification_uri": verification_uri,
                "expires_in": lifetime,
                "interval": self.config.device_code_interval,
                "message": (
                    f"To sign in, use a web browser to open the page {verification_uri} and enter the code "
                    f"{user_code} to authenticate."
                ),
            },
        )

    def token(self, form: Mapping[str, str], authority_host: str, correlation_id: str | None) -> Reply:
        grant_type = form.get("grant_type", "")
        if grant_type not in GRANT_TYPES:
            return aad_error(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant_type}'.",
                correlation_id=correlation_id,
            )
        problem = self._check_client_id(form, correlation_id)
        if problem:
            return problem
        problem = self._check_secret(
            form, required=grant_type == "client_credentials", correlation_id=correlation_id
        )
        if problem:
            return problem
        if grant_type == "client_credentials":
            problem = self._check_scope(form.get("scope", ""), user=False, correlation_id=correlation_id)
            if problem:
                return problem
            token = self._new_access_token("app")
            lifetime = self.config.access_token_lifetime
            return json_reply(
                200,
                {
                    "token_type": "Bearer",
                    "expires_in": lifetime,
                    "ext_expires_in": lifetime,
                    "access_token": token,
                },
            )
        if grant_type == "password":
            return self._password_grant(form, authority_host, correlation_id)
        if grant_type == "refresh_token":
            return self._refresh_grant(form, authority_host, correlation_id)
        return self._device_grant(form, authority_host, correlation_id)

    # --- grants ---------------------------------------------------------------------------------

    def _password_grant(
        self, form: Mapping[str, str], authority_host: str, correlation_id: str | None
    ) -> Reply:
        scope = form.get("scope", "")
        problem = self._check_scope(scope, user=True, correlation_id=correlation_id)
        if problem:
            return problem
        username = form.get("username", "")
        password = form.get("password", "")
        if username.lower() != self.config.username.lower() or not secrets.compare_digest(
            password.encode("utf-8"), self.config.password.encode("utf-8")
        ):
            return aad_error(
                400,
                "invalid_grant",
                50126,
                "Error validating credentials due to invalid username or password.",
                correlation_id=correlation_id,
            )
        return self._user_tokens(scope, authority_host)

    def _refresh_grant(
        self, form: Mapping[str, str], authority_host: str, correlation_id: str | None
    ) -> Reply:
        presented = form.get("refresh_token", "")
        with self._lock:
            grant = self._refresh.get(presented)
            generation = self._refresh_generation
        if grant is None:
            return aad_error(
                400,
                "invalid_grant",
                9002313,
                "Invalid request. Request is malformed or invalid. The refresh token is not recognised.",
                correlation_id=correlation_id,
            )
        if grant.generation < generation:
            return aad_error(
                400,
                "invalid_grant",
                50173,
                "The provided grant has expired due to it being revoked, a fresh auth token is needed. "
                "The user might have changed or reset their password.",
                correlation_id=correlation_id,
            )
        scope = form.get("scope") or grant.scope
        problem = self._check_scope(scope, user=True, correlation_id=correlation_id)
        if problem:
            return problem
        return self._user_tokens(scope, authority_host)

    def _device_grant(
        self, form: Mapping[str, str], authority_host: str, correlation_id: str | None
    ) -> Reply:
        device_code = form.get("device_code", "")
        with self._lock:
            flow = self._devices.get(device_code)
            if flow is not None:
                flow.polls += 1
        if flow is None or flow.redeemed:
            return aad_error(
                400,
                "invalid_grant",
                70000,
                "The provided value for the 'device_code' parameter is not valid.",
                correlation_id=correlation_id,
            )
        if flow.expires_at <= self._clock():
            return aad_error(
                400, "expired_token", 70019, "Verification code expired.", correlation_id=correlation_id
            )
        if flow.polls == 1:
            return aad_error(
                400,
                "authorization_pending",
                70016,
                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                correlation_id=correlation_id,
            )
        with self._lock:
            flow.redeemed = True
        return self._user_tokens(form.get("scope") or flow.scope, authority_host)

    # --- helpers --------------------------------------------------------------------------------

    def _check_client_id(self, form: Mapping[str, str], correlation_id: str | None) -> Reply | None:
        client_id = form.get("client_id", "")
        if client_id == self.config.client_id:
            return None
        return aad_error(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory "
            f"'{self.config.tenant_id}'.",
            correlation_id=correlation_id,
        )

    def _check_secret(
        self, form: Mapping[str, str], *, required: bool, correlation_id: str | None
    ) -> Reply | None:
        secret = form.get("client_secret")
        if secret is None:
            if not required:
                return None
            return aad_error(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: "
                "'client_assertion' or 'client_secret'.",
                correlation_id=correlation_id,
            )
        if secrets.compare_digest(secret.encode("utf-8"), self.config.client_secret.encode("utf-8")):
            return None
        return aad_error(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client "
            f"secret value, not the client secret ID, for a secret added to app '{self.config.client_id}'.",
            correlation_id=correlation_id,
        )

    def _check_scope(self, scope: str, *, user: bool, correlation_id: str | None) -> Reply | None:
        scopes = set(scope.split())
        allowed_extra = USER_SCOPES if user else frozenset()
        if API_SCOPE in scopes and scopes - {API_SCOPE} <= allowed_extra:
            return None
        if not scopes:
            description = "The provided request must include a 'scope' input parameter."
        else:
            description = (
                f"The provided value for the input parameter 'scope' is not valid. Expected '{API_SCOPE}'"
                + (" (with openid, profile, offline_access)." if user else " alone for client credentials.")
            )
        return aad_error(400, "invalid_scope", 70011, description, correlation_id=correlation_id)

    def _new_access_token(self, kind: str) -> str:
        token = _random_token("at")
        with self._lock:
            self._access[token] = AccessGrant(kind, self._clock() + self.config.access_token_lifetime)
        return token

    def _new_refresh_token(self, scope: str) -> str:
        token = _random_token("rt")
        with self._lock:
            self._refresh[token] = _RefreshGrant(self._refresh_generation, scope)
        return token

    def _user_tokens(self, scope: str, authority_host: str) -> Reply:
        config = self.config
        now = int(self._clock())
        lifetime = config.access_token_lifetime
        claims = {
            "aud": config.client_id,
            "iss": f"{authority_host}/{config.tenant_id}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "name": "Emulator Seller",
            "oid": self.user_object_id,
            "preferred_username": config.username,
            "sub": _b64url(uuid.uuid5(uuid.NAMESPACE_URL, f"sub:{config.username.lower()}").bytes),
            "tid": config.tenant_id,
            "ver": "2.0",
        }
        header = _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        id_token = f"{header}.{_b64url(json.dumps(claims).encode())}."
        client_info = _b64url(json.dumps({"uid": self.user_object_id, "utid": config.tenant_id}).encode())
        return json_reply(
            200,
            {
                "token_type": "Bearer",
                "scope": API_SCOPE,
                "expires_in": lifetime,
                "ext_expires_in": lifetime,
                "access_token": self._new_access_token("user"),
                "refresh_token": self._new_refresh_token(scope),
                "id_token": id_token,
                "client_info": client_info,
            },
        )
