"""Seeded, realistic Partner Center referrals for the emulator, the tests and the benchmarks.

The shapes, field names and enum values follow the documented Referral resource. The data is
deliberately untidy in the ways real referrals are: contact emails on subdomains, consumer mail
providers, internationalized domains, mixed case, blank or missing emails, several referrals of one
company, timestamps with 0 to 7 fractional digits. The same ``count`` and ``seed`` always give the
same referrals, so a failing test or a benchmark run can be repeated exactly.
"""

from __future__ import annotations

import json
import random
import unicodedata
from bisect import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from partner_center_assets.heap import collector_off

DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)
DEFAULT_SPAN_DAYS = 540
PARTNER_DOMAIN = "partner.example"
PARTNER_ORGANIZATION_ID = "7d23e5ca-19dc-4eaa-aac8-5e6b559f0d1d"
PARTNER_ORGANIZATION_NAME = "Partner Example Ltd"
_API_HOST = "https://api.partner.microsoft.com"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = 86400


class _Weighted:
    """A weighted choice that costs one random number and one bisect per pick."""

    def __init__(self, pairs: Sequence[tuple[Any, float]]) -> None:
        self.values = [value for value, _ in pairs]
        total = 0.0
        self.cumulative: list[float] = []
        for _, weight in pairs:
            total += weight
            self.cumulative.append(total)
        self.total = total

    def pick(self, rng: random.Random) -> Any:
        return self.values[bisect(self.cumulative, rng.random() * self.total)]


def _words(text: str) -> tuple[str, ...]:
    """Split a ``|``-separated table, which keeps long word lists compact and readable."""
    return tuple(word.strip() for word in text.split("|"))


@dataclass(frozen=True)
class _Country:
    code: str
    tld: str
    legal_suffix: str
    currency: str
    locale: str
    cities: tuple[tuple[str, str, str], ...]  # (city, state, postal code prefix)


def _country(spec: str, cities: str) -> _Country:
    code, tld, suffix, currency, locale = _words(spec)
    places = tuple(_words(city.replace(",", "|")) for city in cities.split(";"))
    return _Country(code, tld, suffix, currency, locale, places)


_COUNTRY_LIST = (
    (_country("US|.com|Inc|USD|en-US", "Redmond,WA,980;Seattle,WA,981;Austin,TX,787;New York,NY,100"), 35),
    (_country("GB|.co.uk|Ltd|GBP|en-GB", "London,,EC1;Manchester,,M1;Reading,,RG1;Leeds,,LS1"), 12),
    (_country("DE|.de|GmbH|EUR|de-DE", "Berlin,BE,101;München,BY,803;Köln,NW,506;Hamburg,HH,203"), 10),
    (_country("FR|.fr|SAS|EUR|fr-FR", "Paris,,750;Lyon,,690;Toulouse,,310"), 6),
    (_country("JP|.co.jp|KK|JPY|ja-JP", "Tokyo,,100;Osaka,,530"), 5),
    (_country("AU|.com.au|Pty Ltd|AUD|en-AU", "Sydney,NSW,20;Melbourne,VIC,30"), 5),
    (_country("CA|.ca|Inc|CAD|en-CA", "Toronto,ON,M5V;Vancouver,BC,V6B"), 5),
    (_country("NL|.nl|B.V.|EUR|nl-NL", "Amsterdam,,101;Utrecht,,351"), 4),
    (_country("IN|.in|Pvt Ltd|INR|en-IN", "Bengaluru,KA,560;Mumbai,MH,400"), 4),
    (_country("BR|.com.br|Ltda|BRL|pt-BR", "São Paulo,SP,010"), 3),
    (_country("ES|.es|S.L.|EUR|es-ES", "Madrid,,280;Barcelona,,080"), 3),
    (_country("IT|.it|S.r.l.|EUR|it-IT", "Milano,MI,201;Roma,RM,001"), 3),
    (_country("SE|.se|AB|SEK|sv-SE", "Stockholm,,111"), 2),
    (_country("CH|.ch|AG|CHF|de-CH", "Zürich,ZH,80"), 2),
    (_country("SG|.com.sg|Pte Ltd|SGD|en-SG", "Singapore,,01"), 1),
)
_COUNTRIES = _Weighted(_COUNTRY_LIST)
_COUNTRY_BY_CODE = {country.code: country for country, _ in _COUNTRY_LIST}

