"""dbt_hunter: target mapping, asset-graph wiring, and the marts built on DuckDB and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import dbt.version as dbt_version
import pytest
import sqlalchemy as sa
from dagster_dbt import DbtCliResource
from dagster_dbt.core import resource as dagster_dbt_resource
from packaging import version

from partner_center_assets.dbt_ahead import start_ahead
from partner_center_assets.dbt_command import dbt_build_command
from partner_center_assets.dbt_target import (
    DUCKDB_PATH_VAR,
    PG_DBNAME_VAR,
    PG_HOST_VAR,
    PG_PASSWORD_VAR,
    PG_PORT_VAR,
    PG_SSLMODE_VAR,
    PG_USER_VAR,
    PROFILE_VARS,
    SOURCE_SCHEMA_VAR,
    TARGET_VAR,
    build_target_path,
    dbt_target_env,
    remove_build_target,
)
from partner_center_assets.defs.dbt_hunter.assets import DBT_HUNTER_GROUP, dbt_hunter_assets
from partner_center_assets.defs.dbt_hunter.resources import dbt_hunter_resource
from partner_center_assets.hunter_db import schema
from partner_center_assets.hunter_db.engine import create_hunter_engine
from partner_center_assets.hunter_db.migrate import upgrade
from partner_center_assets.ingest.reasons import SKIP_REASONS

HUNTER_TABLES = {
    "partner_center_referrals",
    "companies",
    "leads",
    "partner_center_lead_links",
    "domain_scan_requests",
    "partner_center_sync_runs",
}
MODELS = {
    "stg_partner_center_referrals",
    "stg_companies",
    "stg_leads",
    "stg_partner_center_lead_links",
    "stg_domain_scan_requests",
    "stg_partner_center_sync_runs",
    "referral_funnel",
    "partner_center_leads",
    "domain_scan_queue",
    "sync_run_history",
    "referrals_by_domain",
    "referral_status_history",
}


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- target mapping -------------------------------------------------------------------------------


def test_duckdb_url_maps_to_the_duckdb_target_on_the_same_file(tmp_path) -> None:
    target, env = dbt_target_env(f"duckdb:///{tmp_path}/hunter.duckdb")

    assert target == "duckdb"
    assert env[TARGET_VAR] == "duckdb"
    assert env[DUCKDB_PATH_VAR] == f"{tmp_path}/hunter.duckdb"
    assert env[SOURCE_SCHEMA_VAR] == "main"


def test_relative_duckdb_path_is_resolved_against_the_working_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)

    _, env = dbt_target_env("duckdb:///data/hunter.duckdb")

    assert env[DUCKDB_PATH_VAR] == str(tmp_path / "data" / "hunter.duckdb")


def test_postgres_url_maps_every_connection_part_to_the_postgres_target() -> None:
    target, env = dbt_target_env(
        "postgresql+psycopg://hunter:s%40cret@db.internal:6543/hunter_prod?sslmode=require"
    )

    assert target == "postgres"
    assert {name: env[name] for name in PROFILE_VARS} == {
        TARGET_VAR: "postgres",
        SOURCE_SCHEMA_VAR: "public",
        DUCKDB_PATH_VAR: "",
        PG_HOST_VAR: "db.internal",
        PG_PORT_VAR: "6543",
        PG_USER_VAR: "hunter",
        PG_DBNAME_VAR: "hunter_prod",
        PG_SSLMODE_VAR: "require",
        PG_PASSWORD_VAR: "s@cret",
    }


def test_postgres_url_without_password_or_port_uses_empty_password_and_5432() -> None:
    _, env = dbt_target_env("postgresql://postgres@127.0.0.1/test")

    assert env[PG_PASSWORD_VAR] == ""
    assert env[PG_PORT_VAR] == "5432"


def test_default_url_is_the_embedded_duckdb_under_dagster_home(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("HUNTER_DATABASE_URL", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))

    target, env = dbt_target_env()

    assert target == "duckdb"
    assert env[DUCKDB_PATH_VAR] == str(tmp_path / "hunter.duckdb")


def test_unsupported_url_is_refused_without_showing_the_password() -> None:
    with pytest.raises(ValueError, match="DuckDB or PostgreSQL") as raised:
        dbt_target_env("mysql+pymysql://hunter:topsecret@db/hunter")

    assert "topsecret" not in str(raised.value)


def test_in_memory_duckdb_is_refused() -> None:
    with pytest.raises(ValueError, match="in-memory"):
        dbt_target_env("duckdb:///:memory:")


# --- asset graph ----------------------------------------------------------------------------------


def test_the_dbt_resource_starts_dbt_without_a_version_subprocess_or_an_in_process_adapter(
    monkeypatch,
) -> None:
    def no_subprocess(*args: Any, **kwargs: Any) -> bytes:
        raise AssertionError(f"unexpected subprocess {args}")

    monkeypatch.setattr(dagster_dbt_resource, "check_output", no_subprocess)
    resource = dbt_hunter_resource()
    assert resource._cli_version == version.parse(dbt_version.__version__)
    assert resource._initialize_dbt_core_adapter(["build"]) is None
    assert {"_cli_version", "_initialize_dbt_core_adapter"} <= set(vars(DbtCliResource))


def test_dbt_models_are_assets_keyed_by_model_name_in_group_dbt_hunter() -> None:
    keys = {key.to_user_string() for key in dbt_hunter_assets.keys}

    assert keys == MODELS
    assert set(dbt_hunter_assets.group_names_by_key.values()) == {DBT_HUNTER_GROUP}


def test_dbt_sources_are_the_python_assets_of_the_hunter_tables() -> None:
    upstream = {
        dep.to_user_string()
        for deps in dbt_hunter_assets.asset_deps.values()
        for dep in deps
        if dep not in dbt_hunter_assets.keys
    }

    assert upstream == HUNTER_TABLES


def test_each_staging_model_reads_the_table_it_is_named_for() -> None:
    for table in HUNTER_TABLES:
        deps = dbt_hunter_assets.asset_deps[dg.AssetKey(f"stg_{table}")]
        assert deps == {dg.AssetKey(table)}


def test_dbt_tests_are_asset_checks_on_the_models() -> None:
    checks = {(spec.asset_key.to_user_string(), spec.name) for spec in dbt_hunter_assets.check_specs}

    assert ("stg_partner_center_referrals", "unique_stg_partner_center_referrals_referral_id") in checks
    assert (
        "stg_partner_center_lead_links",
        "relationships_stg_partner_center_lead_links_referral_id__referral_id__ref_stg_partner_center_referrals_",
    ) in checks
    assert {asset for asset, _ in checks} >= {"stg_leads", "domain_scan_queue", "sync_run_history"}


# --- marts on both databases ----------------------------------------------------------------------


@dataclass
class Built:
    """The outcome of one dbt_hunter materialization."""

    result: dg.ExecuteInProcessResult
    engine: sa.Engine

    def rows(self, sql: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(sa.text(sql))]


def _seed(engine: sa.Engine) -> None:
    """A day of Partner Center activity as the sync leaves it in Hunter."""
    synced = ts("2026-03-02T06:00:00+00:00")
    referral_defaults = {
        "direction": "Incoming",
        "type": "Independent",
        "qualification": "SalesQualified",
        "first_synced_at": synced,
        "last_synced_at": synced,
        "raw_payload": {"source": "test"},
    }
    referrals = [
        # id, status, substatus, deal, currency, domain, created_at
        ("ref-1", "Active", "Accepted", 1000.0, "USD", "contoso.com", "2026-03-01T10:00:00+00:00"),
        # 00:30 at UTC+2 is still 1 March in UTC.
        ("ref-2", "Active", "Accepted", 2500.5, "USD", "contoso.com", "2026-03-02T00:30:00+02:00"),
        ("ref-3", "New", "Pending", 800.0, "EUR", "fabrikam.co.uk", "2026-03-01T12:00:00+00:00"),
        ("ref-4", "Closed", "Won", 5000.0, "USD", "northwind.de", "2026-03-02T08:00:00+00:00"),
        ("ref-5", "Active", "Accepted", 300.0, "eur", "contoso.com", "2026-03-01T15:00:00+00:00"),
        ("ref-6", "New", None, None, None, "adatum.com", "2026-03-02T09:00:00+00:00"),
    ]
    companies = [
        (1, "northwind.de", "Northwind Traders", "DE", "2025-11-01T00:00:00+00:00"),
        (2, "contoso.com", "Contoso Ltd", "US", "2026-03-02T06:00:00+00:00"),
        (3, "fabrikam.co.uk", "Fabrikam", "GB", "2026-03-02T06:00:00+00:00"),
        (4, "adatum.com", "Adatum", "US", "2026-03-02T06:00:00+00:00"),
    ]
    leads = [
        # id, company_id, domain, source, external_id, created_at
        (10, 1, "northwind.de", "website", "web-77", "2025-11-01T00:00:00+00:00"),
        (11, None, "unrelated.io", "crm", "crm-9", "2025-12-01T00:00:00+00:00"),
        (12, 2, "contoso.com", "partner_center", "ref-1", "2026-03-02T06:00:00+00:00"),
        (13, 3, "fabrikam.co.uk", "partner_center", "ref-3", "2026-03-02T06:00:00+00:00"),
        (14, 4, "adatum.com", "partner_center", "ref-6", "2026-03-02T06:00:00+00:00"),
    ]
    links = [
        ("ref-1", 12, "created"),
        ("ref-2", 12, "linked_existing"),
        ("ref-3", 13, "created"),
        ("ref-4", 10, "linked_existing"),
        ("ref-5", 12, "linked_existing"),
        ("ref-6", 14, "created"),
    ]
    scans = [
        # id, domain, source, referral_id, status, requested_at
        (100, "northwind.de", "hunter", None, "failed", "2026-01-15T00:00:00+00:00"),
        (101, "contoso.com", "partner_center", "ref-1", "done", "2026-03-02T06:00:00+00:00"),
        (102, "fabrikam.co.uk", "partner_center", "ref-3", "pending", "2026-03-02T06:00:00+00:00"),
        (103, "northwind.de", "partner_center", "ref-4", "pending", "2026-03-02T06:00:01+00:00"),
        (104, "adatum.com", "partner_center", "ref-6", "pending", "2026-03-02T06:00:02+00:00"),
    ]
    runs = [
        ("run-a", "success", 7, 6, 0, 0, {**dict.fromkeys(SKIP_REASONS, 0), "duplicate": 1}),
        (
            "run-b",
            "success",
            12,
            0,
            1,
            5,
            {
                **dict.fromkeys(SKIP_REASONS, 0),
                "invalid_payload": 1,
                "status_not_allowed": 3,
                "substatus_excluded": 1,
                "no_domain": 1,
            },
        ),
        ("run-c", "failed", 0, 0, 0, 0, None),
    ]
    with engine.begin() as conn:
        conn.execute(
            sa.insert(schema.partner_center_referrals),
            [
                {
                    **referral_defaults,
                    "id": rid,
                    "name": f"Opportunity {rid}",
                    "status": status,
                    "substatus": substatus,
                    "deal_value": deal,
                    "currency": currency,
                    "domain": domain,
                    "customer_name": domain.split(".")[0].title(),
                    "created_at": ts(created),
                    "updated_at": synced,
                }
                for rid, status, substatus, deal, currency, domain, created in referrals
            ],
        )
        conn.execute(
            sa.insert(schema.companies),
            [
                {"id": cid, "domain": d, "name": n, "country": c, "created_at": ts(t), "updated_at": ts(t)}
                for cid, d, n, c, t in companies
            ],
        )
        conn.execute(
            sa.insert(schema.leads),
            [
                {
                    "id": lid,
                    "company_id": cid,
                    "domain": d,
                    "source": s,
                    "external_id": x,
                    "created_at": ts(t),
                    "updated_at": ts(t),
                }
                for lid, cid, d, s, x, t in leads
            ],
        )
        conn.execute(
            sa.insert(schema.partner_center_lead_links),
            [{"referral_id": r, "lead_id": lid, "link_type": k, "linked_at": synced} for r, lid, k in links],
        )
        conn.execute(
            sa.insert(schema.domain_scan_requests),
            [
                {"id": sid, "domain": d, "source": s, "referral_id": r, "status": st, "requested_at": ts(t)}
                for sid, d, s, r, st, t in scans
            ],
        )
        for run_id, status, fetched, inserted, updated, unchanged, skipped in runs:
            conn.execute(
                sa.insert(schema.partner_center_sync_runs).values(
                    run_id=run_id,
                    started_at=synced,
                    finished_at=synced + timedelta(seconds=42),
                    status=status,
                    fetched=fetched,
                    inserted=inserted,
                    updated=updated,
                    unchanged=unchanged,
                    skipped=skipped if skipped is not None else sa.null(),
                    watermark=synced,
                )
            )


@contextmanager
def _scratch_postgres(admin_url: str) -> Iterator[str]:
    """A database of its own for one module's build, dropped afterwards."""
    name = f"hunter_dbt_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# Far from UTC, so that a day computed in the session time zone instead of UTC shows.
