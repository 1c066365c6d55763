"""The single-transaction sync write, on DuckDB and real PostgreSQL."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa

from partner_center_assets.hunter_db import sync_writer
from partner_center_assets.hunter_db.engine import create_hunter_engine
from partner_center_assets.hunter_db.lock import SyncLockedError, acquire_sync_lock, models_build_lock
from partner_center_assets.hunter_db.migrate import upgrade
from partner_center_assets.hunter_db.sync_writer import STAGE_TYPES, SyncRunInfo, write_sync

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def row(
    referral_id: str,
    *,
    domain: str | None = "contoso.com",
    status: str = "Active",
    updated: datetime = T0,
    created: datetime = T0,
    new_skip_reason: str | None = None,
    skip_reason: str | None = None,
    deal_value: float | None = 1000.0,
    name: str = "Deal",
    customer_name: str | None = "Contoso",
    country: str | None = "US",
    seq: int | None = None,
) -> dict:
    return {
        "fetch_seq": seq,
        "stream": "discovery",
        "id": referral_id,
        "engagement_id": "e-" + referral_id,
        "external_reference_id": None,
        "name": name,
        "status": status,
        "substatus": "Accepted",
        "type": "Shared",
        "qualification": "SalesQualified",
        "direction": "Incoming",
        "customer_name": customer_name,
        "customer_country": country,
        "deal_value": deal_value,
        "currency": "USD",
        "created_at": created,
        "updated_at": updated,
        "domain": domain,
        "domain_source": "customer_team" if domain else None,
        "raw_payload": f'{{"id":"{referral_id}","status":"{status}","dealValue":{deal_value or 0}}}',
        "payload_hash": f"{referral_id}-{status}-{deal_value}-{name}",
        "new_skip_reason": new_skip_reason,
        "skip_reason": skip_reason,
    }


@pytest.fixture(autouse=True)
def parquet_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(frame, "directory", tmp_path, raising=False)


def frame(*rows: dict) -> Path:
    """The rows as the resolved-referrals Parquet file the writer reads: one ``fetch_seq`` per fetched
    record, numbered in order unless a row gives its own."""
    numbered = [
        {**r, "fetch_seq": index if r["fetch_seq"] is None else r["fetch_seq"]}
        for index, r in enumerate(rows)
    ]
    data = pd.DataFrame(numbered, columns=[*STAGE_TYPES, "stream", "skip_reason"])
    for column in ("created_at", "updated_at"):
        data[column] = pd.to_datetime(data[column], utc=True)
    for column in ("new_skip_reason", "skip_reason", "domain", "domain_source", "external_reference_id"):
        data[column] = data[column].astype("string")
    path = frame.directory / f"resolved-{uuid.uuid4().hex}.parquet"
    data.to_parquet(path, index=False)
    return path


@pytest.fixture
def engine(database_url: str):
    engine = create_hunter_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def sync(engine, *rows: dict, run_id: str = "run-1", now: datetime = T0, **kwargs):
    return write_sync(engine, frame(*rows), SyncRunInfo(run_id=run_id, started_at=now), now=now, **kwargs)


def table(engine, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql)).all()]


def test_first_sync_inserts_referrals_and_counts_them(engine):
    outcome = sync(engine, row("a"), row("b", domain="fabrikam.com"))
    assert (outcome.fetched, outcome.inserted, outcome.updated, outcome.unchanged) == (2, 2, 0, 0)
    assert table(engine, "SELECT id, domain FROM partner_center_referrals ORDER BY id") == [
        ("a", "contoso.com"),
        ("b", "fabrikam.com"),
    ]


def test_new_referral_with_a_skip_reason_is_not_stored_and_is_counted(engine):
    outcome = sync(
        engine,
        row("a", new_skip_reason="status_not_allowed", status="Closed"),
        row("b", skip_reason="invalid_payload"),
        row("c", skip_reason="duplicate"),
    )
    assert outcome.inserted == 0
    assert outcome.skipped["status_not_allowed"] == 1
    assert outcome.skipped["invalid_payload"] == 1
    assert outcome.skipped["duplicate"] == 1
    assert table(engine, "SELECT count(*) FROM partner_center_referrals") == [(0,)]


def test_existing_referral_is_updated_whatever_its_status(engine):
    sync(engine, row("a"))
    later = T0 + timedelta(days=1)
    outcome = sync(
        engine,
        row("a", status="Closed", updated=later, new_skip_reason="status_not_allowed"),
        run_id="run-2",
        now=later,
    )
    assert (outcome.updated, outcome.unchanged, outcome.inserted) == (1, 0, 0)
    assert sum(outcome.skipped.values()) == 0
    assert table(engine, "SELECT status FROM partner_center_referrals") == [("Closed",)]


def test_same_payload_again_is_unchanged_and_not_rewritten(engine):
    sync(engine, row("a"))
    outcome = sync(engine, row("a"), run_id="run-2", now=T0 + timedelta(days=1))
    assert (outcome.updated, outcome.unchanged) == (0, 1)
    assert table(engine, "SELECT last_synced_at = first_synced_at FROM partner_center_referrals") == [(True,)]


def test_domain_is_kept_when_the_new_payload_resolves_none(engine):
    sync(engine, row("a"))
    sync(engine, row("a", domain=None, deal_value=5.0), run_id="run-2")
    assert table(engine, "SELECT domain, domain_source, deal_value FROM partner_center_referrals") == [
        ("contoso.com", "customer_team", 5.0)
    ]


def test_first_referral_of_a_domain_creates_a_lead_and_later_ones_link_to_it(engine):
    outcome = sync(
        engine,
        row("b", created=T0 + timedelta(seconds=1)),
        row("a", created=T0),
        row("c", domain="fabrikam.com"),
    )
    links = table(engine, "SELECT referral_id, link_type FROM partner_center_lead_links ORDER BY referral_id")
    assert links == [("a", "created"), ("b", "linked_existing"), ("c", "created")]
    assert table(engine, "SELECT external_id, domain, source FROM leads ORDER BY external_id") == [
        ("a", "contoso.com", "partner_center"),
        ("c", "fabrikam.com", "partner_center"),
    ]
    assert (outcome.leads_created, outcome.links_created, outcome.links_existing) == (2, 2, 1)


def test_referrals_created_at_the_same_instant_take_the_lead_in_code_point_order_of_id(engine):
    sync(engine, row("a-1"), row("B-1"))
    assert table(engine, "SELECT external_id FROM leads") == [("B-1",)]


def test_the_code_point_order_of_ids_holds_under_a_linguistic_database_collation(postgres_admin_url):
    name = f"hunter_test_icu_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            sa.text(
                f'CREATE DATABASE "{name}" TEMPLATE template0 '
                "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            )
        )
    url = sa.make_url(postgres_admin_url).set(database=name)
    engine = create_hunter_engine(url.render_as_string(hide_password=False))
    try:
        upgrade(engine)
        sync(engine, row("a-1"), row("B-1"))
        assert table(engine, "SELECT external_id FROM leads") == [("B-1",)]
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_pre_existing_lead_of_the_domain_is_linked_as_linked_existing(engine):
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO leads (id, domain, source, external_id, created_at, updated_at) VALUES "
                "(7, 'Contoso.com', 'crm', 'x1', :t, :t), (5, 'contoso.com', 'crm', 'x2', :later, :later)"
            ),
            {"t": T0 - timedelta(days=3), "later": T0 - timedelta(days=1)},
        )
    sync(engine, row("a"))
    assert table(engine, "SELECT lead_id, link_type FROM partner_center_lead_links") == [
        (7, "linked_existing")
    ]
    assert table(engine, "SELECT count(*) FROM leads") == [(2,)]


def test_new_lead_ids_do_not_collide_with_ids_inserted_by_others(engine):
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO leads (id, domain, source, external_id, created_at, updated_at) "
                "VALUES (1, 'other.com', 'crm', 'x', :t, :t)"
            ),
            {"t": T0},
        )
    sync(engine, row("a"))
    assert table(engine, "SELECT count(DISTINCT id) FROM leads") == [(2,)]


def test_another_writer_inserting_with_the_default_id_after_a_sync_gets_a_fresh_one(engine):
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO leads (id, domain, source, external_id, created_at, updated_at) "
                "VALUES (40, 'other.com', 'crm', 'x', :t, :t)"
            ),
            {"t": T0},
        )
    sync(engine, row("a"), row("b", domain="fabrikam.com"))

    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO leads (domain, source, external_id, created_at, updated_at) "
                "VALUES ('hunter.io', 'hunter', 'h-1', :t, :t)"
            ),
            {"t": T0},
        )
        conn.execute(
            sa.text("INSERT INTO companies (domain, created_at, updated_at) VALUES ('hunter.io', :t, :t)"),
            {"t": T0},
        )
        conn.execute(
            sa.text(
                "INSERT INTO domain_scan_requests (domain, source, status, requested_at) "
                "VALUES ('hunter.io', 'hunter', 'pending', :t)"
            ),
            {"t": T0},
        )
    assert table(engine, "SELECT count(DISTINCT id), count(*) FROM leads") == [(4, 4)]
    assert table(engine, "SELECT count(DISTINCT id), count(*) FROM companies") == [(3, 3)]
    assert table(engine, "SELECT count(DISTINCT id), count(*) FROM domain_scan_requests") == [(3, 3)]


def _lead_for_referral(engine, lead_id: int, referral_id: str, domain: str) -> None:
    """A ``partner_center`` lead that already carries ``referral_id``, as a removed link leaves behind."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO leads (id, domain, source, external_id, created_at, updated_at) "
                "VALUES (:id, :domain, 'partner_center', :referral, :t, :t)"
            ),
            {"id": lead_id, "domain": domain, "referral": referral_id, "t": T0 - timedelta(days=1)},
        )


