"""Which company a referral is about: its customer's registrable domain (contract §5).

Everything here is offline and deterministic: the Public Suffix List is the snapshot bundled with
``tldextract`` (ICANN section only) and the consumer/disposable lists are pinned packages. Parsing
never raises on what the API sends; a value that is not a usable email or URL just yields nothing,
with a short ``detail`` saying why.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, Literal

import idna
import tldextract

from partner_center_assets.ingest.mail_lists import (
    CONSUMER_DOMAINS,
    CONSUMER_FAMILIES,
    DISPOSABLE_DOMAINS,
    MICROSOFT_DOMAINS,
    list_versions,
)

Kind = Literal["email", "url"]

SOURCE_CUSTOMER_TEAM = "customer_team"
SOURCE_CUSTOMER_IDS = "customer_ids"
SOURCE_WEBSITE = "website"
SOURCE_CUSTOMER_EMAIL = "customer_email"

RESOLVED = "resolved"
NO_CANDIDATES = "no_candidates"
INVALID_EMAIL = "invalid_email"
INVALID_URL = "invalid_url"
INVALID_HOST = "invalid_host"
IP_ADDRESS = "ip_address"
PUBLIC_SUFFIX = "public_suffix"
NO_PUBLIC_SUFFIX = "no_public_suffix"
CONSUMER_DOMAIN = "consumer_domain"
DISPOSABLE_DOMAIN = "disposable_domain"
MICROSOFT_DOMAIN = "microsoft_domain"
OWN_DOMAIN = "own_domain"
DETAILS: tuple[str, ...] = (
    RESOLVED,
    NO_CANDIDATES,
    INVALID_EMAIL,
    INVALID_URL,
    INVALID_HOST,
    IP_ADDRESS,
    PUBLIC_SUFFIX,
    NO_PUBLIC_SUFFIX,
    CONSUMER_DOMAIN,
    DISPOSABLE_DOMAIN,
    MICROSOFT_DOMAIN,
    OWN_DOMAIN,
)
"""Every ``DomainResolution.detail``, for counts that include zeros."""

MAX_VALUE_LENGTH = 2048
"""Longer strings are not emails or URLs anyone typed; they are rejected before any parsing."""
MAX_HOST_LENGTH = 253
CACHE_SIZE = 1 << 16
MAX_CACHED_LENGTH = 320
"""Only hosts up to this length are cached, so hostile input cannot fill memory through the cache."""

_INVALID = {"email": INVALID_EMAIL, "url": INVALID_URL}
_LIST_DETAILS = frozenset({CONSUMER_DOMAIN, DISPOSABLE_DOMAIN})
"""Rejections by the shipped lists, which ``allowed_domains`` can lift (``microsoft.com`` it cannot)."""
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]*://")
_AUTHORITY_END = re.compile(r"[/?#\\]")


@dataclass(frozen=True, slots=True)
class DomainResolution:
    """The domain chosen for a referral and the source that gave it, or why there is none."""

    domain: str | None
    source: str | None
    detail: str


class DomainResolver:
    """Applies §5 to referral payloads; holds the partner's own domains, which are never customers."""

    def __init__(
        self,
        own_domains: Iterable[str] = (),
        *,
        extra_consumer_domains: Iterable[str] = (),
        allowed_domains: Iterable[str] = (),
    ) -> None:
        self.own_domains: frozenset[str] = _configured_domains(own_domains)
        self.extra_consumer_domains: frozenset[str] = _configured_domains(extra_consumer_domains)
        self.allowed_domains: frozenset[str] = _configured_domains(allowed_domains)
        self.list_versions: dict[str, str] = {
            **list_versions(),
            "extra_consumer_domains": str(len(self.extra_consumer_domains)),
            "allowed_domains": str(len(self.allowed_domains)),
        }

    def resolve(self, record: Mapping[str, Any]) -> DomainResolution:
        """The first source that yields a domain wins; ``detail`` is the first rejection otherwise."""
        if not isinstance(record, Mapping):
            return DomainResolution(None, None, NO_CANDIDATES)
        customer = _mapping(record.get("customerProfile"))
        first_failure: str | None = None

        counts: dict[str, int] = {}
        for member in _as_list(customer.get("team")):
            if not isinstance(member, Mapping) or _absent(email := member.get("email")):
                continue
            domain, detail = self.explain(email, kind="email")
            if domain is not None:
                counts[domain] = counts.get(domain, 0) + 1
            elif first_failure is None:
                first_failure = detail
        if counts:
            return DomainResolution(max(counts, key=counts.__getitem__), SOURCE_CUSTOMER_TEAM, RESOLVED)

        for entry in _as_list(customer.get("ids")):
            if not isinstance(entry, Mapping) or not _is_external(entry.get("profileType")):
                continue
            if _absent(value := entry.get("id")):
                continue
            domain, detail = self.explain(value, kind=_kind_of_identifier(value))
            if domain is not None:
                return DomainResolution(domain, SOURCE_CUSTOMER_IDS, RESOLVED)
            first_failure = first_failure or detail

        legacy: tuple[tuple[str, object, Kind], ...] = (
            (SOURCE_WEBSITE, customer.get("website"), "url"),
            (SOURCE_WEBSITE, record.get("website"), "url"),
            (SOURCE_CUSTOMER_EMAIL, customer.get("email"), "email"),
        )
        for source, value, kind in legacy:
            if _absent(value):
                continue
            domain, detail = self.explain(value, kind=kind)
            if domain is not None:
                return DomainResolution(domain, source, RESOLVED)
            first_failure = first_failure or detail

        return DomainResolution(None, None, first_failure or NO_CANDIDATES)

    def host_to_domain(self, value: str, *, kind: Kind) -> str | None:
        """The registrable domain of an email or URL after every §5 rejection, or ``None``."""
        return self.explain(value, kind=kind)[0]

    def explain(self, value: object, *, kind: Kind) -> tuple[str | None, str]:
        """Like :meth:`host_to_domain`, with the reason (``resolved`` or why not)."""
        if kind not in _INVALID:
            raise ValueError(f"kind must be 'email' or 'url', got {kind!r}")
        if not isinstance(value, str) or len(value) > MAX_VALUE_LENGTH:
            return None, _INVALID[kind]
        domain, detail = _explain_value(value, kind)
        lifted = detail in _LIST_DETAILS and domain in self.allowed_domains
        if domain is None or (detail != RESOLVED and not lifted):
            return None, detail
        if domain in self.own_domains:
            return None, OWN_DOMAIN
        if domain in self.extra_consumer_domains:
            return None, CONSUMER_DOMAIN
        return domain, RESOLVED