SESSION_TIME_ZONE = "Pacific/Auckland"


@contextmanager
def _build(database_url: str, *damage: str) -> Iterator[Built]:
    """Migrate and seed the Hunter tables, run the ``damage`` statements, then materialize
    dbt_hunter through Dagster with dbt's sessions in ``SESSION_TIME_ZONE``."""
    engine = create_hunter_engine(database_url)
    upgrade(engine)
    _seed(engine)
    with engine.begin() as conn:
        for statement in damage:
            conn.execute(sa.text(statement))
    engine.dispose()  # DuckDB admits one writing process: release the file before dbt opens it.
    try:
        yield Built(result=_materialize_dbt_hunter(database_url), engine=engine)
    finally:
        engine.dispose()


def _materialize_dbt_hunter(database_url: str) -> dg.ExecuteInProcessResult:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HUNTER_DATABASE_URL", database_url)
        env.setenv("TZ", SESSION_TIME_ZONE)
        env.setenv("PGTZ", SESSION_TIME_ZONE)
        return dg.materialize(
            [dbt_hunter_assets], resources={"dbt": dbt_hunter_resource()}, raise_on_error=False
        )


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """One dbt_hunter build per database, shared by the tests that read its marts."""
    with _scratch_database(request, tmp_path_factory) as url, _build(url) as done:
        yield done


