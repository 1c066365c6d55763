"""End to end: the emulator over HTTPS, real MSAL, the assets, and DuckDB or real PostgreSQL."""

from __future__ import annotations

import copy
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta

import dagster as dg
import idna
import pytest

from partner_center_assets.emulator import Emulator, Fault, RawReferral, generate_referrals
from partner_center_assets.emulator.generator import format_api_timestamp
from partner_center_assets.hunter_db import migrate
from partner_center_assets.hunter_db.engine import create_hunter_engine
from partner_center_assets.ingest.domains import DomainResolver
from partner_center_assets.ingest.reasons import SKIP_REASONS
from partner_center_assets.settings import PREFIX
from partner_center_assets_tests.pipeline_harness import (
    PYTHON_ASSETS,
    Pipeline,
    check_result,
    metadata_of,
    point_at_emulator,
)
from partner_center_assets_tests.token_cache_files import age_refresh_tokens

COUNT = 260
LATER = datetime.now(UTC) + timedelta(days=1)


@pytest.fixture
def emulator():
    with Emulator(count=COUNT, seed=11) as emulator:
        yield emulator


@pytest.fixture
def pipeline(database_url, tmp_path, emulator, monkeypatch):
    point_at_emulator(monkeypatch, emulator, tmp_path)
    monkeypatch.setenv(PREFIX + "REFERRAL_DEFAULT_STATUS", "New,Active")
    monkeypatch.setenv(PREFIX + "MAX_PAGES", "50")
    pipeline = Pipeline(database_url, tmp_path / "staging")
    yield pipeline
    pipeline.close()


def discoverable(referrals: list[dict]) -> list[dict]:
    return [r for r in referrals if r.get("direction") == "Incoming" and r.get("status") in ("New", "Active")]


def touched(referral: dict, **changes) -> dict:
    changed = copy.deepcopy(referral)
    changed.update(changes)
    changed["updatedDateTime"] = format_api_timestamp(LATER)
    return changed


def with_domain(referrals: list[dict], resolver: DomainResolver, **where) -> list[dict]:
    return [
        r for r in referrals if resolver.resolve(r).domain and all(r.get(k) == v for k, v in where.items())
    ]


def test_first_sync_stores_every_discoverable_referral_and_counters_add_up(pipeline, emulator):
    result = pipeline.run()
    counters = metadata_of(result, "partner_center_referrals")
    expected = discoverable(emulator.referrals)
    assert counters["fetched"] == len(expected)
    skipped = sum(counters[f"skipped_{reason}"] for reason in SKIP_REASONS)
    assert counters["inserted"] + counters["updated"] + counters["unchanged"] + skipped == counters["fetched"]
    assert counters["inserted"] == pipeline.scalar("SELECT count(*) FROM partner_center_referrals") > 0
    assert pipeline.rows("SELECT status, fetched, inserted FROM partner_center_sync_runs") == [
        ("success", counters["fetched"], counters["inserted"])
    ]


def test_skipped_by_reason_check_reports_every_reason_with_zeros(pipeline):
    result = pipeline.run()
    evaluation = check_result(result, "skipped_by_reason")
    for reason in SKIP_REASONS:
        assert isinstance(evaluation.metadata[reason].value, int)
    counters = metadata_of(result, "partner_center_referrals")
    assert evaluation.metadata["no_domain"].value == counters["skipped_no_domain"]
    assert evaluation.metadata["invalid_payload"].value == 0


def test_quality_checks_pass_after_a_sync(pipeline):
    result = pipeline.run()
    for name in ("unique_referral_ids", "one_link_per_ingested_referral", "no_pending_scan_duplicates"):
        assert check_result(result, name).passed, name


