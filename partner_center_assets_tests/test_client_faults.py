"""Faults on the way: throttling, outages, broken bodies, expired tokens, refused access, TLS, pacing."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING

import pytest

from partner_center_assets.client import (
    PartnerCenterAuthError,
    PartnerCenterClient,
    PartnerCenterError,
    PartnerCenterRateLimitError,
    StreamStats,
    TokenProvider,
    build_referral_query,
)
from partner_center_assets.client.http import parse_retry_after
from partner_center_assets.emulator import Emulator, Fault
from partner_center_assets.settings import Settings

if TYPE_CHECKING:
    from partner_center_assets_tests.emulator_fixtures import FakeTime

pytest_plugins = ["partner_center_assets_tests.emulator_fixtures"]
pytestmark = pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning")

QUERY = build_referral_query(direction="Incoming", statuses=["New", "Active"], top=100)
LIST_PATH = "/v1.0/engagements/referrals"


@pytest.fixture
def emulator(start_emulator: Callable[..., Emulator]) -> Emulator:
    """250 referrals that all match ``QUERY``: three pages of at most 100."""
    emu = start_emulator()
    referrals = emu.referrals
    for referral in referrals:
        referral["direction"], referral["status"] = "Incoming", "Active"
    emu.set_referrals(referrals)
    return emu


@pytest.fixture
def reader(
    emulator: Emulator,
    open_client: Callable[..., PartnerCenterClient],
    password_settings: Callable[..., Settings],
) -> Callable[..., PartnerCenterClient]:
    """``reader(**options)``: a client of the emulator signed in with its user."""
    return lambda **options: open_client(password_settings(emulator), **options)


def read_all(client: PartnerCenterClient, stats: StreamStats | None = None) -> list[dict]:
    pages = client.iter_referral_pages("discovery", QUERY, cutoff=None, max_pages=10, stats=stats)
    return [record for page in pages for record in page.records]


def token_grants(emu: Emulator) -> list[str | None]:
    return [r.grant_type for r in emu.requests if r.path.endswith("/oauth2/v2.0/token")]


def test_429_is_retried_after_the_retry_after_seconds(
    emulator: Emulator, reader, fake_time: FakeTime
) -> None:
    emulator.add_fault(Fault("status", status=429, retry_after="1", count=2))
    stats = StreamStats()

    records = read_all(reader(), stats)

    assert len(records) == 250
    assert fake_time.sleeps == [1.0, 1.0]
    assert (stats.requests, stats.retries, stats.throttled_seconds) == (5, 2, 2.0)
    assert [r.status for r in emulator.api_requests()][:3] == [429, 429, 200]


def test_the_first_page_reports_its_attempts(emulator: Emulator, reader) -> None:
    emulator.add_fault(Fault("status", status=429, retry_after="1", count=2))

    first = next(reader().iter_referral_pages("discovery", QUERY, cutoff=None, max_pages=10))

    assert first.attempts == 3
    assert first.request_id == emulator.api_requests()[2].request_id


def test_a_retry_after_date_is_honoured_up_to_the_cap(
    emulator: Emulator, reader, fake_time: FakeTime
) -> None:
    an_hour_later = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    emulator.add_fault(Fault("status", status=503, retry_after=an_hour_later))

    read_all(reader(max_retry_after=7.5))

    assert fake_time.sleeps == [7.5]


def test_retry_after_is_read_as_seconds_or_an_http_date() -> None:
    now = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)

    assert parse_retry_after("57", now=now) == 57.0
    assert parse_retry_after("Sat, 01 Mar 2025 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Sat, 01 Mar 2025 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None, now=now) is None


def test_persistent_429_raises_a_rate_limit_error_naming_the_request(emulator: Emulator, reader) -> None:
    emulator.add_fault(Fault("status", status=429, retry_after="2", count=None))

    with pytest.raises(PartnerCenterRateLimitError) as raised:
        read_all(reader(max_attempts=3))

    last = emulator.api_requests()[-1]
    assert len(emulator.api_requests()) == 3
    assert raised.value.status_code == 429
    assert raised.value.request_id == last.request_id
    assert last.request_id in str(raised.value)
    assert f"{emulator.base_url}{LIST_PATH}" in str(raised.value)


def test_the_retry_budget_ends_a_storm_before_the_attempts_run_out(
    emulator: Emulator, password_settings, open_client, fake_time: FakeTime
) -> None:
    emulator.add_fault(Fault("status", status=429, retry_after="30", count=None))
    client = open_client(password_settings(emulator, retry_budget_seconds=75), max_attempts=6)

    with pytest.raises(PartnerCenterRateLimitError) as raised:
        read_all(client)

    assert fake_time.sleeps == [30.0, 30.0]
    assert len(emulator.api_requests()) == 3
    assert "HUNTER_PARTNER_CENTER_RETRY_BUDGET_SECONDS (75)" in str(raised.value)
    assert "waited 60 s" in str(raised.value)


def test_the_retry_budget_is_shared_by_every_page_of_a_sync(
    emulator: Emulator, password_settings, open_client, fake_time: FakeTime
) -> None:
    client = open_client(password_settings(emulator, retry_budget_seconds=50))
    emulator.add_fault(Fault("status", status=503, retry_after="20", count=2))
    first = next(client.iter_referral_pages("discovery", QUERY, cutoff=None, max_pages=10))
    emulator.add_fault(Fault("status", status=503, retry_after="20", count=2))

    with pytest.raises(PartnerCenterError) as raised:
        read_all(client)

    assert first.attempts == 3
    assert fake_time.sleeps == [20.0, 20.0]
    assert "RETRY_BUDGET_SECONDS" in str(raised.value)


def test_a_storm_within_the_retry_budget_recovers(
    emulator: Emulator, password_settings, open_client, fake_time: FakeTime
) -> None:
    emulator.add_fault(Fault("status", status=429, retry_after="30", count=3))
    client = open_client(password_settings(emulator, retry_budget_seconds=90))

    assert len(read_all(client)) == 250
    assert fake_time.sleeps == [30.0, 30.0, 30.0]


def test_5xx_without_retry_after_backs_off_with_jitter_and_recovers(
    emulator: Emulator, reader, fake_time: FakeTime
) -> None:
    emulator.add_fault(Fault("status", status=503, count=3))

    records = read_all(reader(backoff_base=0.5, max_retry_after=60))

    assert len(records) == 250
    assert len(fake_time.sleeps) == 3
    windows = [0.5, 1.0, 2.0]
    assert all(0 <= slept <= window for slept, window in zip(fake_time.sleeps, windows, strict=True))


def test_persistent_5xx_raises_an_error_with_status_request_id_and_url(emulator: Emulator, reader) -> None:
    emulator.add_fault(Fault("status", status=500, count=None, after=1))

    with pytest.raises(PartnerCenterError) as raised:
        read_all(reader(max_attempts=4))

    last = emulator.api_requests()[-1]
    assert not isinstance(raised.value, PartnerCenterRateLimitError | PartnerCenterAuthError)
    assert len(emulator.api_requests()) == 1 + 4
    assert raised.value.status_code == 500
    assert last.request_id in str(raised.value)
    assert "500" in str(raised.value)
    assert "$skiptoken=" in str(raised.value)


def test_a_dropped_connection_is_retried(emulator: Emulator, reader) -> None:
    emulator.add_fault(Fault("drop", count=2, after=1))
    stats = StreamStats()

    records = read_all(reader(), stats)

    assert len(records) == 250
    assert stats.retries == 2
    assert [r.status for r in emulator.api_requests()][:4] == [200, None, None, 200]


def test_connections_that_keep_dropping_fail_clearly(emulator: Emulator, reader) -> None:
    emulator.add_fault(Fault("drop", count=None))

    with pytest.raises(PartnerCenterError, match="Could not reach Partner Center after 3 attempts"):
        read_all(reader(max_attempts=3))


def test_a_response_slower_than_the_read_timeout_is_retried(emulator: Emulator, reader) -> None:
    emulator.add_fault(Fault("slow", delay=0.5))

    records = read_all(reader(timeout=(5, 0.1)))

    assert len(records) == 250


def test_a_truncated_page_is_retried(emulator: Emulator, reader) -> None:
    emulator.add_fault(Fault("malformed", count=2, after=1))
    stats = StreamStats()

    records = read_all(reader(), stats)

    assert len(records) == 250
    assert len({r["id"] for r in records}) == 250
    assert stats.retries == 2


def test_a_page_that_stays_malformed_fails_clearly(emulator: Emulator, reader) -> None:
    emulator.add_fault(Fault("malformed", count=None))

    with pytest.raises(PartnerCenterError, match=r"malformed body \(not JSON, \d+ bytes\) after 3 attempts"):
        read_all(reader(max_attempts=3))


def test_a_page_whose_value_is_not_a_list_is_retried_then_fails(
    start_scripted_api, emulator: Emulator, open_client, password_settings: Callable[..., Settings]
) -> None:
    api = start_scripted_api()
    api.bodies[LIST_PATH] = {"value": {"id": "not-a-list"}}
    client = open_client(password_settings(emulator, base_url=api.base_url), max_attempts=2)

    with pytest.raises(PartnerCenterError, match="'value' is dict, not an array"):
        read_all(client)

    assert len(api.requests) == 2


def test_an_access_token_expiring_mid_stream_is_refreshed_and_the_stream_continues(
    emulator: Emulator, reader, caplog: pytest.LogCaptureFixture
) -> None:
    pages = reader().iter_referral_pages("discovery", QUERY, cutoff=None, max_pages=10)
    first = next(pages)
    emulator.expire_access_tokens()

    with caplog.at_level(logging.WARNING):
        rest = list(pages)

    assert len(first.records) + sum(len(p.records) for p in rest) == 250
    assert [r.status for r in emulator.api_requests()] == [200, 401, 200, 200]
    assert token_grants(emulator) == ["password", "password"]
    assert any("401" in r.getMessage() and "refreshing" in r.getMessage() for r in caplog.records)


def test_short_lived_tokens_are_renewed_by_the_cached_refresh_token(
    start_emulator: Callable[..., Emulator],
    open_client: Callable[..., PartnerCenterClient],
    password_settings: Callable[..., Settings],
    emulator_settings: Callable[..., Settings],
) -> None:
    emu = start_emulator(access_token_lifetime=120)
    signer = TokenProvider.from_settings(password_settings(emu))
    signer.get_token()
    signer.close()
    client = open_client(emulator_settings(emu))

    list(client.iter_referral_pages("discovery", {"$top": "100"}, cutoff=None, max_pages=10))

    assert token_grants(emu) == ["password", "refresh_token", "refresh_token", "refresh_token"]
    assert all(r.status == 200 for r in emu.api_requests())


def test_an_expired_token_fault_mid_stream_gets_one_refresh(emulator: Emulator, reader) -> None:
    emulator.add_fault(Fault("expire_token", after=1))

    records = read_all(reader())

    assert len(records) == 250
    assert token_grants(emulator) == ["password", "password"]


def test_a_second_401_after_a_refresh_is_an_auth_error_saying_what_to_do(emulator: Emulator, reader) -> None:
    emulator.add_fault(Fault("status", status=401, count=None))

    with pytest.raises(PartnerCenterAuthError) as raised:
        read_all(reader())

    message = str(raised.value)
    assert "partner-center login" in message
    assert "Referral Admin or Referral User" in message
    assert raised.value.request_id == emulator.api_requests()[-1].request_id
    assert len(emulator.api_requests()) == 2
    assert token_grants(emulator) == ["password", "password"]


def test_403_is_an_auth_error_without_a_refresh(emulator: Emulator, reader) -> None:
    emulator.add_fault(Fault("status", status=403))

    with pytest.raises(PartnerCenterAuthError, match=r"403.*Referral Admin or Referral User role"):
        read_all(reader())

    assert len(emulator.api_requests()) == 1
    assert token_grants(emulator) == ["password"]


def test_other_client_errors_are_not_retried(emulator: Emulator, reader) -> None:
    with pytest.raises(PartnerCenterError, match="404") as raised:
        reader().get_referral("no-such-referral")

    assert raised.value.status_code == 404
    assert "itemNotFound" in str(raised.value)
    assert len(emulator.api_requests()) == 1


def test_every_request_asks_for_json_with_a_bearer_token_and_a_new_client_request_id(
    start_scripted_api, emulator: Emulator, open_client, password_settings: Callable[..., Settings]
) -> None:
    api = start_scripted_api()
    api.page(LIST_PATH, [{"id": "a"}], next_link=f"{LIST_PATH}?$skiptoken=2")
    api.page(f"{LIST_PATH}?$skiptoken=2", [{"id": "b"}])

    read_all(open_client(password_settings(emulator, base_url=api.base_url)))

    ids = [r.client_request_id for r in api.requests]
    assert [r.accept for r in api.requests] == ["application/json", "application/json"]
    assert all((r.authorization or "").startswith("Bearer at.") for r in api.requests)
    assert all(str(uuid.UUID(i)) == i for i in ids) and len(set(ids)) == 2


def test_every_response_is_logged_with_status_request_id_and_url(
    emulator: Emulator, reader, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.add_fault(Fault("status", status=503, count=1))

    with caplog.at_level(logging.DEBUG, logger="partner_center_assets.client"):
        read_all(reader())

    api = emulator.api_requests()
    assert [r.status for r in api] == [503, 200, 200, 200]
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("partner_center_assets.client.http")]
    for record in api:
        assert any(
            record.request_id in line
            and str(record.status) in line
            and f"{emulator.base_url}{LIST_PATH}" in line
            for line in ours
        )


def test_an_untrusted_api_certificate_fails_at_once_with_a_hint(
    emulator: Emulator,
    open_client: Callable[..., PartnerCenterClient],
    password_settings: Callable[..., Settings],
) -> None:
    provider = TokenProvider.from_settings(password_settings(emulator))
    client = open_client(password_settings(emulator, ca_bundle=None), token_provider=provider)

    with pytest.raises(PartnerCenterError, match="HUNTER_PARTNER_CENTER_CA_BUNDLE"):
        read_all(client)

    assert emulator.api_requests() == []


def test_an_untrusted_identity_certificate_fails_with_a_hint(
    emulator: Emulator, password_settings: Callable[..., Settings]
) -> None:
    provider = TokenProvider.from_settings(password_settings(emulator, ca_bundle=None))

    with pytest.raises(PartnerCenterError, match="HUNTER_PARTNER_CENTER_CA_BUNDLE"):
        provider.get_token()


def test_requests_are_paced_to_the_configured_rate(
    emulator: Emulator,
    open_client: Callable[..., PartnerCenterClient],
    password_settings: Callable[..., Settings],
    fake_time: FakeTime,
) -> None:
    client = open_client(password_settings(emulator, requests_per_minute=120))

    read_all(client)

    assert fake_time.sleeps == [0.5, 0.5]