def test_referral_whose_lead_already_exists_links_to_it_instead_of_creating_one(engine):
    _lead_for_referral(engine, 1000, "a", "elsewhere.com")
    outcome = sync(engine, row("a"))
    assert table(engine, "SELECT referral_id, lead_id, link_type FROM partner_center_lead_links") == [
        ("a", 1000, "linked_existing")
    ]
    assert table(engine, "SELECT id, domain FROM leads") == [(1000, "elsewhere.com")]
    assert (outcome.leads_created, outcome.links_created, outcome.links_existing) == (0, 0, 1)


def test_next_referral_of_the_domain_creates_the_lead_when_the_first_ones_id_is_taken(engine):
    _lead_for_referral(engine, 1000, "a", "elsewhere.com")
    outcome = sync(engine, row("a", created=T0), row("b", created=T0 + timedelta(seconds=1)))
    links = table(engine, "SELECT referral_id, link_type FROM partner_center_lead_links ORDER BY referral_id")
    assert links == [("a", "linked_existing"), ("b", "created")]
    assert table(
        engine,
        "SELECT l.external_id, l.domain FROM partner_center_lead_links k "
        "JOIN leads l ON l.id = k.lead_id ORDER BY k.referral_id",
    ) == [
        ("b", "contoso.com"),
        ("b", "contoso.com"),
    ]
    assert (outcome.leads_created, outcome.links_created, outcome.links_existing) == (1, 1, 1)