def registrable_domain(host: str) -> str | None:
    """The ICANN registrable domain of a host (IDNA-encoded), with no list applied."""
    if not isinstance(host, str) or len(host) > MAX_VALUE_LENGTH:
        return None
    return _registrable(_lowercase(host.strip()))[0]


def email_host(value: str) -> str | None:
    """The host of an email: exactly one ``@``, a non-empty local part, no spaces or controls."""
    text = _prepared(value)
    if text is None or text.count("@") != 1:
        return None
    local, _, host = text.partition("@")
    return host if local and host else None


def url_host(value: str) -> str | None:
    """The host of a URL's network location (userinfo and port dropped); a bare ``host.tld`` counts.

    Spaces after the host (``https://contoso.com/about us``) leave the host as it is; a space in the
    host itself makes it invalid when the host is checked.
    """
    text = _prepared(value, spaces_inside=True)
    if text is None:
        return None
    scheme = _SCHEME.match(text)
    rest = text[scheme.end() :] if scheme else text.removeprefix("//")
    host = _AUTHORITY_END.split(rest, maxsplit=1)[0].rpartition("@")[2]
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    host = host.partition(":")[0]
    return host or None


def _explain_value(value: str, kind: Kind) -> tuple[str | None, str]:
    """(registrable domain, detail): the domain is kept when a list rejects it, for the overrides."""
    host = email_host(value) if kind == "email" else url_host(value)
    if host is None:
        return None, _INVALID[kind]
    return (_host_verdict if len(host) <= MAX_CACHED_LENGTH else _host_verdict.__wrapped__)(host)


@lru_cache(maxsize=CACHE_SIZE)
def _host_verdict(host: str) -> tuple[str | None, str]:
    """:func:`_explain_value` for a host: cached by host, since most emails (one per contact) are
    seen once while their hosts repeat."""
    domain, detail, ascii_host = _registrable(host)
    if domain is None:
        return None, detail
    return _rejection(ascii_host, domain)


_LDH_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_LDH_HOST = re.compile(rf"(?:{_LDH_LABEL}\.)*{_LDH_LABEL}")