def test_pending_scans_of_one_domain_in_two_cases_fail_the_duplicate_check(pipeline):
    pipeline.run()
    domain = pipeline.scalar("SELECT min(domain) FROM domain_scan_requests WHERE status = 'pending'")
    with pipeline.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO domain_scan_requests (id, domain, source, status, requested_at) "
            f"VALUES (900001, '{domain.upper()}', 'hunter', 'pending', TIMESTAMP '2026-01-01')"
        )

    result = pipeline.run()

    evaluation = check_result(result, "no_pending_scan_duplicates")
    assert not evaluation.passed
    assert evaluation.metadata["domains_with_duplicate_pending"].value == 1


def test_every_stored_referral_with_a_domain_is_linked_once(pipeline):
    pipeline.run()
    unlinked = pipeline.scalar(
        "SELECT count(*) FROM partner_center_referrals r LEFT JOIN partner_center_lead_links l "
        "ON l.referral_id = r.id WHERE r.domain IS NOT NULL AND l.referral_id IS NULL"
    )
    assert unlinked == 0
    assert pipeline.scalar("SELECT count(*) FROM partner_center_lead_links") > 0
    pending = pipeline.scalar("SELECT count(*) FROM domain_scan_requests WHERE status = 'pending'")
    assert pending == pipeline.scalar("SELECT count(DISTINCT domain) FROM domain_scan_requests")


def test_second_sync_applies_status_changes_deal_values_and_new_referrals(pipeline, emulator):
    pipeline.run()
    resolver = DomainResolver()
    stored = {row[0] for row in pipeline.rows("SELECT id FROM partner_center_referrals")}
    new_ones = [r for r in with_domain(emulator.referrals, resolver, status="New") if r["id"] in stored]
    active = [r for r in with_domain(emulator.referrals, resolver, status="Active") if r["id"] in stored]
    promoted = touched(new_ones[0], status="Active", substatus="Accepted")
    won = touched(active[0], status="Closed", substatus="Won")
    lost = touched(active[1], status="Closed", substatus="Lost")
    repriced = touched(active[2], details={**(active[2].get("details") or {}), "dealValue": 123456.5})
    fresh = [
        touched(
            active[3],
            id=str(uuid.uuid4()),
            customerProfile={
                **active[3]["customerProfile"],
                "team": [{"email": f"buyer{i}@newcustomer{i}.co.uk"}],
            },
        )
        for i in range(3)
    ]
    emulator.upsert_referrals([promoted, won, lost, repriced, *fresh])

    counters = metadata_of(pipeline.run(), "partner_center_referrals")

    assert (counters["inserted"], counters["updated"]) == (3, 4)
    statuses = dict(
        pipeline.rows(
            f"SELECT id, status || '/' || substatus FROM partner_center_referrals WHERE id IN "
            f"('{promoted['id']}', '{won['id']}', '{lost['id']}')"
        )
    )
    assert statuses == {promoted["id"]: "Active/Accepted", won["id"]: "Closed/Won", lost["id"]: "Closed/Lost"}
    assert pipeline.scalar(
        f"SELECT deal_value FROM partner_center_referrals WHERE id = '{repriced['id']}'"
    ) == (123456.5)
    assert pipeline.scalar("SELECT count(*) FROM companies WHERE domain LIKE 'newcustomer%'") == 3


def test_sync_with_nothing_new_writes_nothing_and_reads_one_page_past_the_cutoff(pipeline, emulator):
    pipeline.run()
    pipeline.run()
    before = pipeline.rows("SELECT id, last_synced_at FROM partner_center_referrals ORDER BY id")
    emulator.reset_log()

    counters = metadata_of(pipeline.run(), "partner_center_referrals")

    assert (counters["inserted"], counters["updated"]) == (0, 0)
    assert counters["unchanged"] == counters["fetched"] - sum(
        counters[f"skipped_{reason}"] for reason in SKIP_REASONS
    )
    assert pipeline.rows("SELECT id, last_synced_at FROM partner_center_referrals ORDER BY id") == before
    filters = [request.query.get("$filter", "") for request in emulator.api_requests() if request.query]
    closed = sum("'Closed'" in text for text in filters)
    assert (len(filters) - closed, closed) == (2, 1)  # the Closed referrals all fit on one page