def test_company_keeps_its_values_and_gets_nulls_filled(engine):
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO companies (id, domain, name, country, created_at, updated_at) "
                "VALUES (3, 'contoso.com', 'Contoso Ltd', NULL, :t, :t)"
            ),
            {"t": T0},
        )
    sync(engine, row("a", customer_name="Other Name", country="GB"))
    assert table(engine, "SELECT id, name, country FROM companies") == [(3, "Contoso Ltd", "GB")]


def test_a_company_stored_with_its_domain_in_other_case_is_the_one_upserted(engine):
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO companies (id, domain, name, country, created_at, updated_at) "
                "VALUES (3, 'Contoso.COM', NULL, 'US', :t, :t)"
            ),
            {"t": T0},
        )
    outcome = sync(engine, row("a", customer_name="Contoso", country="GB"))
    assert table(engine, "SELECT id, domain, name, country FROM companies") == [
        (3, "Contoso.COM", "Contoso", "US")
    ]
    assert table(engine, "SELECT company_id FROM leads") == [(3,)]
    assert (outcome.companies_inserted, outcome.companies_filled) == (0, 1)


def test_of_companies_differing_only_in_case_the_lowercase_one_is_upserted(engine):
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO companies (id, domain, name, country, created_at, updated_at) VALUES "
                "(3, 'Contoso.com', NULL, NULL, :t, :t), (4, 'contoso.com', NULL, NULL, :t, :t)"
            ),
            {"t": T0},
        )
    sync(engine, row("a", customer_name="Contoso", country="GB"))
    assert table(engine, "SELECT id, name, country FROM companies ORDER BY id") == [
        (3, None, None),
        (4, "Contoso", "GB"),
    ]
    assert table(engine, "SELECT company_id FROM leads") == [(4,)]


