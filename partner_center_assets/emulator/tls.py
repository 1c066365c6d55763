"""TLS for the emulator: a local CA (trustme) and a server certificate for the loopback names.

MSAL refuses plain-http authorities, so the emulator must speak HTTPS, and clients must trust its
CA. The CA is written to ``<state_dir>/ca.pem``; its key is kept beside it (mode 0600) so that
restarting the emulator with the same state directory keeps the CA that clients already trust.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

CA_FILENAME = "ca.pem"
CA_KEY_FILENAME = "ca-key.pem"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ServerTLS:
    context: ssl.SSLContext
    ca_path: Path


def _certificate_names(host: str) -> list[str]:
    names = list(LOOPBACK_NAMES)
    if host and host not in names:
        try:
            if not ipaddress.ip_address(host).is_unspecified:
                names.append(host)
        except ValueError:
            names.append(host)
    return names


def _load_or_create_ca(state_dir: Path) -> trustme.CA:
    cert_path, key_path = state_dir / CA_FILENAME, state_dir / CA_KEY_FILENAME
    if cert_path.is_file() and key_path.is_file():
        return trustme.CA.from_pem(cert_path.read_bytes(), key_path.read_bytes())
    ca = trustme.CA(organization_name="Partner Center Referrals Sync emulator")
    key_path.touch(mode=0o600, exist_ok=True)
    os.chmod(key_path, 0o600)
    ca.private_key_pem.write_to_path(str(key_path))
    ca.cert_pem.write_to_path(str(cert_path))
    return ca


def server_tls(state_dir: Path, host: str) -> ServerTLS:
    """An SSL context serving a fresh certificate for ``host`` and the loopback names."""
    state_dir.mkdir(parents=True, exist_ok=True)
    ca = _load_or_create_ca(state_dir)
    certificate = ca.issue_cert(*_certificate_names(host))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.set_alpn_protocols(["http/1.1"])
    certificate.configure_cert(context)
    return ServerTLS(context, state_dir / CA_FILENAME)