_COMPANY_STEMS = _words(
    "Contoso|Fabrikam|Northwind|Adventure Works|Tailspin|Wingtip|Litware|Proseware|Woodgrove|"
    "Alpine Ski House|Coho|Fourth Coffee|Lamna|Relecloud|Trey Research|Wide World|Blue Yonder|VanArsdel|"
    "Humongous|Lucerne|Southridge|Datum|Consolidated|Bellows|Munson|Margie|Graphic Design|Nod|Olympia|"
    "Tasmanian|Boulder|Cedar|Harbor|Summit|Granite|Meridian|Pioneer|Evergreen|Redwood"
)
_COMPANY_SECTORS = _words(
    "Logistics|Health|Foods|Energy|Manufacturing|Retail|Insurance|Bank|Legal|Pharma|Motors|Media|Travel|"
    "Telecom|Construction|Analytics|Labs|Textiles|Airlines|Hotels|Education|Farms|Mining|Software|"
    "Consulting|Shipping|Furniture|Robotics|Chemicals|Foundation"
)
_COMPANY_QUALIFIERS = _words(
    "||||North|Global|Pacific|United|Atlantic|Central|Nordic|Alpine|Metro|Coastal|First|Prime|Royal|"
    "Western|Eastern|Southern"
)
_IDN_COMPANIES = (
    ("Bücher Müller GmbH", "bücher-müller.de", "DE"),
    ("Bäckerei Schäfer GmbH", "bäckerei-schäfer.de", "DE"),
    ("Café Lumière SAS", "café-lumière.fr", "FR"),
    ("Åkerlund Bygg AB", "åkerlund-bygg.se", "SE"),
    ("Niño Soluciones S.L.", "niño-soluciones.es", "ES"),
    ("Zürcher Öko AG", "zürcher-öko.ch", "CH"),
    ("Tōkyō Shōji KK", "東京商事.jp", "JP"),
)
_CONSUMER_DOMAINS = _words(
    "gmail.com|outlook.com|hotmail.com|yahoo.co.uk|yahoo.com|icloud.com|gmx.de|web.de|live.com|"
    "protonmail.com|googlemail.com|aol.com"
)
_SUBDOMAIN_LABELS = _words("sales|mail|uk|eu|corp|it|us")
_FIRST_NAMES = _words(
    "Sue|John|Ana|Miguel|Priya|Kenji|Fatima|Lars|Chloé|Jürgen|Olga|Wei|Aisha|Tom|Emma|Noah|Liam|Sofia|"
    "Mateo|Hannah|Ravi|Yuki|Zoë|Björn|Amélie|Luca|Grace|Omar|Ines|Daniel"
)
_LAST_NAMES = _words(
    "Smith|Doe|García|Müller|Tanaka|Patel|Nguyen|Johansson|Rossi|Dubois|O'Brien|Kowalski|Silva|Andersen|"
    "Kim|Schmidt|Brown|Martin|Ivanova|Chen|Fischer|Lopez|Williams|Sato|Novak|Larsen|de Vries|Hughes|"
    "Rahman|Costa"
)
_TITLES = (None, "CIO", "IT Manager", "Head of Procurement", "CTO", "Operations Director", "Buyer")
_STREETS = _words("Main|Market|High|Station|Park")
_STATUS = _Weighted(
    [
        (("New", "Pending"), 25),
        (("New", "Received"), 10),
        (("Active", "Accepted"), 40),
        (("Closed", "Won"), 9),
        (("Closed", "Lost"), 6),
        (("Closed", "Declined"), 5),
        (("Closed", "Expired"), 5),
    ]
)
_STATUS_REASONS: dict[str, tuple[str | None, ...]] = {
    "Lost": ("LostToCompetitor", "NoBudget", "CustomerNotResponsive"),
    "Declined": ("NotAFit", "InsufficientCapacity", "AlreadyEngaged"),
    "Expired": (None,),
    "Won": (None,),
}
_QUALIFICATION = _Weighted([("SalesQualified", 45), ("MarketingQualified", 20), ("Direct", 10), ("None", 25)])
_TYPE = _Weighted([("Shared", 60), ("Independent", 40)])
_DIRECTION = _Weighted([("Incoming", 85), ("Outgoing", 15)])
_SIZES = _words(
    "1to9employees|10to50employees|51to250employees|251to1000employees|1001to5000employees|"
    "5001to10000employees|10001to20000employees|Morethan20000employees|51to500employees"
)
_EMAIL_KIND = _Weighted(
    [
        ("company", 62),
        ("company_case", 6),
        ("subdomain", 8),
        ("consumer", 12),
        ("empty", 4),
        ("null", 3),
        ("missing", 3),
        ("punycode", 2),
    ]
)
_FRACTION_DIGITS = _Weighted([(7, 55), (0, 12), (6, 12), (3, 10), (1, 4), (2, 3), (5, 2), (4, 2)])
_PRODUCTS = (
    ("Azure", "Azure migration"),
    ("Dynamics365Enterprise", "Dynamics 365 rollout"),
    ("Microsoft365", "Microsoft 365 adoption"),
    ("Dynamics365Sales", "Sales pipeline modernization"),
    ("PowerPlatform", "Power Platform apps"),
    ("AzureAI", "AI assistant pilot"),
    ("MicrosoftTeams", "Teams Phone deployment"),
    ("AzureSecurity", "Security assessment"),
)
_INDUSTRIES = _words(
    "Manufacturing|Retail|Healthcare|FinancialServices|Government|Education|ProfessionalServices|"
    "MediaAndCommunications|Energy|Transportation"
)
_SERVICES = _words("DeploymentOrMigration|Consulting|ManagedServices|Training|Licensing|Support")
_ASSISTANCE = _words(
    "Unknown|GeneralOrOther|CustomerTechnicalArchitecture|ProofOfConceptOrDemo|QuotesOrLicensing|"
    "PostSalesCustomerSuccess|WorkloadSpecificValueProposition"
)
_NOTES = (
    "Customer wants to move supply chain to Dynamics 365.",
    "Evaluating a lift-and-shift of 40 VMs before the datacenter lease ends.",
    "Needs help with licensing for 250 seats; decision expected this quarter.",
    "Interested in a proof of concept with Copilot for the service desk.",
    "Existing customer, expansion into two new regions.",
    "Asked for a partner with local presence and German-speaking consultants.",
    "Requires data residency in the EU; security review pending.",
    "",
)
_SELLERS = tuple(
    tuple(name.split())
    for name in _words(
        "Alex Wilber|Megan Bowen|Diego Siciliani|Isaiah Langer|Lidia Holloway|Nestor Wilke|Patti Fernandez"
    )
)
_SELLER_DOMAIN_FORM = _Weighted([("plain", 85), ("subdomain", 10), ("upper", 5)])