def test_a_new_company_is_counted_as_inserted(engine):
    outcome = sync(engine, row("a"), row("b", domain="fabrikam.com"))
    assert table(engine, "SELECT domain FROM companies ORDER BY domain") == [
        ("contoso.com",),
        ("fabrikam.com",),
    ]
    assert (outcome.companies_inserted, outcome.companies_filled) == (2, 0)


def test_one_pending_scan_request_per_domain(engine):
    sync(engine, row("a"), row("b"))
    sync(engine, row("c"), run_id="run-2")
    assert table(engine, "SELECT domain, referral_id, status FROM domain_scan_requests") == [
        ("contoso.com", "a", "pending")
    ]


def test_a_pending_scan_of_the_domain_in_other_case_counts_as_pending(engine):
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO domain_scan_requests (id, domain, source, status, requested_at) "
                "VALUES (500, 'Contoso.COM', 'hunter', 'pending', :t)"
            ),
            {"t": T0},
        )
    outcome = sync(engine, row("a"))
    assert outcome.scans_requested == 0
    assert table(engine, "SELECT count(*) FROM domain_scan_requests") == [(1,)]


def test_scan_is_requested_again_once_the_previous_one_is_done(engine):
    sync(engine, row("a"))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE domain_scan_requests SET status = 'done'"))
    sync(engine, row("c"), run_id="run-2")
    assert table(engine, "SELECT referral_id, status FROM domain_scan_requests ORDER BY id") == [
        ("a", "done"),
        ("c", "pending"),
    ]


def test_linked_referral_gets_nothing_new_when_its_domain_changes(engine):
    sync(engine, row("a"))
    sync(engine, row("a", domain="fabrikam.com", deal_value=2.0), run_id="run-2")
    assert table(engine, "SELECT count(*) FROM companies") == [(1,)]
    assert table(engine, "SELECT count(*) FROM domain_scan_requests") == [(1,)]


def test_run_row_and_watermark_commit_with_the_rows(engine):
    newest = T0 + timedelta(hours=5)
    sync(engine, row("a", updated=newest), row("b", updated=T0, skip_reason="invalid_payload"))
    runs = table(engine, "SELECT run_id, status, fetched, inserted, watermark FROM partner_center_sync_runs")
    assert runs[0][:4] == ("run-1", "success", 2, 1)
    assert pd.Timestamp(runs[0][4]).tz_convert("UTC") == pd.Timestamp(newest)