def test_pre_existing_lead_of_a_domain_is_linked_as_linked_existing(pipeline, emulator):
    resolver = DomainResolver()
    referral = with_domain(emulator.referrals, resolver, status="Active", direction="Incoming")[0]
    domain = resolver.resolve(referral).domain
    engine = create_hunter_engine(pipeline.database_url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO leads (id, domain, source, external_id, created_at, updated_at) "
            f"VALUES (9001, '{domain.upper()}', 'hunter_web', 'w-1', "
            "TIMESTAMP '2020-01-01', TIMESTAMP '2020-01-01')"
        )
    engine.dispose()

    pipeline.run()

    assert pipeline.rows(
        f"SELECT lead_id, link_type FROM partner_center_lead_links WHERE referral_id = '{referral['id']}'"
    ) == [(9001, "linked_existing")]


def test_faults_mid_sync_end_in_the_same_state_as_a_clean_run(pipeline, emulator, tmp_path):
    clean = Pipeline(f"duckdb:///{tmp_path / 'clean.duckdb'}", tmp_path / "clean_staging")
    clean.run()
    emulator.add_fault(Fault("status", status=429, retry_after="1", after=1))
    emulator.add_fault(Fault("status", status=503, after=2))
    emulator.add_fault(Fault("drop", after=3))
    emulator.add_fault(Fault("malformed", after=4))
    emulator.add_fault(Fault("expire_token", after=2))

    pipeline.run()

    faulty_state, clean_state = pipeline.state(), clean.state()
    clean.close()
    assert faulty_state == clean_state


def test_refused_password_fails_the_run_clearly_and_records_a_failed_sync(pipeline, monkeypatch):
    monkeypatch.setenv(PREFIX + "PASSWORD", "wrong-password-value")
    result = pipeline.run(raise_on_error=False)
    assert not result.success
    error = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    message = error.to_string()
    assert "partner-center login" in message
    assert "wrong-password-value" not in message
    assert pipeline.rows("SELECT status FROM partner_center_sync_runs") == [("failed",)]


def test_a_sync_failing_mid_stream_records_what_it_fetched_and_the_watermark_in_force(
    pipeline, emulator, monkeypatch
):
    pipeline.run()
    watermark = pipeline.scalar("SELECT watermark FROM partner_center_sync_runs")
    monkeypatch.setenv(PREFIX + "REFERRAL_DEFAULT_TOP", "50")
    emulator.add_fault(Fault("malformed", after=2, count=None))

    result = pipeline.run(full_refresh=True, raise_on_error=False)

    assert not result.success
    assert pipeline.rows(
        "SELECT fetched, pages, watermark FROM partner_center_sync_runs WHERE status = 'failed'"
    ) == [(100, 2, watermark)]


def test_an_invalid_setting_fails_the_run_naming_it_and_records_a_failed_sync(
    pipeline, emulator, monkeypatch
):
    monkeypatch.setenv(PREFIX + "REFERRAL_DEFAULT_DIRECTION", "In coming")
    emulator.reset_log()

    result = pipeline.run(raise_on_error=False)

    assert not result.success
    error = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    assert PREFIX + "REFERRAL_DEFAULT_DIRECTION" in error.to_string()
    assert pipeline.rows("SELECT status FROM partner_center_sync_runs") == [("failed",)]
    assert emulator.api_requests() == []


def test_max_pages_reached_is_reported(pipeline, monkeypatch):
    monkeypatch.setenv(PREFIX + "MAX_PAGES", "1")
    result = pipeline.run()
    assert metadata_of(result, "raw_referral_pages")["max_pages_reached"] is True
    assert check_result(result, "skipped_by_reason").metadata["max_pages_reached"].value is True
    assert not check_result(result, "max_pages_not_reached").passed
    assert pipeline.rows("SELECT max_pages_reached FROM partner_center_sync_runs") == [(True,)]


