"""The MSAL token cache file: readable by its owner only and, with a key, encrypted at rest.

The cache holds a refresh token that signs in to Partner Center for 90 days, so a copy of the file (a
backup, a shared volume) is a copy of the sign-in. With ``HUNTER_PARTNER_CENTER_TOKEN_CACHE_KEY`` set
(one Fernet key, or several separated by commas to rotate: the first encrypts, any of them decrypts),
the file holds only ciphertext. A cache that cannot be read (not JSON, encrypted with another key, or
encrypted while no key is set) is set aside with a warning, like a refused one: the next sign-in
method replaces it, and when there is none the error says why the cache could not be used.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

import msal
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from partner_center_assets.settings import TOKEN_CACHE_KEY_VARIABLE, cache_keys

_FERNET_PREFIX = b"gAAAAA"
"""Every Fernet token starts with its version byte 0x80 and a timestamp: base64 ``gAAAAA``."""


def new_cache_key() -> str:
    return Fernet.generate_key().decode("ascii")


class TokenCacheFile:
    """The MSAL token cache, persisted as (optionally encrypted) JSON readable by its owner only."""

    def __init__(self, path: Path | None, logger: logging.Logger, key: str | None = None) -> None:
        self.path = path
        self._logger = logger
        keys = cache_keys(key)
        self._cipher = MultiFernet([Fernet(k) for k in keys]) if keys else None
        """The first key encrypts; any of them decrypts."""
        self._rotating = len(keys) > 1
        self._rewrite = False
        self.problem: str | None = None
        """Why the file on disk was set aside, if it was."""

    def load(self) -> msal.SerializableTokenCache:
        cache = msal.SerializableTokenCache()
        if self.path is None or not self.path.exists():
            return cache
        mode = self.path.stat().st_mode & 0o777
        if mode & 0o077:
            self._logger.warning(
                "Token cache %s is readable by others (mode %o); it will be rewritten with mode 600",
                self.path,
                mode,
            )
            self._rewrite = True
        data = self.path.read_bytes()
        text = self._plaintext(data)
        if text is None:
            return msal.SerializableTokenCache()
        try:
            cache.deserialize(text)
        except ValueError:
            return self._set_aside("is not valid JSON")
        return cache

    def _plaintext(self, data: bytes) -> str | None:
        if data.lstrip().startswith(_FERNET_PREFIX):
            if self._cipher is None:
                self._set_aside(f"is encrypted and {TOKEN_CACHE_KEY_VARIABLE} is not set")
                return None
            try:
                data = self._cipher.decrypt(data.strip())
            except InvalidToken:
                self._set_aside(
                    f"cannot be decrypted with {TOKEN_CACHE_KEY_VARIABLE} "
                    "(another key wrote it, or it is damaged)"
                )
                return None
            self._rewrite = self._rewrite or self._rotating
        elif self._cipher is not None:
            self._logger.info("Token cache %s is not encrypted yet; it is encrypted when saved", self.path)
            self._rewrite = True
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            self._set_aside("is not valid JSON")
            return None

    def _set_aside(self, why: str) -> msal.SerializableTokenCache:
        """Ignore the file; it stays on disk until a sign-in has new tokens to replace it with."""
        self.problem = f"the token cache {self.path} {why}"
        self._rewrite = False
        self._logger.warning("Token cache %s %s; ignoring it", self.path, why)
        return msal.SerializableTokenCache()

    def save(self, cache: msal.SerializableTokenCache, *, force: bool = False) -> None:
        """Write the cache if it changed: a temp file created with mode 0600, then ``os.replace``.

        A file that was set aside is replaced only by a user sign-in (a refresh token) or by
        ``force`` (``partner-center login``): an app-only token would otherwise overwrite a sign-in
        that the right ``TOKEN_CACHE_KEY`` can still read.
        """
        if self.path is None or not (force or self._rewrite or cache.has_state_changed):
            return
        if (
            self.problem is not None
            and not force
            and not cache.find(msal.TokenCache.CredentialType.REFRESH_TOKEN)
        ):
            self._logger.info("Token cache %s left as it is: this sign-in has no refresh token", self.path)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = cache.serialize().encode("utf-8")
        if self._cipher is not None:
            body = self._cipher.encrypt(body)
        temp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        cache.has_state_changed = False
        self._rewrite = False
        self.problem = None