def test_watermark_never_moves_backwards(engine):
    sync(engine, row("a", updated=T0 + timedelta(days=2)), now=T0 + timedelta(days=2))
    outcome = sync(engine, row("b", updated=T0), run_id="run-2", now=T0 + timedelta(days=3))
    assert outcome.watermark == T0 + timedelta(days=2)


def test_failure_before_commit_leaves_the_previous_state(engine):
    sync(engine, row("a"))

    def crash(_conn) -> None:
        raise RuntimeError("crash between staging and commit")

    with pytest.raises(RuntimeError):
        sync(engine, row("a", status="Closed"), row("z"), run_id="run-2", before_commit=crash)
    assert table(engine, "SELECT id, status FROM partner_center_referrals") == [("a", "Active")]
    assert table(engine, "SELECT run_id FROM partner_center_sync_runs") == [("run-1",)]
    outcome = sync(engine, row("a", status="Closed"), row("z"), run_id="run-3")
    assert (outcome.inserted, outcome.updated) == (1, 1)


def test_dry_run_computes_counters_and_writes_nothing(engine):
    outcome = sync(engine, row("a"), dry_run=True)
    assert outcome.inserted == 1 and not outcome.committed
    assert table(engine, "SELECT count(*) FROM partner_center_referrals") == [(0,)]
    assert table(engine, "SELECT count(*) FROM partner_center_sync_runs") == [(0,)]


def test_hostile_text_and_emoji_are_stored_as_received(engine):
    hostile = "Robert'); DROP TABLE leads;-- \U0001f680 \\ \" ' \t"
    sync(engine, row("a", name=hostile, customer_name="Ünïcødé 株式会社"))
    assert table(engine, "SELECT name, customer_name FROM partner_center_referrals") == [
        (hostile, "Ünïcødé 株式会社")
    ]
    assert table(engine, "SELECT count(*) FROM leads") == [(1,)]


def test_a_second_writer_waits_for_the_lock_then_fails_clearly(postgres_url):
    engine = create_hunter_engine(postgres_url)
    upgrade(engine)
    with engine.connect() as holder, holder.begin():
        acquire_sync_lock(holder)
        with pytest.raises(SyncLockedError, match="another Partner Center sync"):
            write_sync(engine, frame(row("a")), SyncRunInfo(run_id="r", started_at=T0), lock_wait_seconds=0.3)
    assert write_sync(engine, frame(row("a")), SyncRunInfo(run_id="r", started_at=T0)).inserted == 1
    engine.dispose()


def test_a_referral_stamped_in_the_far_future_becomes_the_watermark_as_the_contract_says(engine):
    far_future = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    outcome = sync(engine, row("a", updated=T0), row("b", updated=far_future))
    assert outcome.watermark == far_future
    assert sync_writer.watermark_ahead(outcome.watermark, T0)
    assert not sync_writer.watermark_ahead(T0 + timedelta(hours=23), T0)
    assert table(engine, "SELECT count(*) FROM partner_center_referrals") == [(2,)]


def test_a_second_models_build_waits_for_the_first_then_fails_clearly(database_url):
    with (
        models_build_lock(database_url),
        pytest.raises(SyncLockedError, match="another dbt_hunter build"),
        models_build_lock(database_url, wait_seconds=0.3, poll_seconds=0.05),
    ):
        pass
    with models_build_lock(database_url, wait_seconds=0.3):
        pass


def test_a_models_build_starts_as_soon_as_the_running_one_ends(database_url):
    order: list[str] = []
    with models_build_lock(database_url):
        waiter = threading.Thread(target=lambda: _build(database_url, order))
        waiter.start()
        time.sleep(0.3)
        order.append("first ends")
    waiter.join(timeout=10)
    assert order == ["first ends", "second runs"]


def _build(url: str, order: list[str]) -> None:
    with models_build_lock(url, wait_seconds=10, poll_seconds=0.05):
        order.append("second runs")