@dataclass(frozen=True)
class _Company:
    name: str
    domain: str
    country: _Country
    city: tuple[str, ...]
    size: str
    duns: str | None
    address_line: str


def _guid(bits: int) -> str:
    """A version-4-shaped GUID from seeded random bits (uuid4 would not repeat)."""
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


@lru_cache(maxsize=4096)
def _slug(text: str) -> str:
    """Lowercase ASCII letters and digits only, as mailbox names and domains are mostly written."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in ascii_text.lower() if ch.isalnum())


@lru_cache(maxsize=8192)
def _date(day_number: int) -> str:
    return (_EPOCH + timedelta(days=day_number)).strftime("%Y-%m-%d")


def _epoch_timestamp(seconds: float, fraction_digits: int) -> str:
    """``format_api_timestamp`` for epoch seconds, without building a datetime (it runs millions of times)."""
    whole = int(seconds)
    day_number, rest = divmod(whole, _DAY)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    base = f"{_date(day_number)}T{hour:02d}:{minute:02d}:{second:02d}"
    if fraction_digits <= 0:
        return base + "Z"
    ticks = f"{int((seconds - whole) * 10_000_000):07d}"
    return f"{base}.{ticks[:fraction_digits]}Z"


def format_api_timestamp(moment: datetime, fraction_digits: int = 7) -> str:
    """Render UTC the way the API does: ``Z`` and 0 to 7 fractional digits (.NET writes 100-ns ticks)."""
    seconds = (moment.astimezone(UTC) - _EPOCH) / timedelta(seconds=1)
    return _epoch_timestamp(seconds, fraction_digits)


class _ReferralFactory:
    """Holds the seeded generator and the pools that make companies and engagements repeat."""

    def __init__(self, seed: int, start: datetime, span_days: int, partner_domain: str) -> None:
        self.rng = random.Random(seed)
        self.random = self.rng.random
        self.start_seconds = (start.astimezone(UTC) - _EPOCH).total_seconds()
        self.span_seconds = span_days * _DAY
        self.partner_domain = partner_domain
        self.companies: list[_Company] = []
        self.engagements: list[tuple[str, _Company]] = []

    def below(self, n: int) -> int:
        """``randrange(n)`` at a fraction of the cost; the tiny bias is irrelevant for sample data."""
        return int(self.random() * n)

    def one_of(self, items: Sequence[Any]) -> Any:
        return items[int(self.random() * len(items))]

    def guid(self) -> str:
        return _guid(self.rng.getrandbits(128))

    def timestamp(self, seconds: float) -> str:
        return _epoch_timestamp(seconds, _FRACTION_DIGITS.pick(self.rng))

    def company(self) -> _Company:
        roll = self.random()
        if self.companies and roll < 0.3:
            return self.one_of(self.companies)
        if roll > 0.97:
            name, domain, code = self.one_of(_IDN_COMPANIES)
            country = _COUNTRY_BY_CODE[code]
        else:
            country = _COUNTRIES.pick(self.rng)
            words = [w for w in (self.one_of(_COMPANY_STEMS), self.one_of(_COMPANY_QUALIFIERS)) if w]
            words.append(self.one_of(_COMPANY_SECTORS))
            name = " ".join(words) + " " + country.legal_suffix
            joiner = "-" if self.random() < 0.3 else ""
            domain = joiner.join(_slug(w) for w in words) + country.tld
        company = _Company(
            name=name,
            domain=domain,
            country=country,
            city=self.one_of(country.cities),
            size=self.one_of(_SIZES),
            duns=str(10**8 + self.below(9 * 10**8)) if self.random() < 0.7 else None,
            address_line=f"{1 + self.below(399)} {self.one_of(_STREETS)} Street",
        )
        self.companies.append(company)
        return company

    def contact_email(self, company: _Company, first: str, last: str) -> tuple[bool, str | None]:
        """(present, email): the mix of company, subdomain, consumer, IDN, blank and missing addresses."""
        local = f"{_slug(first) or 'x'}.{_slug(last) or 'y'}"
        kind = _EMAIL_KIND.pick(self.rng)
        if kind == "company":
            return True, f"{local}@{company.domain}"
        if kind == "company_case":
            return True, f"{_slug(first).title()}.{_slug(last).title()}@{company.domain.upper()}"
        if kind == "subdomain":
            return True, f"{local}@{self.one_of(_SUBDOMAIN_LABELS)}.{company.domain}"
        if kind == "consumer":
            return True, f"{local}{self.below(100)}@{self.one_of(_CONSUMER_DOMAINS)}"
        if kind == "punycode":
            return True, f"{local}@{company.domain.encode('idna').decode('ascii')}"
        if kind == "empty":
            return True, ""
        if kind == "null":
            return True, None
        return False, None

    def contact(self, company: _Company) -> dict[str, Any]:
        first = self.one_of(_FIRST_NAMES)
        last = self.one_of(_LAST_NAMES)
        member: dict[str, Any] = {
            "firstName": first,
            "lastName": last,
            "phoneNumber": f"+{10**9 + self.below(9 * 10**9)}" if self.random() < 0.7 else "",
        }
        present, email = self.contact_email(company, first, last)
        if present:
            member["email"] = email
        member["title"] = self.one_of(_TITLES)
        member["contactPreference"] = {
            "locale": company.country.locale,
            "disableNotifications": self.random() < 0.1,
        }
        return member

    def seller(self) -> dict[str, Any]:
        first, last = self.one_of(_SELLERS)
        form = _SELLER_DOMAIN_FORM.pick(self.rng)
        domain = self.partner_domain
        if form == "subdomain":
            domain = "sales." + domain
        elif form == "upper":
            domain = domain.upper()
        return {
            "firstName": first,
            "lastName": last,
            "phoneNumber": "",
            "email": f"{first.lower()}.{last.lower()}@{domain}",
            "contactPreference": {"locale": "en-US", "disableNotifications": False},
        }

    def deal_value(self, currency: str) -> float:
        value = round(self.rng.lognormvariate(10.3, 1.1), -2)
        if currency == "JPY":
            return float(int(value * 150))
        if self.random() < 0.1:
            return round(value + self.random() * 100, 2)
        return value

    def customer_ids(self, company: _Company) -> list[dict[str, str]]:
        ids: list[dict[str, str]] = []
        if company.duns:
            ids.append({"profileType": "Duns", "id": company.duns})
        if self.random() < 0.15:
            external = company.domain if self.random() < 0.5 else f"https://www.{company.domain}/"
            ids.append({"profileType": "External", "id": external})
        return ids

    def referral(self) -> dict[str, Any]:
        if self.engagements and self.random() < 0.15:
            engagement_id, company = self.engagements[-1 - self.below(min(20, len(self.engagements)))]
        else:
            engagement_id, company = self.guid(), self.company()
            self.engagements.append((engagement_id, company))
            if len(self.engagements) > 64:
                del self.engagements[:32]
        referral_id = self.guid()
        status, substatus = _STATUS.pick(self.rng)
        closed = status == "Closed"
        direction = _DIRECTION.pick(self.rng)
        created = self.start_seconds + self.random() * self.span_seconds
        updated = created if self.random() < 0.2 else created + self.rng.expovariate(1 / (6 * _DAY))
        country = company.country
        currency = country.currency if self.random() < 0.9 else "USD"
        product_id, product_label = self.one_of(_PRODUCTS)
        contacts = 1 + int(self.random() * 2.4) if self.random() > 0.05 else 0
        team = [self.contact(company) for _ in range(contacts)]
        accepted = status == "Active" or substatus in ("Won", "Lost")
        invited_by = (
            {"organizationId": "msft", "organizationName": "Microsoft"}
            if direction == "Incoming"
            else {"organizationId": PARTNER_ORGANIZATION_ID, "organizationName": PARTNER_ORGANIZATION_NAME}
        )
        related = f"{_API_HOST}/v1.0/engagements/referrals?$filter=engagementId eq '{engagement_id}'"
        return {
            "id": referral_id,
            "engagementId": engagement_id,
            "name": f"{company.name} - {product_label}",
            "organizationId": PARTNER_ORGANIZATION_ID,
            "organizationName": PARTNER_ORGANIZATION_NAME,
            "externalReferenceId": f"LEAD-{self.below(10**6):06d}" if self.random() < 0.2 else None,
            "createdDateTime": self.timestamp(created),
            "updatedDateTime": self.timestamp(updated),
            "expirationDateTime": self.timestamp(created + 14 * _DAY) if status == "New" else None,
            "acceptedDateTime": self.timestamp(created + 3600) if accepted else None,
            "closedDateTime": self.timestamp(updated) if closed else None,
            "status": status,
            "substatus": substatus,
            "statusReason": self.one_of(_STATUS_REASONS[substatus]) if closed else None,
            "qualification": _QUALIFICATION.pick(self.rng),
            "type": _TYPE.pick(self.rng),
            "direction": direction,
            "referralSource": None,
            "callToAction": None,
            "salesStage": None,
            "campaignId": f"CMP-{self.below(1000):03d}" if self.random() < 0.1 else None,
            "eTag": f'"{self.guid()}"',
            "target": [{"type": "BusinessProfileLocation", "id": "msft"}] if self.random() < 0.2 else [],
            "customerProfile": {
                "name": company.name,
                "size": company.size,
                "isMatchingComplete": self.random() < 0.8,
                "address": {
                    "addressLine1": company.address_line,
                    "addressLine2": "",
                    "city": company.city[0],
                    "state": company.city[1],
                    "postalCode": f"{company.city[2]}{10 + self.below(89)}",
                    "country": country.code,
                    "region": None,
                },
                "team": team,
                "ids": self.customer_ids(company),
            },
            "consent": {
                "consentToToShareInfoWithOthers": self.random() < 0.8,
                "consentToContact": self.random() < 0.9,
                "consentToShareReferralWithMicrosoftSellers": self.random() < 0.85,
            },
            "details": {
                "notes": self.one_of(_NOTES),
                "dealValue": self.deal_value(currency),
                "currency": currency,
                "closingDateTime": f"{_date(int(created // _DAY) + 30 + self.below(150))}T00:00:00Z",
                "customerRequestedContact": self.random() < 0.5,
                "customerAction": None,
                "requirements": {
                    "industries": [{"id": self.one_of(_INDUSTRIES)}],
                    "products": [{"id": product_id}],
                    "services": [{"id": self.one_of(_SERVICES)}],
                    "solutions": [],
                },
            },
            "team": [self.seller() for _ in range(1 + (self.random() < 0.3))],
            "inviteContext": {
                "notes": "Can you help this customer?" if direction == "Incoming" else "",
                "assistanceRequestCode": self.one_of(_ASSISTANCE),
                "invitedBy": invited_by,
            },
            "links": {
                "relatedReferrals": {"uri": related, "method": "GET"},
                "self": {"uri": f"{_API_HOST}/v1.0/engagements/referrals/{referral_id}", "method": "GET"},
            },
        }


def iter_referrals(
    count: int,
    seed: int = 7,
    *,
    start: datetime = DEFAULT_START,
    span_days: int = DEFAULT_SPAN_DAYS,
    partner_domain: str = PARTNER_DOMAIN,
) -> Iterator[dict[str, Any]]:
    """Yield referrals one at a time, so a large store never holds them all as dicts at once."""
    if count < 0:
        raise ValueError("count must not be negative")
    factory = _ReferralFactory(seed, start, span_days, partner_domain)
    for _ in range(count):
        yield factory.referral()


def generate_referrals(
    count: int,
    seed: int = 7,
    *,
    start: datetime = DEFAULT_START,
    span_days: int = DEFAULT_SPAN_DAYS,
    partner_domain: str = PARTNER_DOMAIN,
) -> list[dict[str, Any]]:
    """Deterministic referrals, created between ``start`` and ``start + span_days`` and updated later.

    The cyclic garbage collector is paused meanwhile: the referrals hold no cycles, and rescanning the
    growing list would make a 300,000-referral run several times slower.
    """
    with collector_off():
        return list(
            iter_referrals(count, seed, start=start, span_days=span_days, partner_domain=partner_domain)
        )


def load_referrals(path: str | Path) -> list[dict[str, Any]]:
    """Referrals from a JSON file holding a list, or an API page (an object with ``value``)."""
    with collector_off():
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, dict) and isinstance(data.get("value"), list):
        data = data["value"]
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ValueError(f"{path}: expected a JSON list of referral objects or an object with 'value'")
    return data