def test_hostile_strings_nul_bytes_and_emoji_are_stored_safely(pipeline, emulator):
    base = [
        dict(r, status="Active", direction="Incoming", substatus="Accepted")
        for r in generate_referrals(5, seed=3)
    ]
    hostile = [
        dict(base[0], name="Robert'); DROP TABLE leads;--\u0000 \U0001f525", id="hostile-1"),
        dict(base[1], name="\u0000" * 10 + "x" * 100_000, id="hostile-2"),
        dict(
            base[2],
            id="hostile-3",
            customerProfile={
                "name": "Ünï\u0000cødé 株式会社 \U0001f680",
                "team": [{"email": "ceo@exämple-ñ.de"}],
            },
        ),
        dict(base[3], id="", name="blank id"),
        dict(base[4], id="hostile-5", updatedDateTime="not a time"),
    ]
    emulator.set_referrals(hostile)

    counters = metadata_of(pipeline.run(), "partner_center_referrals")

    assert counters["skipped_invalid_payload"] == 2
    names = dict(pipeline.rows("SELECT id, name FROM partner_center_referrals"))
    assert names["hostile-1"] == "Robert'); DROP TABLE leads;-- \U0001f525"
    assert names["hostile-2"] == "x" * 100_000
    expected_domain = idna.encode("exämple-ñ.de", uts46=True, transitional=False).decode()
    assert (
        pipeline.scalar("SELECT domain FROM partner_center_referrals WHERE id = 'hostile-3'")
        == expected_domain
    )
    assert pipeline.scalar("SELECT count(*) FROM leads") >= 1


def test_a_referral_id_too_long_to_index_is_skipped_and_the_rest_of_the_sync_is_stored(pipeline, emulator):
    base = [
        dict(
            r,
            status="Active",
            direction="Incoming",
            substatus="Accepted",
            customerProfile={"team": [{"email": f"a@company-{i}.com"}]},
        )
        for i, r in enumerate(generate_referrals(3, seed=5))
    ]
    emulator.set_referrals([dict(base[0], id="x" * 3000), *base[1:]])

    result = pipeline.run()

    assert result.success
    counters = metadata_of(result, "partner_center_referrals")
    assert (counters["skipped_invalid_payload"], counters["inserted"]) == (1, 2)
    assert {row[0] for row in pipeline.rows("SELECT id FROM partner_center_referrals")} == {
        r["id"] for r in base[1:]
    }


def poison(referral: dict, key: str, raw_value: bytes) -> RawReferral:
    """``referral`` served with one more member whose JSON text Python's parser refuses."""
    text = json.dumps(referral).encode()
    return RawReferral(text[:-1] + b',"' + key.encode() + b'":' + raw_value + b"}", referral)


def test_records_python_cannot_parse_are_skipped_and_the_rest_of_their_page_is_stored(pipeline, emulator):
    base = [
        dict(r, status="Active", direction="Incoming", substatus="Accepted")
        for r in generate_referrals(5, seed=4)
    ]
    deep = poison(dict(base[0], id="poison-deep"), "extra", b"[" * 10_000 + b"]" * 10_000)
    huge = poison(dict(base[1], id="poison-bigint"), "bigNumber", b"9" * 5_000)
    emulator.set_referrals([deep, huge, *base[2:]])

    counters = metadata_of(pipeline.run(), "partner_center_referrals")

    assert counters["fetched"] == 5
    assert counters["skipped_invalid_payload"] == 1
    stored = {row[0] for row in pipeline.rows("SELECT id FROM partner_center_referrals")}
    assert "poison-deep" not in stored
    assert {"poison-bigint", *(r["id"] for r in base[2:])} <= stored


def test_summary_event_is_logged_once_with_flat_counters(pipeline):
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        PYTHON_ASSETS,
        resources=pipeline.resources(),
        instance=instance,
    )
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    summaries = [json.loads(m) for m in messages if '"partner_center_sync_summary"' in m]
    assert len(summaries) == 1
    assert {"fetched", "inserted", "updated", "unchanged"} <= summaries[0].keys()
    assert all(f"skipped_{reason}" in summaries[0] for reason in SKIP_REASONS)
    fetched_pages = [json.loads(m) for m in messages if '"partner_center_referrals_fetched"' in m]
    assert len(fetched_pages) == 2