def test_new_changed_and_unchanged_referrals_of_one_sync_are_each_stored_once(engine):
    sync(engine, row("a"), row("b"), row("c"))

    outcome = sync(
        engine,
        row("a", name="renamed", updated=T0 + timedelta(hours=1)),
        row("b"),
        row("d"),
        row("c", status="Closed", new_skip_reason="status_not_allowed"),
        row("e"),
        run_id="run-2",
        now=T0 + timedelta(hours=2),
    )

    assert (outcome.inserted, outcome.updated, outcome.unchanged) == (2, 2, 1)
    assert table(engine, "SELECT id, name, status FROM partner_center_referrals ORDER BY id") == [
        ("a", "renamed", "Active"),
        ("b", "Deal", "Active"),
        ("c", "Deal", "Closed"),
        ("d", "Deal", "Active"),
        ("e", "Deal", "Active"),
    ]


def test_a_column_the_sync_does_not_write_keeps_its_value_when_the_referral_changes(engine):
    sync(engine, row("a"), row("b"))
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE partner_center_referrals ADD COLUMN owner_note TEXT"))
        conn.execute(sa.text("UPDATE partner_center_referrals SET owner_note = 'call ' || id"))

    sync(engine, row("a", status="Closed"), row("b"), run_id="run-2", now=T0 + timedelta(hours=1))

    assert table(engine, "SELECT id, status, owner_note FROM partner_center_referrals ORDER BY id") == [
        ("a", "Closed", "call a"),
        ("b", "Active", "call b"),
    ]


def test_payloads_large_enough_to_compress_are_written_with_lz4_on_postgres(postgres_url):
    engine = create_hunter_engine(postgres_url)
    upgrade(engine)
    large = row("a")
    large["raw_payload"] = '{"id":"a","notes":"' + "renewal " * 2000 + '"}'
    sync(engine, large)
    with engine.connect() as conn:
        has_lz4 = conn.exec_driver_sql(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        ).scalar_one()
        server_default = conn.exec_driver_sql("SHOW default_toast_compression").scalar_one()
    assert table(engine, "SELECT pg_column_compression(raw_payload) FROM partner_center_referrals") == [
        ("lz4" if has_lz4 else server_default,)
    ]
    engine.dispose()


HUNTER_OWN_TABLES = (
    "CREATE TABLE companies (id bigserial PRIMARY KEY, domain text NOT NULL, name text, country text, "
    "created_at timestamptz, updated_at timestamptz, hunter_score int)",
    "CREATE TABLE leads (id bigserial PRIMARY KEY, company_id bigint, domain text, source text, "
    "external_id text, created_at timestamptz, updated_at timestamptz, owner text)",
)


def test_hunter_tables_that_existed_without_unique_keys_get_them_and_syncs_work(postgres_url):
    engine = create_hunter_engine(postgres_url)
    with engine.begin() as conn:
        for statement in HUNTER_OWN_TABLES:
            conn.execute(sa.text(statement))
        conn.execute(
            sa.text(
                "INSERT INTO leads (domain, source, external_id, created_at, updated_at, owner) "
                "VALUES ('contoso.com', 'crm', 'c-1', :t, :t, 'ana')"
            ),
            {"t": T0 - timedelta(days=1)},
        )
    upgrade(engine)

    outcome = sync(engine, row("a"), row("b", domain="fabrikam.com"))

    assert (outcome.leads_created, outcome.links_existing) == (1, 1)
    assert table(engine, "SELECT owner FROM leads WHERE external_id = 'c-1'") == [("ana",)]
    engine.dispose()


def test_hunter_tables_that_existed_without_the_syncs_columns_get_them_and_syncs_work(postgres_url):
    engine = create_hunter_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE companies (id serial PRIMARY KEY, domain text, name text)"))
        conn.execute(sa.text("CREATE TABLE leads (id serial PRIMARY KEY, domain text, owner text)"))
        conn.execute(sa.text("CREATE TABLE domain_scan_requests (id serial PRIMARY KEY, domain text)"))
        conn.execute(sa.text("INSERT INTO companies (domain, name) VALUES ('hunter.io', 'Hunter')"))
    upgrade(engine)

    outcome = sync(engine, row("a"), row("b", domain="fabrikam.com"))

    assert (outcome.companies_inserted, outcome.leads_created, outcome.scans_requested) == (2, 2, 2)
    assert table(engine, "SELECT domain, country FROM companies ORDER BY domain") == [
        ("contoso.com", "US"),
        ("fabrikam.com", "US"),
        ("hunter.io", None),
    ]
    engine.dispose()