def _scratch_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AbstractContextManager[str]:
    """The URL of an empty database of the kind the fixture is parametrized with."""
    if request.param == "duckdb":
        return nullcontext(f"duckdb:///{tmp_path_factory.mktemp('dbt_hunter') / 'hunter.duckdb'}")
    return _scratch_postgres(request.getfixturevalue("postgres_admin_url"))


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def resynced(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """A build, then a later sync that closed ref-1 as Won and renamed ref-2's customer, then a rebuild."""
    with _scratch_database(request, tmp_path_factory) as url, _build(url) as first:
        with first.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "update partner_center_referrals set status = 'Closed', substatus = 'Won', "
                    "updated_at = :at where id = 'ref-1'"
                ),
                {"at": ts(CLOSED_AT)},
            )
            conn.execute(
                sa.text(
                    "update partner_center_referrals set customer_name = 'Contoso Group' where id = 'ref-2'"
                )
            )
        first.engine.dispose()
        yield Built(result=_materialize_dbt_hunter(url), engine=first.engine)


CLOSED_AT = "2026-03-09T14:30:00+00:00"


@dataclass
class BuiltWarm(Built):
    """A build run by a warm dbt process, and that process's pid."""

    warm_pid: int


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def built_warm(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BuiltWarm]:
    """The first build on a database, by a warm dbt process that parsed ahead, as a sync's fetch starts it."""
    with _scratch_database(request, tmp_path_factory) as url:
        engine = create_hunter_engine(url)
        upgrade(engine)
        _seed(engine)
        engine.dispose()
        warm = start_ahead(url, dbt_build_command(), started_by="a test")
        assert warm is not None
        yield BuiltWarm(result=_materialize_dbt_hunter(url), engine=engine, warm_pid=warm.process.pid)
        engine.dispose()