def test_each_fetched_page_event_names_status_request_id_and_url(pipeline, emulator):
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(PYTHON_ASSETS, resources=pipeline.resources(), instance=instance)
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    pages = [json.loads(m) for m in messages if '"partner_center_referrals_fetched"' in m]

    assert pages
    for page in pages:
        assert page["status_code"] == 200
        assert page["request_id"]
        assert page["url"].startswith(emulator.base_url + "/v1.0/engagements/referrals")


def test_per_referral_events_stop_at_the_limit_and_say_how_many_were_left_out(pipeline, monkeypatch):
    monkeypatch.setenv(PREFIX + "REFERRAL_EVENT_LIMIT", "5")
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(PYTHON_ASSETS, resources=pipeline.resources(), instance=instance)
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    per_referral = [
        m
        for m in messages
        if '"partner_center_referral_ingested"' in m or '"partner_center_referral_skipped"' in m
    ]
    fetched = metadata_of(result, "partner_center_referrals")["fetched"]

    assert len(per_referral) == 5
    assert any(f"{fetched - 5} further per-referral events were not logged" in m for m in messages)


def test_full_refresh_reads_past_the_watermark(pipeline, emulator):
    pipeline.run()
    emulator.reset_log()
    counters = metadata_of(pipeline.run(full_refresh=True), "partner_center_referrals")
    discovery_pages = [r for r in emulator.api_requests() if "Closed" not in r.query.get("$filter", "")]
    assert len(discovery_pages) == 2
    assert counters["fetched"] >= len(discoverable(emulator.referrals))
    assert pipeline.rows("SELECT full_refresh FROM partner_center_sync_runs ORDER BY started_at") == [
        (False,),
        (True,),
    ]


def test_a_referral_in_both_streams_is_counted_once_and_the_other_copy_as_duplicate(
    pipeline, emulator, monkeypatch
):
    monkeypatch.setenv(PREFIX + "REFERRAL_DEFAULT_STATUS", "New,Active,Closed")
    pipeline.run()
    stored = {row[0] for row in pipeline.rows("SELECT id FROM partner_center_referrals")}
    active = [r for r in emulator.referrals if r["id"] in stored and r.get("status") == "Active"]
    closed = [touched(active[0], status="Closed", substatus="Won", name="closed and renamed")]
    emulator.upsert_referrals(closed)

    counters = metadata_of(pipeline.run(), "partner_center_referrals")

    assert counters["skipped_duplicate"] >= 1
    skipped = sum(counters[f"skipped_{reason}"] for reason in SKIP_REASONS)
    assert counters["inserted"] + counters["updated"] + counters["unchanged"] + skipped == counters["fetched"]
    assert pipeline.rows(f"SELECT name FROM partner_center_referrals WHERE id = '{closed[0]['id']}'") == [
        ("closed and renamed",)
    ]


def test_the_domain_list_overrides_are_read_from_the_environment(pipeline, emulator, monkeypatch):
    first, second = (
        dict(
            copy.deepcopy(referral),
            customerProfile={"name": "Customer", "team": [{"email": email}]},
        )
        for referral, email in zip(
            discoverable(emulator.referrals), ("ceo@zoho.com", "cfo@fabrikam-isp.net"), strict=False
        )
    )
    emulator.set_referrals([first, second])
    monkeypatch.setenv(PREFIX + "ALLOWED_DOMAINS", "zoho.com")
    monkeypatch.setenv(PREFIX + "EXTRA_CONSUMER_DOMAINS", "fabrikam-isp.net")

    result = pipeline.run()

    assert pipeline.rows("SELECT id, domain FROM partner_center_referrals") == [(first["id"], "zoho.com")]
    assert metadata_of(result, "partner_center_referrals")["skipped_no_domain"] == 1
    assert metadata_of(result, "resolved_referrals")["domain_consumer_domain"] == 1


