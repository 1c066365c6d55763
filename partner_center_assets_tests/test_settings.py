"""Reading the contract's configuration: defaults, lists, and values no sync could run with."""

from __future__ import annotations

import pytest

from partner_center_assets.defs.partner_center.resources import PartnerCenter, partner_center_from_env
from partner_center_assets.parallel import available_cpus
from partner_center_assets.settings import DEFAULT_STATUS, MAX_DEFAULT_WORKERS, PREFIX, Settings


def test_unset_variables_take_the_contract_defaults() -> None:
    settings = Settings.from_env({})

    assert (settings.direction, settings.statuses, settings.top) == ("Incoming", ("Active",), 200)
    assert (settings.max_pages, settings.requests_per_minute, settings.lookback_minutes) == (10, 60, 60)
    assert settings.base_url == "https://api.partner.microsoft.com"
    assert settings.retry_budget_seconds == 900


def test_a_status_list_of_only_commas_counts_as_unset() -> None:
    assert Settings.from_env({PREFIX + "REFERRAL_DEFAULT_STATUS": " , ,"}).statuses == (DEFAULT_STATUS,)


def test_documented_direction_and_statuses_are_sent_in_the_apis_case() -> None:
    settings = Settings.from_env(
        {PREFIX + "REFERRAL_DEFAULT_DIRECTION": "incoming", PREFIX + "REFERRAL_DEFAULT_STATUS": "new, ACTIVE"}
    )

    assert (settings.direction, settings.statuses) == ("Incoming", ("New", "Active"))
    assert settings.undocumented_filter_values() == []


def test_an_undocumented_status_is_kept_and_named() -> None:
    settings = Settings.from_env({PREFIX + "REFERRAL_DEFAULT_STATUS": "Active,Archived"})

    assert settings.statuses == ("Active", "Archived")
    assert settings.undocumented_filter_values() == [
        f"{PREFIX}REFERRAL_DEFAULT_STATUS='Archived' is not one of None, New, Active, Closed"
    ]


@pytest.mark.parametrize(
    ("suffix", "value"),
    [
        ("REFERRAL_DEFAULT_TOP", "0"),
        ("MAX_PAGES", "0"),
        ("REQUESTS_PER_MINUTE", "-5"),
        ("LOOKBACK_MINUTES", "-5"),
        ("RETRY_BUDGET_SECONDS", "-1"),
        ("WORKERS", "-1"),
        ("WORKERS", "two"),
        ("REFERRAL_DEFAULT_TOP", "abc"),
        ("REFERRAL_DEFAULT_TOP", "2147483648"),
        ("TOKEN_CACHE", "/"),
        ("BASE_URL", "not a url"),
        ("BASE_URL", "ftp://api.partner.microsoft.com"),
        ("BASE_URL", "http://api.partner.microsoft.com"),
        ("BASE_URL", "https://host:notaport"),
        ("AUTHORITY_HOST", "http://127.0.0.1:8443"),
        ("REFERRAL_DEFAULT_DIRECTION", "In coming"),
        ("REFERRAL_DEFAULT_STATUS", "Active,New'or'1"),
    ],
)
def test_a_value_no_sync_could_run_with_is_refused_naming_its_variable(suffix: str, value: str) -> None:
    with pytest.raises(ValueError, match=PREFIX + suffix):
        Settings.from_env({PREFIX + suffix: value})


def test_workers_default_to_one_per_cpu_up_to_the_ceiling() -> None:
    assert Settings.from_env({}).worker_count() == min(available_cpus(), MAX_DEFAULT_WORKERS)
    assert Settings.from_env({PREFIX + "WORKERS": "0"}).worker_count() == Settings.from_env({}).worker_count()


def test_a_number_of_workers_is_taken_as_given() -> None:
    assert Settings.from_env({PREFIX + "WORKERS": "1"}).worker_count() == 1
    assert Settings.from_env({PREFIX + "WORKERS": "6"}).worker_count() == 6


def test_plain_http_is_accepted_for_an_api_on_this_machine() -> None:
    settings = Settings.from_env({PREFIX + "BASE_URL": "http://127.0.0.1:8080"})

    assert settings.base_url == "http://127.0.0.1:8080"


def test_the_resource_trims_values_as_the_environment_reader_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PREFIX + "REFERRAL_DEFAULT_DIRECTION", "Incoming ")

    assert PartnerCenter(referral_default_direction=" Incoming ").settings().direction == "Incoming"
    assert Settings.from_env().direction == "Incoming"


def test_the_resource_binds_the_retry_budget_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PREFIX + "RETRY_BUDGET_SECONDS", "120")

    resource = partner_center_from_env().process_config_and_initialize()

    assert resource.settings().retry_budget_seconds == 120