def test_referral_status_history_keeps_every_status_a_referral_went_through(resynced: Built) -> None:
    rows = resynced.rows(
        "select referral_id, status, substatus, dbt_valid_from, dbt_valid_to "
        "from hunter_marts.referral_status_history where referral_id = 'ref-1' order by dbt_valid_from"
    )

    assert resynced.result.success
    assert [(r["status"], r["substatus"]) for r in rows] == [("Active", "Accepted"), ("Closed", "Won")]
    assert _utc(rows[0]["dbt_valid_to"]) == _utc(rows[1]["dbt_valid_from"]) == ts(CLOSED_AT)
    assert rows[1]["dbt_valid_to"] is None


def test_referral_status_history_adds_no_version_for_a_change_outside_the_funnel(resynced: Built) -> None:
    counts = resynced.rows(
        "select referral_id, count(*) as versions from hunter_marts.referral_status_history "
        "group by referral_id order by referral_id"
    )

    assert {r["referral_id"]: r["versions"] for r in counts} == {
        "ref-1": 2,
        "ref-2": 1,
        "ref-3": 1,
        "ref-4": 1,
        "ref-5": 1,
        "ref-6": 1,
    }


def _utc(value: Any) -> datetime:
    """A timestamp read back from either database, as an aware UTC datetime."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _dbt_log(built: Built) -> list[dict[str, Any]]:
    """The events dbt logged in the build folder of ``built``'s database."""
    url = built.engine.url.render_as_string(hide_password=False)
    log = build_target_path(*dbt_target_env(url)) / "dbt.log"
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def _dbt_invocations(built: Built) -> dict[str, list[str]]:
    """The names of the events dbt logged for ``built``'s database, by invocation."""
    invocations: dict[str, list[str]] = {}
    for entry in _dbt_log(built):
        invocations.setdefault(entry["info"]["invocation_id"], []).append(entry["info"]["name"])
    return invocations