def test_a_sync_records_how_long_the_cached_sign_in_went_unused_and_warns_before_it_lapses(
    pipeline, emulator, tmp_path
):
    emulator.set_referrals(discoverable(emulator.referrals)[:5])
    instance = dg.DagsterInstance.ephemeral()
    first = dg.materialize(PYTHON_ASSETS, resources=pipeline.resources(), instance=instance)
    age_refresh_tokens(tmp_path / "token_cache.json", days=70)

    second = dg.materialize(PYTHON_ASSETS, resources=pipeline.resources(), instance=instance)

    assert "sign_in_idle_days" not in metadata_of(first, "raw_referral_pages")
    assert metadata_of(second, "raw_referral_pages")["sign_in_idle_days"] == 70.0
    logs = instance.all_logs(second.run_id)
    warnings = [e.user_message for e in logs if "not been used for" in e.user_message]
    assert len(warnings) == 1 and "partner-center login" in warnings[0]


def test_a_referral_stamped_in_the_future_moves_the_watermark_with_a_warning_and_syncs_go_on(
    pipeline, emulator
):
    referrals = discoverable(emulator.referrals)[:5]
    emulator.set_referrals(
        [dict(referrals[0], updatedDateTime="9999-12-31T23:59:59.9999999Z"), *referrals[1:]]
    )
    instance = dg.DagsterInstance.ephemeral()

    first = dg.materialize(PYTHON_ASSETS, resources=pipeline.resources(), instance=instance)
    second = dg.materialize(PYTHON_ASSETS, resources=pipeline.resources(), instance=instance)

    warnings = [
        e.user_message
        for e in instance.all_logs(first.run_id)
        if "ahead of this machine's clock" in e.user_message
    ]
    assert len(warnings) == 1 and "--full-refresh" in warnings[0]
    assert second.success
    watermarks = pipeline.rows("SELECT watermark FROM partner_center_sync_runs ORDER BY started_at")
    assert [w[0].year for w in watermarks] == [9999, 9999]


def test_referrals_stamped_in_year_1_leave_a_watermark_the_next_sync_reads_past(pipeline, emulator):
    year_1 = "0001-01-01T00:00:00Z"
    referrals = [
        dict(r, createdDateTime=year_1, updatedDateTime=year_1) for r in discoverable(emulator.referrals)[:3]
    ]
    emulator.set_referrals(referrals)

    first = pipeline.run()
    second = pipeline.run()

    assert first.success and second.success
    assert metadata_of(second, "raw_referral_pages")["dagster/row_count"] == 3
    watermarks = pipeline.rows("SELECT watermark FROM partner_center_sync_runs ORDER BY started_at")
    assert [w[0].year for w in watermarks] == [1, 1]


def test_a_status_the_api_does_not_document_is_named_in_a_warning(pipeline, monkeypatch):
    monkeypatch.setenv(PREFIX + "REFERRAL_DEFAULT_STATUS", "Active,Archived")
    instance = dg.DagsterInstance.ephemeral()

    result = pipeline.run(instance=instance)

    warnings = [e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING]
    assert any("REFERRAL_DEFAULT_STATUS='Archived' is not one of" in w for w in warnings)


def test_skips_above_the_error_share_fail_the_skip_check_as_an_error_and_the_run(pipeline, monkeypatch):
    monkeypatch.setenv(PREFIX + "SKIPPED_SHARE_ERROR", "0")

    result = pipeline.run(raise_on_error=False)

    assert not result.success

    evaluation = check_result(result, "skipped_by_reason")
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert "HUNTER_PARTNER_CENTER_SKIPPED_SHARE_ERROR" in evaluation.description
    assert evaluation.metadata["skipped_share_error_threshold"].value == 0.0
    assert pipeline.scalar("SELECT count(*) FROM partner_center_referrals") > 0