def to_ascii_host(host: str) -> str:
    """UTS #46 non-transitional encoding of a lowercased host; raises ``idna.IDNAError`` when invalid.

    Hosts of plain lowercase letters, digits and inner hyphens (no ``--`` in the third and fourth
    place, so no ``xn--`` label) come out of UTS #46 unchanged; they skip the much slower full
    processing, which most hosts would otherwise pay once each.
    """
    if _LDH_HOST.fullmatch(host) and not any(label[2:4] == "--" for label in host.split(".")):
        return host
    return idna.encode(host, uts46=True, transitional=False).decode("ascii")


def _registrable(host: str) -> tuple[str | None, str, str]:
    """(registrable domain or None, detail, IDNA-encoded host) for a lowercased host."""
    host = host.removesuffix(".")
    if not host or len(host) > MAX_HOST_LENGTH * 4 or _SPACE_OR_CONTROL.search(host):
        return None, INVALID_HOST, ""
    if host.startswith("[") or _is_ip_address(host):
        return None, IP_ADDRESS, ""
    try:
        ascii_host = to_ascii_host(host)
    except (UnicodeError, ValueError):
        return None, INVALID_HOST, ""
    if not ascii_host or len(ascii_host) > MAX_HOST_LENGTH or _is_ip_address(ascii_host):
        return None, INVALID_HOST, ""
    parts = _extractor()(ascii_host)
    domain = parts.top_domain_under_public_suffix
    if domain:
        return domain, RESOLVED, ascii_host
    return None, (PUBLIC_SUFFIX if parts.suffix and not parts.domain else NO_PUBLIC_SUFFIX), ascii_host


def _rejection(ascii_host: str, domain: str) -> tuple[str, str]:
    """``domain`` and the list that rejects it, if any.

    Lists are matched on the registrable domain and on every name between it and the host, since
    the disposable list also names hosts under shared suffixes (``x.dynv6.net``).
    """
    names = _names_down_to(ascii_host, domain)
    if domain.partition(".")[0] in CONSUMER_FAMILIES or any(name in CONSUMER_DOMAINS for name in names):
        return domain, CONSUMER_DOMAIN
    if any(name in DISPOSABLE_DOMAINS for name in names):
        return domain, DISPOSABLE_DOMAIN
    if domain in MICROSOFT_DOMAINS:
        return domain, MICROSOFT_DOMAIN
    return domain, RESOLVED


def _names_down_to(host: str, domain: str) -> list[str]:
    names = [domain]
    name = host
    while name != domain and name.endswith("." + domain):
        names.append(name)
        name = name.partition(".")[2]
    return names


@cache
def _extractor() -> tldextract.TLDExtract:
    """Built once: bundled snapshot only (no network, no cache directory), ICANN section only."""
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=False)


def _configured_domains(values: Iterable[str]) -> frozenset[str]:
    return frozenset(domain for domain in (_configured_domain(value) for value in values) if domain)


def _configured_domain(value: object) -> str | None:
    """A configured domain (own, extra consumer or allowed; bare, URL or ``@domain``), reduced to its
    registrable domain."""
    if not isinstance(value, str) or len(value) > MAX_VALUE_LENGTH:
        return None
    host = url_host(value)
    if host is None:
        return None
    return _registrable(host)[0] or host.removesuffix(".")


def _prepared(value: object, *, spaces_inside: bool = False) -> str | None:
    """``value`` stripped and lowercased; ``None`` when empty, or holding spaces or controls unless
    ``spaces_inside``."""
    if not isinstance(value, str) or len(value) > MAX_VALUE_LENGTH:
        return None
    text = _lowercase(value.strip())
    if not text or (not spaces_inside and _SPACE_OR_CONTROL.search(text)):
        return None
    return text


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _lowercase(text: str) -> str:
    """ASCII letters lowercased here; other letters by UTS #46 mapping, as browsers do.

    ``str.lower`` turns a word-final capital sigma into the final form, while UTS #46 maps it to the
    ordinary small sigma: the two give different domains.
    """
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


def _is_ip_address(host: str) -> bool:
    if not (host[-1:].isdigit() or ":" in host):
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _kind_of_identifier(value: object) -> Kind:
    """A customer id is an email when it has an ``@`` and no scheme; a domain or URL otherwise."""
    if isinstance(value, str) and "@" in value and "://" not in value:
        return "email"
    return "url"


def _is_external(profile_type: object) -> bool:
    return isinstance(profile_type, str) and profile_type.strip().casefold() == "external"


def _absent(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _as_list(value: object) -> list[Any]:
    """Arrays as they are; a single object (seen in hand-edited payloads) as a one-element list."""
    if isinstance(value, list):
        return value
    if isinstance(value, Mapping):
        return [value]
    return []