def _queries_by_connection(built: Built) -> dict[str, list[str]]:
    """The SQL dbt ran on ``built``'s database, by connection (named for its node)."""
    queries: dict[str, list[str]] = {}
    for entry in _dbt_log(built):
        if entry["info"]["name"] == "SQLQuery":
            queries.setdefault(entry["data"]["conn_name"], []).append(entry["data"]["sql"])
    return queries


TABLES_BUILT = {
    "model.dbt_hunter.referral_funnel",
    "model.dbt_hunter.partner_center_leads",
    "model.dbt_hunter.domain_scan_queue",
    "model.dbt_hunter.sync_run_history",
    "model.dbt_hunter.referrals_by_domain",
    "snapshot.dbt_hunter.referral_status_history",
}


def test_marts_and_the_snapshot_are_built_with_jit_off_on_postgres_only(built: Built) -> None:
    without_jit = {
        node
        for node, queries in _queries_by_connection(built).items()
        if any("set_config('jit', 'off', true)" in sql for sql in queries)
    }

    assert without_jit == (TABLES_BUILT if built.engine.dialect.name == "postgresql" else set())


def test_builds_on_one_database_share_a_dbt_folder_and_the_second_reuses_the_parse(resynced: Built) -> None:
    invocations = list(_dbt_invocations(resynced).values())

    assert len(invocations) == 2
    assert "UnableToPartialParse" not in invocations[-1]
    assert "CommandCompleted" in invocations[-1]


def test_the_first_build_after_a_parse_made_ahead_skips_the_full_parse(built_warm: BuiltWarm) -> None:
    invocations = list(_dbt_invocations(built_warm).values())

    assert built_warm.result.success
    assert len(invocations) == 1
    assert "UnableToPartialParse" not in invocations[0]
    assert "CommandCompleted" in invocations[0]


def test_a_build_started_warm_runs_in_the_warm_process(built_warm: BuiltWarm) -> None:
    pids = {entry["info"]["pid"] for entry in _dbt_log(built_warm)}

    assert built_warm.result.success
    assert pids == {built_warm.warm_pid}