def test_skips_under_the_error_share_pass_the_skip_check(pipeline, monkeypatch):
    monkeypatch.setenv(PREFIX + "SKIPPED_SHARE_ERROR", "0.9")

    result = pipeline.run()

    assert check_result(result, "skipped_by_reason").passed


def test_a_skip_limit_that_is_not_a_share_fails_the_skip_check_naming_its_variable(pipeline, monkeypatch):
    monkeypatch.setenv(PREFIX + "SKIPPED_SHARE_WARN", "fifty")

    result = pipeline.run(raise_on_error=False)

    (failure,) = [event for event in result.all_events if event.is_step_failure]
    assert failure.step_key.endswith("skipped_by_reason")
    assert "HUNTER_PARTNER_CENTER_SKIPPED_SHARE_WARN must be a share" in str(failure.step_failure_data.error)
    assert pipeline.scalar("SELECT count(*) FROM partner_center_referrals") > 0


def test_fields_the_api_documentation_does_not_list_are_counted_and_kept(pipeline, emulator):
    first = pipeline.run()
    stored = {row[0] for row in pipeline.rows("SELECT id FROM partner_center_referrals")}
    referral = touched(next(r for r in emulator.referrals if r["id"] in stored), aiLeadScore=87)
    emulator.upsert_referrals([referral])

    second = pipeline.run()

    assert metadata_of(first, "normalized_referrals")["undocumented_fields"] == {}
    assert metadata_of(second, "normalized_referrals")["undocumented_fields"] == {"aiLeadScore": 1}
    payload = pipeline.scalar(
        f"SELECT raw_payload FROM partner_center_referrals WHERE id = '{referral['id']}'"
    )
    assert (json.loads(payload) if isinstance(payload, str) else payload)["aiLeadScore"] == 87


DROPPED = "team,customerProfile.team.phoneNumber,customerProfile.team.firstName,customerProfile.team.lastName"


def stored_payloads(pipeline) -> dict[str, dict]:
    rows = pipeline.rows("SELECT id, raw_payload FROM partner_center_referrals")
    return {id_: json.loads(raw) if isinstance(raw, str) else raw for id_, raw in rows}


def test_dropped_fields_stay_out_of_stored_payloads_but_not_out_of_domain_resolution(
    pipeline, emulator, monkeypatch
):
    monkeypatch.setenv(PREFIX + "DROP_FIELDS", DROPPED)

    result = pipeline.run()

    payloads = stored_payloads(pipeline)
    members = [m for p in payloads.values() for m in (p.get("customerProfile") or {}).get("team") or []]
    resolver = DomainResolver()
    expected = {r["id"]: resolver.resolve(r).domain for r in emulator.referrals if r["id"] in payloads}
    assert payloads and all("team" not in p for p in payloads.values())
    assert members and all(set(m) & {"phoneNumber", "firstName", "lastName"} == set() for m in members)
    assert any("email" in m for m in members)
    assert dict(pipeline.rows("SELECT id, domain FROM partner_center_referrals")) == expected
    assert metadata_of(result, "resolved_referrals")["payloads_trimmed"] >= len(payloads)


def test_a_resync_with_the_same_dropped_fields_changes_nothing(pipeline, monkeypatch):
    monkeypatch.setenv(PREFIX + "DROP_FIELDS", DROPPED)
    pipeline.run()

    again = metadata_of(pipeline.run(full_refresh=True), "partner_center_referrals")

    assert again["updated"] == 0 and again["inserted"] == 0 and again["unchanged"] > 0


def test_a_full_refresh_after_dropping_fields_rewrites_the_stored_payloads(pipeline, monkeypatch):
    first = metadata_of(pipeline.run(), "partner_center_referrals")
    monkeypatch.setenv(PREFIX + "DROP_FIELDS", "team")

    again = metadata_of(pipeline.run(full_refresh=True), "partner_center_referrals")

    assert again["updated"] == first["inserted"]
    assert all("team" not in p for p in stored_payloads(pipeline).values())
