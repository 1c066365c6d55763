"""Paging through referrals: next links of every style, and every way a stream ends."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from partner_center_assets.client import (
    PartnerCenterClient,
    PartnerCenterNextLinkError,
    StreamStats,
    build_referral_query,
)
from partner_center_assets.client.pages import resolve_next_link
from partner_center_assets.emulator import Emulator, generate_referrals
from partner_center_assets.ingest.timestamps import parse_timestamp
from partner_center_assets.settings import Settings

if TYPE_CHECKING:
    from partner_center_assets_tests.emulator_fixtures import ScriptedApi

pytest_plugins = ["partner_center_assets_tests.emulator_fixtures"]
pytestmark = pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning")

QUERY = build_referral_query(direction="Incoming", statuses=["New", "Active"], top=200)
LIST_PATH = "/v1.0/engagements/referrals"


def incoming_active(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Generated referrals that all match ``QUERY``."""
    referrals = generate_referrals(count, seed=seed)
    for referral in referrals:
        referral["direction"] = "Incoming"
        referral["status"] = "Active"
    return referrals


def newest_first(referrals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(referrals, key=lambda r: parse_timestamp(r["updatedDateTime"]), reverse=True)


@pytest.fixture
def reader(
    open_client: Callable[..., PartnerCenterClient], password_settings: Callable[..., Settings]
) -> Callable[[Emulator], PartnerCenterClient]:
    """A client of ``emu`` signed in with its user."""
    return lambda emu: open_client(password_settings(emu))


@pytest.mark.parametrize("style", ["absolute", "relative", "http"])
def test_every_page_is_read_whatever_the_next_link_style(
    start_emulator: Callable[..., Emulator], reader, style: str
) -> None:
    emu = start_emulator(next_link_style=style, max_page_size=40)
    referrals = incoming_active(250)
    emu.set_referrals(referrals)
    client = reader(emu)
    stats = StreamStats()

    pages = list(client.iter_referral_pages("discovery", QUERY, cutoff=None, max_pages=50, stats=stats))

    ids = [record["id"] for page in pages for record in page.records]
    assert sorted(ids) == sorted(r["id"] for r in referrals)
    assert len(ids) == len(set(ids))
    assert [page.page_number for page in pages] == list(range(1, 8))
    assert (stats.pages, stats.records, stats.stop_reason) == (7, 250, "no_next_link")
    assert stats.max_pages_reached is False
    assert pages[-1].next_link is None


def test_pages_shorter_than_top_do_not_end_the_stream(emulator: Emulator, reader) -> None:
    emulator.set_referrals(incoming_active(250))
    client = reader(emulator)

    pages = list(client.iter_referral_pages("discovery", QUERY, cutoff=None, max_pages=10))

    assert [len(page.records) for page in pages] == [100, 100, 50]
    assert int(QUERY["$top"]) == 200


def test_pages_are_described_as_received(emulator: Emulator, reader) -> None:
    emulator.set_referrals(incoming_active(150))
    client = reader(emulator)

    first, second = client.iter_referral_pages("discovery", QUERY, cutoff=None, max_pages=10)

    api = emulator.api_requests()
    assert first.stream == "discovery"
    assert first.status_code == 200
    assert first.odata_count == 150
    assert first.attempts == 1
    assert first.url.startswith(f"{emulator.base_url}{LIST_PATH}?")
    assert "%24filter=" in first.url or "$filter=" in first.url
    assert first.request_id == api[0].request_id
    assert first.client_request_id == api[0].client_request_id
    assert second.url == first.next_link
    assert second.request_id == api[1].request_id


def test_the_skiptoken_of_a_next_link_is_sent_verbatim(emulator: Emulator, reader) -> None:
    emulator.set_referrals(incoming_active(150))
    client = reader(emulator)

    first, _ = client.iter_referral_pages("discovery", QUERY, cutoff=None, max_pages=10)

    token = first.next_link.split("$skiptoken=", 1)[1]
    assert emulator.api_requests()[1].query == {"$skiptoken": token}


def test_max_pages_stops_the_stream_and_says_so(
    emulator: Emulator, reader, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.set_referrals(incoming_active(250))
    client = reader(emulator)
    stats = StreamStats()

    with caplog.at_level(logging.WARNING):
        pages = list(client.iter_referral_pages("discovery", QUERY, cutoff=None, max_pages=2, stats=stats))

    assert len(pages) == 2
    assert (stats.stop_reason, stats.max_pages_reached) == ("max_pages", True)
    assert len(emulator.api_requests()) == 2
    assert any("MAX_PAGES" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_a_last_page_at_max_pages_is_not_reported_as_hitting_the_limit(emulator: Emulator, reader) -> None:
    emulator.set_referrals(incoming_active(200))
    client = reader(emulator)
    stats = StreamStats()

    list(client.iter_referral_pages("discovery", QUERY, cutoff=None, max_pages=2, stats=stats))

    assert (stats.pages, stats.stop_reason, stats.max_pages_reached) == (2, "no_next_link", False)


def test_the_stream_stops_after_the_first_page_whose_newest_record_is_older_than_the_cutoff(
    emulator: Emulator, reader
) -> None:
    referrals = newest_first(incoming_active(350))
    emulator.set_referrals(referrals)
    client = reader(emulator)
    stats = StreamStats()
    cutoff = parse_timestamp(referrals[50]["updatedDateTime"])

    pages = list(client.iter_referral_pages("discovery", QUERY, cutoff=cutoff, max_pages=10, stats=stats))

    assert [len(page.records) for page in pages] == [100, 100]
    assert stats.stop_reason == "watermark"
    assert len(emulator.api_requests()) == 2


def test_a_page_whose_newest_record_is_exactly_at_the_cutoff_does_not_stop_the_stream(
    emulator: Emulator, reader
) -> None:
    referrals = newest_first(incoming_active(350))
    emulator.set_referrals(referrals)
    client = reader(emulator)
    stats = StreamStats()
    cutoff = parse_timestamp(referrals[100]["updatedDateTime"])

    list(client.iter_referral_pages("discovery", QUERY, cutoff=cutoff, max_pages=10, stats=stats))

    assert stats.pages == 3
    assert stats.stop_reason == "watermark"


def test_no_cutoff_reads_everything(emulator: Emulator, reader) -> None:
    emulator.set_referrals(incoming_active(250))
    client = reader(emulator)
    stats = StreamStats()

    list(client.iter_referral_pages("discovery", QUERY, cutoff=None, max_pages=10, stats=stats))

    assert (stats.pages, stats.stop_reason) == (3, "no_next_link")


def test_get_referral_returns_one_referral(emulator: Emulator, reader) -> None:
    referrals = incoming_active(5)
    emulator.set_referrals(referrals)
    client = reader(emulator)

    referral = client.get_referral(referrals[3]["id"])

    assert referral["id"] == referrals[3]["id"]
    assert referral["name"] == referrals[3]["name"]


# -- shapes the emulator does not produce: a scripted loopback API, tokens from the emulator ----------


@pytest.fixture
def scripted_client(
    emulator: Emulator,
    open_client: Callable[..., PartnerCenterClient],
    password_settings: Callable[..., Settings],
) -> Callable[[ScriptedApi], PartnerCenterClient]:
    """A client of a scripted API, signed in against the emulator's identity endpoints."""
    return lambda api: open_client(password_settings(emulator, base_url=api.base_url))


def record(referral_id: str, updated: Any) -> dict[str, Any]:
    return {"id": referral_id, "updatedDateTime": updated}


def test_a_next_link_to_another_host_is_refused_without_sending_anything_there(
    start_scripted_api: Callable[[], ScriptedApi], scripted_client
) -> None:
    api, elsewhere = start_scripted_api(), start_scripted_api()
    foreign = f"{elsewhere.base_url}{LIST_PATH}?$skiptoken=abc"
    api.page(LIST_PATH, [record("a", "2025-01-01T00:00:00Z")], next_link=foreign)
    elsewhere.page(LIST_PATH, [record("b", "2025-01-01T00:00:00Z")])
    client = scripted_client(api)
    pages = client.iter_referral_pages("discovery", QUERY, cutoff=None, max_pages=10)

    first = next(pages)
    with pytest.raises(PartnerCenterNextLinkError, match="not the configured API host") as raised:
        next(pages)

    assert first.records == [record("a", "2025-01-01T00:00:00Z")]
    assert elsewhere.requests == []
    assert raised.value.url == foreign


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.example/v1.0/engagements/referrals?$skiptoken=abc",
        "ftp://127.0.0.1/v1.0/engagements/referrals",
        "//evil.example/v1.0/engagements/referrals",
        "https://user@evil.example@127.0.0.1/v1.0/engagements/referrals",
    ],
)
def test_links_to_other_hosts_or_schemes_are_refused(link: str) -> None:
    with pytest.raises(PartnerCenterNextLinkError):
        resolve_next_link(link, "https://127.0.0.1:8443")


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        (
            "https://api.partner.microsoft.com/v1.0/engagements/referrals?$skiptoken=k1%2fpE%2b%3d",
            "https://api.partner.microsoft.com/v1.0/engagements/referrals?$skiptoken=k1%2fpE%2b%3d",
        ),
        (
            "http://api.partner.microsoft.com/v1.0/referrals?$skiptoken=k1%2fpE",
            "https://api.partner.microsoft.com/v1.0/referrals?$skiptoken=k1%2fpE",
        ),
        (
            "/v1.0/engagements/referrals?$skiptoken=%7Eabc",
            "https://api.partner.microsoft.com/v1.0/engagements/referrals?$skiptoken=%7Eabc",
        ),
        (
            "HTTPS://API.Partner.Microsoft.com:443/v1.0/x?$skiptoken=1",
            "HTTPS://API.Partner.Microsoft.com:443/v1.0/x?$skiptoken=1",
        ),
    ],
)
def test_links_on_the_api_host_are_followed_as_given(link: str, expected: str) -> None:
    assert resolve_next_link(link, "https://api.partner.microsoft.com") == expected