def test_an_upgrade_over_duplicated_keys_fails_naming_the_key(postgres_url):
    engine = create_hunter_engine(postgres_url)
    with engine.begin() as conn:
        for statement in HUNTER_OWN_TABLES:
            conn.execute(sa.text(statement))
        conn.execute(sa.text("INSERT INTO companies (domain) VALUES ('contoso.com'), ('contoso.com')"))

    with pytest.raises(sa.exc.IntegrityError, match=r"\(domain\)=\(contoso.com\)"):
        upgrade(engine)
    engine.dispose()


def test_hunter_tables_with_generated_always_ids_take_the_syncs_rows_and_keep_their_identity(postgres_url):
    engine = create_hunter_engine(postgres_url)
    with engine.begin() as conn:
        for name, columns, key in (
            ("companies", "domain text NOT NULL, name text, country text", "UNIQUE (domain)"),
            (
                "leads",
                "company_id bigint, domain text, source text, external_id text",
                "UNIQUE (source, external_id)",
            ),
        ):
            conn.execute(
                sa.text(
                    f"CREATE TABLE {name} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, {columns}, "
                    f"created_at timestamptz, updated_at timestamptz, {key})"
                )
            )
        conn.execute(sa.text("INSERT INTO companies (domain) VALUES ('hunter.io')"))
    upgrade(engine)

    outcome = sync(engine, row("a"), row("b", domain="fabrikam.com"))
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO companies (domain) VALUES ('later.io')"))
        conn.execute(
            sa.text("INSERT INTO leads (domain, source, external_id) VALUES ('later.io', 'hunter', 'h-2')")
        )

    assert (outcome.companies_inserted, outcome.leads_created) == (2, 2)
    assert table(engine, "SELECT count(DISTINCT id), count(*) FROM companies") == [(4, 4)]
    assert table(engine, "SELECT count(DISTINCT id), count(*) FROM leads") == [(3, 3)]
    engine.dispose()


def _payloads(engine) -> dict[str, dict]:
    columns = "id, raw_payload, first_synced_at, last_synced_at"
    rows = table(engine, f"SELECT {columns} FROM partner_center_referrals")
    return {
        referral_id: {
            "payload": json.loads(payload) if isinstance(payload, str) else payload,
            "first": pd.Timestamp(first).tz_convert("UTC"),
            "last": pd.Timestamp(last).tz_convert("UTC"),
        }
        for referral_id, payload, first, last in rows
    }


def test_each_new_referral_is_stored_with_its_own_payload_and_sync_time(engine):
    sync(
        engine,
        row("a", deal_value=1.0),
        row("skipped", skip_reason="invalid_payload"),
        row("b", deal_value=2.0),
        row("c", new_skip_reason="no_domain"),
    )

    stored = _payloads(engine)
    assert set(stored) == {"a", "b"}
    assert stored["a"]["payload"] == {"id": "a", "status": "Active", "dealValue": 1.0}
    assert stored["b"]["payload"] == {"id": "b", "status": "Active", "dealValue": 2.0}
    assert {value["first"] for value in stored.values()} == {pd.Timestamp(T0)}
    assert {value["last"] for value in stored.values()} == {pd.Timestamp(T0)}