def test_the_dbt_folder_is_named_by_a_hash_never_by_the_database_or_password() -> None:
    target, env = dbt_target_env("postgresql://hunter:s3cret@db.example:5432/hunter_prod")
    folder = build_target_path(target, env).name

    assert folder.startswith("build-postgres-")
    assert not any(part in folder for part in ("s3cret", "hunter_prod", "db.example"))
    assert (
        build_target_path(*dbt_target_env("postgresql://hunter:other@db.example:5432/hunter_prod")).name
        == folder
    )
    assert (
        build_target_path(*dbt_target_env("postgresql://hunter:s3cret@db.example:5432/hunter_dev")).name
        != folder
    )


def test_removing_a_databases_dbt_folder_leaves_the_other_databases_folders() -> None:
    dropped = "postgresql://hunter@db.example:5432/hunter_dropped_" + uuid.uuid4().hex[:8]
    kept = "postgresql://hunter@db.example:5432/hunter_kept_" + uuid.uuid4().hex[:8]
    for url in (dropped, kept):
        (build_target_path(*dbt_target_env(url)) / "run").mkdir(parents=True)

    remove_build_target(dropped)

    assert not build_target_path(*dbt_target_env(dropped)).exists()
    assert (build_target_path(*dbt_target_env(kept)) / "run").is_dir()
    remove_build_target(kept)


def test_build_succeeds_with_every_dbt_test_passing_as_an_asset_check(built: Built) -> None:
    evaluations = built.result.get_asset_check_evaluations()

    assert built.result.success
    assert {(e.asset_key, e.check_name) for e in evaluations} == {
        (spec.asset_key, spec.name) for spec in dbt_hunter_assets.check_specs
    }
    assert [e.check_name for e in evaluations if not e.passed] == []


def test_every_model_is_materialized(built: Built) -> None:
    materialized = {
        event.asset_key.to_user_string() for event in built.result.get_asset_materialization_events()
    }

    assert materialized == MODELS


def test_funnel_counts_referrals_and_sums_deal_value_per_day_status_substatus_and_currency(
    built: Built,
) -> None:
    rows = built.rows(
        "select created_date, status, substatus, currency, referral_count, referrals_with_deal_value,"
        " deal_value_total from hunter_marts.referral_funnel"
    )
    funnel = {
        (str(r["created_date"]), r["status"], r["substatus"], r["currency"]): (
            r["referral_count"],
            r["referrals_with_deal_value"],
            r["deal_value_total"],
        )
        for r in rows
    }

    assert len(rows) == len(funnel)
    assert funnel == {
        ("2026-03-01", "Active", "Accepted", "USD"): (2, 2, pytest.approx(3500.5)),
        ("2026-03-01", "Active", "Accepted", "EUR"): (1, 1, pytest.approx(300.0)),
        ("2026-03-01", "New", "Pending", "EUR"): (1, 1, pytest.approx(800.0)),
        ("2026-03-02", "Closed", "Won", "USD"): (1, 1, pytest.approx(5000.0)),
        ("2026-03-02", "New", None, None): (1, 0, None),
    }


def test_partner_center_leads_lists_created_and_linked_leads_with_company_and_latest_scan(
    built: Built,
) -> None:
    rows = built.rows(
        "select lead_id, lead_source, referral_id, referral_status, link_type, company_name,"
        " company_country, company_domain, latest_scan_status from hunter_marts.partner_center_leads"
    )
    by_referral = {
        r["referral_id"]: (
            r["lead_id"],
            r["lead_source"],
            r["link_type"],
            r["referral_status"],
            r["company_name"],
            r["company_country"],
            r["latest_scan_status"],
        )
        for r in rows
    }

    assert len(rows) == 6
    assert by_referral == {
        "ref-1": (12, "partner_center", "created", "Active", "Contoso Ltd", "US", "done"),
        "ref-2": (12, "partner_center", "linked_existing", "Active", "Contoso Ltd", "US", "done"),
        "ref-5": (12, "partner_center", "linked_existing", "Active", "Contoso Ltd", "US", "done"),
        "ref-3": (13, "partner_center", "created", "New", "Fabrikam", "GB", "pending"),
        "ref-4": (10, "website", "linked_existing", "Closed", "Northwind Traders", "DE", "pending"),
        "ref-6": (14, "partner_center", "created", "New", "Adatum", "US", "pending"),
    }