def test_an_http_link_is_upgraded_to_the_base_urls_scheme_and_port() -> None:
    resolved = resolve_next_link(
        "http://127.0.0.1/v1.0/engagements/referrals?$skiptoken=x", "https://127.0.0.1:8443"
    )

    assert resolved == "https://127.0.0.1:8443/v1.0/engagements/referrals?$skiptoken=x"


def test_a_repeated_next_link_ends_the_stream_with_a_warning(
    start_scripted_api: Callable[[], ScriptedApi], scripted_client, caplog: pytest.LogCaptureFixture
) -> None:
    api = start_scripted_api()
    again = f"{LIST_PATH}?$skiptoken=again"
    api.page(LIST_PATH, [record("a", None)], next_link=again)
    api.page(again, [record("b", None)], next_link=again)
    client = scripted_client(api)
    stats = StreamStats()

    with caplog.at_level(logging.WARNING):
        pages = list(client.iter_referral_pages("discovery", QUERY, cutoff=None, max_pages=10, stats=stats))

    assert [p.records[0]["id"] for p in pages] == ["a", "b"]
    assert stats.stop_reason == "repeated_link"
    assert len(api.requests) == 2
    assert any("repeats" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


AGAIN = f"{LIST_PATH}?$filter=status eq 'Active'&$skip=1"
FIRST_PAGE_AGAIN = f"{LIST_PATH}?" + "&".join(f"{name}={value}" for name, value in reversed(QUERY.items()))


@pytest.mark.parametrize(
    ("first_next", "second_path", "second_next"),
    [
        pytest.param(
            AGAIN, f"{LIST_PATH}?$filter=status%20eq%20'Active'&$skip=1", AGAIN, id="unencoded-repeat"
        ),
        pytest.param(
            f"{LIST_PATH}?$skiptoken=2",
            f"{LIST_PATH}?$skiptoken=2",
            FIRST_PAGE_AGAIN,
            id="back-to-first-page",
        ),
    ],
)
def test_a_next_link_to_a_page_read_in_another_encoding_ends_the_stream(
    start_scripted_api: Callable[[], ScriptedApi],
    scripted_client,
    first_next: str,
    second_path: str,
    second_next: str,
) -> None:
    api = start_scripted_api()
    api.page(LIST_PATH, [record("a", None)], next_link=first_next)
    api.page(second_path, [record("b", None)], next_link=second_next)
    client = scripted_client(api)
    stats = StreamStats()

    pages = list(client.iter_referral_pages("discovery", QUERY, cutoff=None, max_pages=10, stats=stats))

    assert [p.records[0]["id"] for p in pages] == ["a", "b"]
    assert (stats.stop_reason, len(api.requests)) == ("repeated_link", 2)


def test_an_empty_page_with_a_next_link_ends_the_stream_with_a_warning(
    start_scripted_api: Callable[[], ScriptedApi], scripted_client, caplog: pytest.LogCaptureFixture
) -> None:
    api = start_scripted_api()
    api.page(LIST_PATH, [record("a", None)], next_link=f"{LIST_PATH}?$skiptoken=2")
    api.page(f"{LIST_PATH}?$skiptoken=2", [], next_link=f"{LIST_PATH}?$skiptoken=3")
    api.page(f"{LIST_PATH}?$skiptoken=3", [record("c", None)])
    client = scripted_client(api)
    stats = StreamStats()

    with caplog.at_level(logging.WARNING):
        pages = list(client.iter_referral_pages("discovery", QUERY, cutoff=None, max_pages=10, stats=stats))

    assert [len(p.records) for p in pages] == [1, 0]
    assert stats.stop_reason == "empty_page"
    assert len(api.requests) == 2
    assert any("empty page" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_the_warning_that_ends_a_stream_names_the_status_request_id_and_url_of_the_last_page(
    start_scripted_api: Callable[[], ScriptedApi], scripted_client, caplog: pytest.LogCaptureFixture
) -> None:
    api = start_scripted_api()
    api.page(LIST_PATH, [record("a", None)], next_link=f"{LIST_PATH}?$skiptoken=2")
    api.page(f"{LIST_PATH}?$skiptoken=2", [], next_link=f"{LIST_PATH}?$skiptoken=3")
    client = scripted_client(api)

    with caplog.at_level(logging.WARNING):
        pages = list(
            client.iter_referral_pages("discovery", QUERY, cutoff=None, max_pages=10, stats=StreamStats())
        )

    warning = next(r.getMessage() for r in caplog.records if "stopped after page" in r.getMessage())
    assert pages[-1].url in warning
    assert f"-> 200 (request-id {pages[-1].request_id})" in warning


def test_a_page_without_parseable_timestamps_never_stops_the_stream(
    start_scripted_api: Callable[[], ScriptedApi], scripted_client
) -> None:
    api = start_scripted_api()
    old = "2001-01-01T00:00:00Z"
    unparseable = [record("a", "not a date"), "not an object", {"id": "b"}]
    api.page(LIST_PATH, unparseable, next_link=f"{LIST_PATH}?p=2")
    api.page(f"{LIST_PATH}?p=2", [record("c", old)], next_link=f"{LIST_PATH}?p=3")
    api.page(f"{LIST_PATH}?p=3", [record("d", old)])
    client = scripted_client(api)
    stats = StreamStats()
    cutoff = parse_timestamp("2024-01-01T00:00:00Z")

    pages = list(client.iter_referral_pages("discovery", QUERY, cutoff=cutoff, max_pages=10, stats=stats))

    assert len(pages) == 2
    assert pages[0].records == unparseable
    assert stats.stop_reason == "watermark"


def test_a_record_that_is_not_an_object_is_passed_on_untouched(
    start_scripted_api: Callable[[], ScriptedApi], scripted_client
) -> None:
    api = start_scripted_api()
    api.page(LIST_PATH, [None, 3, ["x"], record("a", "2025-01-01T00:00:00.1234567Z")])
    client = scripted_client(api)

    (page,) = client.iter_referral_pages("discovery", QUERY, cutoff=None, max_pages=10)

    assert page.records == [None, 3, ["x"], record("a", "2025-01-01T00:00:00.1234567Z")]
    assert page.odata_count is None