def test_a_changed_referral_gets_its_new_payload_and_an_unchanged_one_keeps_its_sync_time(engine):
    sync(engine, row("a"), row("b"))
    later = T0 + timedelta(hours=3)

    sync(engine, row("a"), row("b", status="Closed", updated=later), run_id="run-2", now=later)

    stored = _payloads(engine)
    assert stored["a"]["payload"]["status"] == "Active"
    assert stored["a"]["last"] == pd.Timestamp(T0)
    assert stored["b"]["payload"]["status"] == "Closed"
    assert (stored["b"]["first"], stored["b"]["last"]) == (pd.Timestamp(T0), pd.Timestamp(later))


def test_domain_firsts_are_what_pandas_groupby_first_gives_in_order_of_first_appearance():
    rng = random.Random(5)
    size = 60_000
    rows = pa.table(
        {
            "domain": [f"d{rng.randrange(20_000)}.com" for _ in range(size)],
            "name": [None if rng.random() < 0.4 else f"n{i}" for i in range(size)],
            "id": [f"r{i}" for i in range(size)],
        }
    )
    expected = rows.to_pandas().groupby("domain", sort=False)[["name", "id"]].first()

    first = sync_writer.DomainCodes.of(rows["domain"]).firsts(rows, {"name": "company", "id": "referral"})

    assert first.column("domain").to_pylist() == list(expected.index)
    assert first.column("company").to_pylist() == [None if pd.isna(v) else v for v in expected["name"]]
    assert first.column("referral").to_pylist() == expected["id"].tolist()


def test_domain_firsts_read_rows_that_arrive_in_several_chunks_as_one_sequence():
    rows = pa.Table.from_batches(
        [
            pa.record_batch({"domain": ["b.com", "a.com"], "name": [None, "A1"]}),
            pa.record_batch({"domain": ["c.com", "b.com", "a.com"], "name": ["C1", "B2", "A2"]}),
        ]
    )

    first = sync_writer.DomainCodes.of(rows["domain"]).firsts(rows, {"name": "company"})

    assert first.to_pylist() == [
        {"domain": "b.com", "company": "B2"},
        {"domain": "a.com", "company": "A1"},
        {"domain": "c.com", "company": "C1"},
    ]


def test_each_company_takes_the_first_named_referral_of_its_domain_in_a_sync_of_thousands(engine):
    rng = random.Random(11)
    rows = [
        row(
            f"r{rng.randrange(10**6)}-{i}",
            domain=f"d{rng.randrange(300)}.com",
            created=T0 + timedelta(seconds=rng.randrange(50)),
            customer_name=None if rng.random() < 0.5 else f"Company {i}",
        )
        for i in range(3_000)
    ]
    ordered = sorted(rows, key=lambda r: (r["created_at"], r["id"]))
    expected_names: dict[str, str | None] = {}
    expected_leads: dict[str, str] = {}
    for r in ordered:
        expected_leads.setdefault(r["domain"], r["id"])
        if expected_names.get(r["domain"]) is None:
            expected_names[r["domain"]] = r["customer_name"]

    sync(engine, *rows)

    assert dict(table(engine, "SELECT domain, name FROM companies")) == expected_names
    assert table(engine, "SELECT domain, external_id FROM leads ORDER BY id") == list(expected_leads.items())


def test_leads_are_created_in_the_order_of_their_creators_around_domains_that_have_one(engine):
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO leads (id, domain, source, external_id, created_at, updated_at) "
                "VALUES (1, 'd1.com', 'manual', 'x', :t, :t), (2, 'd3.com', 'partner_center', 'r9', :t, :t)"
            ),
            {"t": T0},
        )
    rows = [row(f"r{i}", domain=f"d{i % 5}.com", created=T0 + timedelta(seconds=20 - i)) for i in range(10)]

    sync(engine, *rows)

    # In §4.5 order r9 (d4) carries lead 2 already; d3 and d1 have leads; r4 is d4's next referral.
    assert table(engine, "SELECT domain, external_id FROM leads WHERE id > 2 ORDER BY id") == [
        ("d2.com", "r7"),
        ("d0.com", "r5"),
        ("d4.com", "r4"),
    ]
