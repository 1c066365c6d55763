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
from bisect import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)
DEFAULT_SPAN_DAYS = 540
PARTNER_DOMAIN = "partner.example"
PARTNER_ORGANIZATION_ID = "7d23e5ca-19dc-4eaa-aac8-5e6b559f0d1d"
PARTNER_ORGANIZATION_NAME = "Partner Example Ltd"
_API_HOST = "https://api.partner.microsoft.com"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


@dataclass(frozen=True)
class _Country:
    code: str
    tld: str
    legal_suffix: str
    currency: str
    locale: str
    cities: tuple[tuple[str, str, str], ...]  # (city, state, postal code prefix)


_COUNTRIES = _Weighted(
    [
        (_Country("US", ".com", "Inc", "USD", "en-US", (
            ("Redmond", "WA", "980"), ("Seattle", "WA", "981"), ("Austin", "TX", "787"),
            ("New York", "NY", "100"), ("Chicago", "IL", "606"), ("Denver", "CO", "802"),
        )), 35),
        (_Country("GB", ".co.uk", "Ltd", "GBP", "en-GB", (
            ("London", "", "EC1"), ("Manchester", "", "M1"), ("Reading", "", "RG1"), ("Leeds", "", "LS1"),
        )), 12),
        (_Country("DE", ".de", "GmbH", "EUR", "de-DE", (
            ("Berlin", "BE", "101"), ("München", "BY", "803"), ("Köln", "NW", "506"), ("Hamburg", "HH", "203"),
        )), 10),
        (_Country("FR", ".fr", "SAS", "EUR", "fr-FR", (
            ("Paris", "", "750"), ("Lyon", "", "690"), ("Toulouse", "", "310"),
        )), 6),
        (_Country("JP", ".co.jp", "KK", "JPY", "ja-JP", (("Tokyo", "", "100"), ("Osaka", "", "530"))), 5),
        (_Country("AU", ".com.au", "Pty Ltd", "AUD", "en-AU", (
            ("Sydney", "NSW", "20"), ("Melbourne", "VIC", "30"),
        )), 5),
        (_Country("CA", ".ca", "Inc", "CAD", "en-CA", (("Toronto", "ON", "M5V"), ("Vancouver", "BC", "V6B"))), 5),
        (_Country("NL", ".nl", "B.V.", "EUR", "nl-NL", (("Amsterdam", "", "101"), ("Utrecht", "", "351"))), 4),
        (_Country("IN", ".in", "Pvt Ltd", "INR", "en-IN", (("Bengaluru", "KA", "560"), ("Mumbai", "MH", "400"))), 4),
        (_Country("BR", ".com.br", "Ltda", "BRL", "pt-BR", (("São Paulo", "SP", "010"),)), 3),
        (_Country("ES", ".es", "S.L.", "EUR", "es-ES", (("Madrid", "", "280"), ("Barcelona", "", "080"))), 3),
        (_Country("IT", ".it", "S.r.l.", "EUR", "it-IT", (("Milano", "MI", "201"), ("Roma", "RM", "001"))), 3),
        (_Country("SE", ".se", "AB", "SEK", "sv-SE", (("Stockholm", "", "111"),)), 2),
        (_Country("CH", ".ch", "AG", "CHF", "de-CH", (("Zürich", "ZH", "80"),)), 2),
        (_Country("SG", ".com.sg", "Pte Ltd", "SGD", "en-SG", (("Singapore", "", "01"),)), 1),
    ]
)