def test_partner_center_leads_leaves_out_leads_of_other_sources_never_linked(built: Built) -> None:
    rows = built.rows("select lead_id from hunter_marts.partner_center_leads where lead_id = 11")

    assert rows == []


def test_scan_queue_holds_pending_scans_with_their_referral_company_and_age(built: Built) -> None:
    rows = built.rows(
        "select scan_request_id, domain, referral_id, referral_status, company_name, requested_at,"
        " measured_at, age_hours from hunter_marts.domain_scan_queue"
    )
    queue = {
        r["domain"]: (r["scan_request_id"], r["referral_id"], r["referral_status"], r["company_name"])
        for r in rows
    }

    assert queue == {
        "fabrikam.co.uk": (102, "ref-3", "New", "Fabrikam"),
        "northwind.de": (103, "ref-4", "Closed", "Northwind Traders"),
        "adatum.com": (104, "ref-6", "New", "Adatum"),
    }
    for r in rows:
        expected = (r["measured_at"] - r["requested_at"]).total_seconds() / 3600
        assert r["age_hours"] == pytest.approx(expected, abs=1e-3)
        assert r["age_hours"] > 0


def test_sync_run_history_has_one_column_per_skip_reason(built: Built) -> None:
    columns = ", ".join(f"skipped_{reason}" for reason in SKIP_REASONS)
    rows = built.rows(
        f"select run_id, status, fetched, inserted, updated, unchanged, {columns}, skipped_total,"
        " duration_seconds from hunter_marts.sync_run_history"
    )
    history = {r["run_id"]: r for r in rows}

    assert {run: [history[run][f"skipped_{reason}"] for reason in SKIP_REASONS] for run in history} == {
        "run-a": [0, 1, 0, 0, 0, 0],
        "run-b": [1, 0, 0, 3, 1, 1],
        "run-c": [0, 0, 0, 0, 0, 0],
    }
    assert {run: history[run]["skipped_total"] for run in history} == {"run-a": 1, "run-b": 6, "run-c": 0}
    assert (history["run-b"]["fetched"], history["run-b"]["updated"], history["run-b"]["unchanged"]) == (
        12,
        1,
        5,
    )
    assert history["run-a"]["duration_seconds"] == pytest.approx(42)


def test_sync_run_history_has_a_skip_column_for_exactly_the_contract_reasons(built: Built) -> None:
    with built.engine.connect() as conn:
        columns = conn.execute(sa.text("select * from hunter_marts.sync_run_history where 1 = 0")).keys()

    assert {c for c in columns if c.startswith("skipped_")} == {
        *(f"skipped_{reason}" for reason in SKIP_REASONS),
        "skipped_total",
    }


def test_referrals_by_domain_counts_open_and_won_referrals(built: Built) -> None:
    rows = built.rows(
        "select domain, company_name, referral_count, open_referral_count, won_referral_count"
        " from hunter_marts.referrals_by_domain"
    )

    assert {r["domain"]: tuple(r.values())[1:] for r in rows} == {
        "contoso.com": ("Contoso Ltd", 3, 3, 0),
        "fabrikam.co.uk": ("Fabrikam", 1, 1, 0),
        "northwind.de": ("Northwind Traders", 1, 0, 1),
        "adatum.com": ("Adatum", 1, 1, 0),
    }


# --- dbt test severities --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """A DuckDB build where the API sent an unknown status and a link has a type outside the contract."""
    url = f"duckdb:///{tmp_path_factory.mktemp('dbt_hunter_damaged') / 'hunter.duckdb'}"
    with _build(
        url,
        "update partner_center_referrals set status = 'Archived' where id = 'ref-6'",
        "update partner_center_lead_links set link_type = 'merged' where referral_id = 'ref-2'",
    ) as done:
        yield done


def _evaluation(built: Built, check_prefix: str) -> dg.AssetCheckEvaluation:
    (evaluation,) = [
        e for e in built.result.get_asset_check_evaluations() if e.check_name.startswith(check_prefix)
    ]
    return evaluation


def test_unknown_referral_status_from_the_api_fails_its_check_as_a_warning(damaged: Built) -> None:
    evaluation = _evaluation(damaged, "accepted_values_stg_partner_center_referrals_status")

    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN


def test_link_type_outside_the_contract_fails_its_check_and_the_run(damaged: Built) -> None:
    evaluation = _evaluation(damaged, "accepted_values_stg_partner_center_lead_links_link_type")

    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert not damaged.result.success


def test_marts_downstream_of_a_failed_check_are_not_rebuilt(damaged: Built) -> None:
    materialized = {
        event.asset_key.to_user_string() for event in damaged.result.get_asset_materialization_events()
    }

    assert "partner_center_leads" not in materialized
    assert "referral_funnel" in materialized


# --- rows of Hunter's other writers ---------------------------------------------------------------


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def with_other_writers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Built]:
    """A build where other writers stored two companies' domains in another case (one of them for a
    lead without company), a pending scan of a domain the sync also queued, and two leads without an
    external id."""
    with (
        _scratch_database(request, tmp_path_factory) as url,
        _build(
            url,
            "insert into companies (id, domain, name, country, created_at, updated_at) values "
            "(5, 'Contoso.COM', 'Contoso (CRM)', 'FR', '2020-01-01', '2020-01-01'), "
            "(6, 'NorthWind.de', 'Northwind (CRM)', 'DE', '2020-01-01', '2020-01-01')",
            "update leads set company_id = null where id = 10",
            "insert into domain_scan_requests (id, domain, source, referral_id, status, requested_at) values "
            "(105, 'Fabrikam.CO.UK', 'hunter', null, 'pending', '2026-03-01 00:00:00+00')",
            "alter table leads alter column external_id drop not null",
            "insert into leads (id, company_id, domain, source, external_id, created_at, updated_at) values "
            "(20, null, 'tailspin.com', 'manual', null, '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00'), "
            "(21, null, 'tailspin.com', 'manual', null, '2026-01-02 00:00:00+00', '2026-01-02 00:00:00+00')",
        ) as done,
    ):
        yield done


def test_rows_of_other_writers_pass_every_check(with_other_writers: Built) -> None:
    failed = [e.check_name for e in with_other_writers.result.get_asset_check_evaluations() if not e.passed]

    assert failed == []
    assert with_other_writers.result.success


def test_a_domain_stored_in_two_cases_joins_the_company_the_sync_fills(with_other_writers: Built) -> None:
    rows = with_other_writers.rows(
        "select company_id, company_name from hunter_marts.referrals_by_domain where domain = 'contoso.com'"
    )

    assert [(r["company_id"], r["company_name"]) for r in rows] == [(2, "Contoso Ltd")]


def test_the_scan_queue_holds_other_sources_pending_scans_beside_the_syncs(with_other_writers: Built) -> None:
    rows = with_other_writers.rows(
        "select scan_request_id, request_source, company_name from hunter_marts.domain_scan_queue"
        " where domain = 'fabrikam.co.uk' order by scan_request_id"
    )

    assert [(r["scan_request_id"], r["request_source"], r["company_name"]) for r in rows] == [
        (102, "partner_center", "Fabrikam"),
        (105, "hunter", "Fabrikam"),
    ]


def test_a_lead_without_company_joins_one_company_of_a_domain_stored_in_two_cases(
    with_other_writers: Built,
) -> None:
    rows = with_other_writers.rows(
        "select company_id, company_name from hunter_marts.partner_center_leads where referral_id = 'ref-4'"
    )

    assert [(r["company_id"], r["company_name"]) for r in rows] == [(1, "Northwind Traders")]


def test_two_leads_of_one_source_without_external_id_are_not_duplicates(with_other_writers: Built) -> None:
    evaluation = _evaluation(with_other_writers, "unique_combination_stg_leads")

    assert evaluation.passed


def test_dagster_dev_prepares_the_project_without_the_virtualenv_on_path() -> None:
    """``dagster dev`` started as ``.venv/bin/dagster`` has no ``dbt`` on ``PATH``."""
    env = {
        **os.environ,
        "PATH": os.pathsep.join(p for p in ("/usr/bin", "/bin") if Path(p).exists()),
        "DAGSTER_IS_DEV_CLI": "1",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import partner_center_assets.defs.dbt_hunter.project"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-2000:]