_COMPANY_STEMS = (
    "Contoso", "Fabrikam", "Northwind", "Adventure Works", "Tailspin", "Wingtip", "Litware", "Proseware",
    "Woodgrove", "Alpine Ski House", "Coho", "Fourth Coffee", "Lamna", "Relecloud", "Trey Research",
    "Wide World", "Blue Yonder", "VanArsdel", "Humongous", "Lucerne", "Southridge", "Datum",
    "Consolidated", "Bellows", "Munson", "Margie", "Graphic Design", "Nod", "Olympia", "Tasmanian",
    "Boulder", "Cedar", "Harbor", "Summit", "Granite", "Meridian", "Pioneer", "Evergreen", "Redwood",
)
_COMPANY_SECTORS = (
    "Logistics", "Health", "Foods", "Energy", "Manufacturing", "Retail", "Insurance", "Bank", "Legal",
    "Pharma", "Motors", "Media", "Travel", "Telecom", "Construction", "Analytics", "Labs", "Textiles",
    "Airlines", "Hotels", "Education", "Farms", "Mining", "Software", "Consulting", "Shipping",
    "Furniture", "Robotics", "Chemicals", "Foundation",
)
_COMPANY_QUALIFIERS = (
    "", "", "", "", "North", "Global", "Pacific", "United", "Atlantic", "Central", "Nordic", "Alpine",
    "Metro", "Coastal", "First", "Prime", "Royal", "Western", "Eastern", "Southern",
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
_CONSUMER_DOMAINS = (
    "gmail.com", "outlook.com", "hotmail.com", "yahoo.co.uk", "yahoo.com", "icloud.com", "gmx.de",
    "web.de", "live.com", "protonmail.com", "googlemail.com", "aol.com",
)
_SUBDOMAIN_LABELS = ("sales", "mail", "uk", "eu", "corp", "it", "us")
_FIRST_NAMES = (
    "Sue", "John", "Ana", "Miguel", "Priya", "Kenji", "Fatima", "Lars", "Chloé", "Jürgen", "Olga", "Wei",
    "Aisha", "Tom", "Emma", "Noah", "Liam", "Sofia", "Mateo", "Hannah", "Ravi", "Yuki", "Zoë", "Björn",
    "Amélie", "Luca", "Grace", "Omar", "Ines", "Daniel",
)
_LAST_NAMES = (
    "Smith", "Doe", "García", "Müller", "Tanaka", "Patel", "Nguyen", "Johansson", "Rossi", "Dubois",
    "O'Brien", "Kowalski", "Silva", "Andersen", "Kim", "Schmidt", "Brown", "Martin", "Ivanova", "Chen",
    "Fischer", "Lopez", "Williams", "Sato", "Novak", "Larsen", "de Vries", "Hughes", "Rahman", "Costa",
)
_TITLES = (None, "CIO", "IT Manager", "Head of Procurement", "CTO", "Operations Director", "Buyer")
_STATUS = _Weighted(
    [
        (("New", "Pending"), 25), (("New", "Received"), 10), (("Active", "Accepted"), 40),
        (("Closed", "Won"), 9), (("Closed", "Lost"), 6), (("Closed", "Declined"), 5), (("Closed", "Expired"), 5),
    ]
)
_STATUS_REASONS = {
    "Lost": ("LostToCompetitor", "NoBudget", "CustomerNotResponsive"),
    "Declined": ("NotAFit", "InsufficientCapacity", "AlreadyEngaged"),
    "Expired": (None,),
    "Won": (None,),
}
_QUALIFICATION = _Weighted([("SalesQualified", 45), ("MarketingQualified", 20), ("Direct", 10), ("None", 25)])
_TYPE = _Weighted([("Shared", 60), ("Independent", 40)])
_DIRECTION = _Weighted([("Incoming", 85), ("Outgoing", 15)])
_SIZES = (
    "1to9employees", "10to50employees", "51to250employees", "251to1000employees", "1001to5000employees",
    "5001to10000employees", "10001to20000employees", "Morethan20000employees", "51to500employees",
)
_EMAIL_KIND = _Weighted(
    [
        ("company", 62), ("company_case", 6), ("subdomain", 8), ("consumer", 12), ("empty", 4),
        ("null", 3), ("missing", 3), ("punycode", 2),
    ]
)
_FRACTION_DIGITS = _Weighted([(7, 55), (0, 12), (6, 12), (3, 10), (1, 4), (2, 3), (5, 2), (4, 2)])
_PRODUCTS = (
    ("Azure", "Azure migration"), ("Dynamics365Enterprise", "Dynamics 365 rollout"),
    ("Microsoft365", "Microsoft 365 adoption"), ("Dynamics365Sales", "Sales pipeline modernization"),
    ("PowerPlatform", "Power Platform apps"), ("AzureAI", "AI assistant pilot"),
    ("MicrosoftTeams", "Teams Phone deployment"), ("AzureSecurity", "Security assessment"),
)
_INDUSTRIES = (
    "Manufacturing", "Retail", "Healthcare", "FinancialServices", "Government", "Education",
    "ProfessionalServices", "MediaAndCommunications", "Energy", "Transportation",
)
_SERVICES = ("DeploymentOrMigration", "Consulting", "ManagedServices", "Training", "Licensing", "Support")
_ASSISTANCE = (
    "Unknown", "GeneralOrOther", "CustomerTechnicalArchitecture", "ProofOfConceptOrDemo",
    "QuotesOrLicensing", "PostSalesCustomerSuccess", "WorkloadSpecificValueProposition",
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
_SELLERS = (
    ("Alex", "Wilber"), ("Megan", "Bowen"), ("Diego", "Siciliani"), ("Isaiah", "Langer"), ("Lidia", "Holloway"),
    ("Nestor", "Wilke"), ("Patti", "Fernandez"), ("Pradeep", "Gupta"),
)
_SELLER_DOMAIN_FORM = _Weighted([("plain", 85), ("subdomain", 10), ("upper", 5)])


@dataclass(frozen=True)
class _Company:
    name: str
    domain: str
    country: _Country
    city: tuple[str, str, str]
    size: str
    duns: str | None
    address_line: str


def _guid(rng: random.Random) -> str:
    """A version-4-shaped GUID from the seeded generator (uuid4 would not repeat)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def format_api_timestamp(moment: datetime, fraction_digits: int = 7) -> str:
    """Render UTC the way the API does, with 0–7 fractional digits and ``Z``."""
    moment = moment.astimezone(UTC)
    base = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    if fraction_digits <= 0:
        return base + "Z"
    ticks = f"{moment.microsecond:06d}0"  # 100-ns ticks, as .NET writes them
    return f"{base}.{ticks[:fraction_digits]}Z"


class _ReferralFactory:
    """Holds the seeded generator and the pools that make companies and engagements repeat."""

    def __init__(self, seed: int, start: datetime, span_days: int, partner_domain: str) -> None:
        self.rng = random.Random(seed)
        self.start_seconds = (start.astimezone(UTC) - _EPOCH).total_seconds()
        self.span_seconds = span_days * 86400
        self.partner_domain = partner_domain
        self.sellers = _Weighted([((first, last), 1) for first, last in _SELLERS])
        self.companies: list[_Company] = []
        self.engagements: list[tuple[str, _Company]] = []

    def company(self) -> _Company:
        rng = self.rng
        roll = rng.random()
        if self.companies and roll < 0.3:
            return self.companies[rng.randrange(len(self.companies))]
        if roll > 0.97:
            name, domain, code = _IDN_COMPANIES[rng.randrange(len(_IDN_COMPANIES))]
            country = next(c for c in _COUNTRIES.values if c.code == code)
        else:
            country = _COUNTRIES.pick(rng)
            stem = _COMPANY_STEMS[rng.randrange(len(_COMPANY_STEMS))]
            sector = _COMPANY_SECTORS[rng.randrange(len(_COMPANY_SECTORS))]
            qualifier = _COMPANY_QUALIFIERS[rng.randrange(len(_COMPANY_QUALIFIERS))]
            words = [w for w in (stem, qualifier, sector) if w]
            name = " ".join(words) + " " + country.legal_suffix
            joiner = "-" if rng.random() < 0.3 else ""
            domain = joiner.join(_slug(w) for w in words) + country.tld
        city = country.cities[rng.randrange(len(country.cities))]
        company = _Company(
            name=name,
            domain=domain,
            country=country,
            city=city,
            size=_SIZES[rng.randrange(len(_SIZES))],
            duns=f"{rng.randrange(10**8, 10**9)}" if rng.random() < 0.7 else None,
            address_line=f"{rng.randrange(1, 400)} {('Main', 'Market', 'High', 'Station', 'Park')[rng.randrange(5)]} Street",
        )
        self.companies.append(company)
        return company

    def timestamp(self, seconds: float) -> str:
        moment = _EPOCH + timedelta(seconds=seconds)
        return format_api_timestamp(moment, _FRACTION_DIGITS.pick(self.rng))

    def contact(self, company: _Company) -> dict[str, Any]:
        rng = self.rng
        first = _FIRST_NAMES[rng.randrange(len(_FIRST_NAMES))]
        last = _LAST_NAMES[rng.randrange(len(_LAST_NAMES))]
        local = f"{_slug(first) or 'x'}.{_slug(last) or 'y'}"
        kind = _EMAIL_KIND.pick(rng)
        member: dict[str, Any] = {
            "firstName": first,
            "lastName": last,
            "phoneNumber": f"+{rng.randrange(10**9, 10**10)}" if rng.random() < 0.7 else "",
        }
        if kind == "company":
            member["email"] = f"{local}@{company.domain}"
        elif kind == "company_case":
            member["email"] = f"{first}.{last.replace(' ', '')}@{company.domain.upper()}"
        elif kind == "subdomain":
            member["email"] = f"{local}@{_SUBDOMAIN_LABELS[rng.randrange(len(_SUBDOMAIN_LABELS))]}.{company.domain}"
        elif kind == "consumer":
            member["email"] = f"{local}{rng.randrange(100)}@{_CONSUMER_DOMAINS[rng.randrange(len(_CONSUMER_DOMAINS))]}"
        elif kind == "punycode":
            member["email"] = f"{local}@{company.domain.encode('idna').decode('ascii')}"
        elif kind == "empty":
            member["email"] = ""
        elif kind == "null":
            member["email"] = None
        member["title"] = _TITLES[rng.randrange(len(_TITLES))]
        member["contactPreference"] = {"locale": company.country.locale, "disableNotifications": rng.random() < 0.1}
        return member

    def seller(self) -> dict[str, Any]:
        first, last = self.sellers.pick(self.rng)
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

    def referral(self) -> dict[str, Any]:
        rng = self.rng
        if self.engagements and rng.random() < 0.15:
            engagement_id, company = self.engagements[-1 - rng.randrange(min(20, len(self.engagements)))]
        else:
            engagement_id, company = _guid(rng), self.company()
            self.engagements.append((engagement_id, company))
            if len(self.engagements) > 64:
                del self.engagements[:32]
        referral_id = _guid(rng)
        status, substatus = _STATUS.pick(rng)
        direction = _DIRECTION.pick(rng)
        created = self.start_seconds + rng.random() * self.span_seconds
        roll = rng.random()
        updated = created if roll < 0.2 else created + rng.expovariate(1 / (6 * 86400))
        country = company.country
        currency = country.currency if rng.random() < 0.9 else "USD"
        value = round(rng.lognormvariate(10.3, 1.1), -2)
        if currency == "JPY":
            value = float(int(value * 150))
        elif rng.random() < 0.1:
            value = round(value + rng.random() * 100, 2)
        product_id, product_label = _PRODUCTS[rng.randrange(len(_PRODUCTS))]
        closed = status == "Closed"
        team = [self.contact(company) for _ in range(1 + int(rng.random() * 2.4))] if rng.random() > 0.05 else []
        ids: list[dict[str, str]] = []
        if company.duns:
            ids.append({"profileType": "Duns", "id": company.duns})
        if rng.random() < 0.15:
            external = company.domain if rng.random() < 0.5 else f"https://www.{company.domain}/"
            ids.append({"profileType": "External", "id": external})
        invited_by = (
            {"organizationId": "msft", "organizationName": "Microsoft"}
            if direction == "Incoming"
            else {"organizationId": PARTNER_ORGANIZATION_ID, "organizationName": PARTNER_ORGANIZATION_NAME}
        )
        self_uri = f"{_API_HOST}/v1.0/engagements/referrals/{referral_id}"
        return {
            "id": referral_id,
            "engagementId": engagement_id,
            "name": f"{company.name} - {product_label}",
            "organizationId": PARTNER_ORGANIZATION_ID,
            "organizationName": PARTNER_ORGANIZATION_NAME,
            "externalReferenceId": f"LEAD-{rng.randrange(10**6):06d}" if rng.random() < 0.2 else None,
            "createdDateTime": self.timestamp(created),
            "updatedDateTime": self.timestamp(updated),
            "expirationDateTime": self.timestamp(created + 14 * 86400) if status == "New" else None,
            "acceptedDateTime": self.timestamp(created + 3600) if status == "Active" or substatus in ("Won", "Lost") else None,
            "closedDateTime": self.timestamp(updated) if closed else None,
            "status": status,
            "substatus": substatus,
            "statusReason": _STATUS_REASONS[substatus][rng.randrange(len(_STATUS_REASONS[substatus]))] if closed else None,
            "qualification": _QUALIFICATION.pick(rng),
            "type": _TYPE.pick(rng),
            "direction": direction,
            "referralSource": None,
            "callToAction": None,
            "salesStage": None,
            "campaignId": f"CMP-{rng.randrange(1000):03d}" if rng.random() < 0.1 else None,
            "eTag": f'"{_guid(rng)}"',
            "target": [{"type": "BusinessProfileLocation", "id": "msft"}] if rng.random() < 0.2 else [],
            "customerProfile": {
                "name": company.name,
                "size": company.size,
                "isMatchingComplete": rng.random() < 0.8,
                "address": {
                    "addressLine1": company.address_line,
                    "addressLine2": "",
                    "city": company.city[0],
                    "state": company.city[1],
                    "postalCode": f"{company.city[2]}{rng.randrange(10, 99)}",
                    "country": country.code,
                    "region": None,
                },
                "team": team,
                "ids": ids,
            },
            "consent": {
                "consentToToShareInfoWithOthers": rng.random() < 0.8,
                "consentToContact": rng.random() < 0.9,
                "consentToShareReferralWithMicrosoftSellers": rng.random() < 0.85,
            },
            "details": {
                "notes": _NOTES[rng.randrange(len(_NOTES))],
                "dealValue": value,
                "currency": currency,
                "closingDateTime": format_api_timestamp(
                    (_EPOCH + timedelta(seconds=created + rng.randrange(30, 180) * 86400)).replace(
                        hour=0, minute=0, second=0, microsecond=0
                    ),
                    0,
                ),
                "customerRequestedContact": rng.random() < 0.5,
                "customerAction": None,
                "requirements": {
                    "industries": [{"id": _INDUSTRIES[rng.randrange(len(_INDUSTRIES))]}],
                    "products": [{"id": product_id}],
                    "services": [{"id": _SERVICES[rng.randrange(len(_SERVICES))]}],
                    "solutions": [],
                },
            },
            "team": [self.seller() for _ in range(1 + (rng.random() < 0.3))],
            "inviteContext": {
                "notes": "Can you help this customer?" if direction == "Incoming" else "",
                "assistanceRequestCode": _ASSISTANCE[rng.randrange(len(_ASSISTANCE))],
                "invitedBy": invited_by,
            },
            "links": {
                "relatedReferrals": {
                    "uri": f"{_API_HOST}/v1.0/engagements/referrals?$filter=engagementId eq '{engagement_id}'",
                    "method": "GET",
                },
                "self": {"uri": self_uri, "method": "GET"},
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
    """Yield referrals one at a time, so a large store never holds them all as dicts."""
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
    """Deterministic referrals: created between ``start`` and ``start + span_days``, updated later."""
    return list(iter_referrals(count, seed, start=start, span_days=span_days, partner_domain=partner_domain))


def load_referrals(path: str | Path) -> list[dict[str, Any]]:
    """Referrals from a JSON file holding a list, or an API page (an object with ``value``)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, dict) and isinstance(data.get("value"), list):
        data = data["value"]
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ValueError(f"{path}: expected a JSON list of referral objects or an object with 'value'")
    return data
