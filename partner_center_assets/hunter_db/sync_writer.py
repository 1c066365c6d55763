"""The write of one sync: referrals, companies, leads, lead links, scan requests and the run row.

Everything commits in one transaction, under the sync lock, so a crash leaves the previous state
and a re-run converges. Every write is set-based: the batch is staged into a temporary table and
merged with one ``INSERT … SELECT … ON CONFLICT`` per table, except the referrals themselves: new
ones go in with one ``COPY`` (PostgreSQL) or one plain ``INSERT`` (DuckDB) straight from the file,
and changed ones are upserted (PostgreSQL) or deleted and inserted again (DuckDB, whose memory an
update of many payloads would outgrow). The rules are those of the contract (§4.3 to §4.6).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from partner_center_assets.hunter_db.lock import acquire_sync_lock, release_sync_lock
from partner_center_assets.hunter_db.query_tables import query_table
from partner_center_assets.hunter_db.schema import LEAD_SOURCE, SCAN_SOURCE, table_columns
from partner_center_assets.hunter_db.staging import (
    copy_parquet,
    drop_staged,
    keep_fetch_seqs,
    stage_frame,
    stage_parquet,
)
from partner_center_assets.ingest.reasons import SKIP_REASONS, empty_skip_counts
from partner_center_assets.ingest.rules import SyncCounters

DERIVED_COLUMNS = (
    "engagement_id",
    "external_reference_id",
    "name",
    "status",
    "substatus",
    "type",
    "qualification",
    "direction",
    "customer_name",
    "customer_country",
    "deal_value",
    "currency",
    "created_at",
    "updated_at",
)
REFERRAL_COLUMNS = ("id", *DERIVED_COLUMNS, "domain", "domain_source", "raw_payload", "payload_hash")
"""The columns of ``partner_center_referrals`` a sync takes from its resolved referrals."""
# Columns of the staged batch, in table order (later keys override the text default in place).
STAGE_TYPES = {
    "id": "text",
    **{c: "text" for c in DERIVED_COLUMNS},
    "deal_value": "float",
    "created_at": "timestamp",
    "updated_at": "timestamp",
    "domain": "text",
    "domain_source": "text",
    "raw_payload": "text",
    "payload_hash": "text",
    "new_skip_reason": "text",
    "fetch_seq": "int",
}
STAGED_TYPES = {c: t for c, t in STAGE_TYPES.items() if c != "raw_payload"}
"""What ``pc_stage`` holds: everything but the payloads, which the merge reads from the file itself.
PostgreSQL gets new referrals' payloads copied straight into ``partner_center_referrals`` and only
changed ones' staged; DuckDB joins the file at merge time. A staged copy of every payload cost
PostgreSQL a second pass over the largest column, and DuckDB the memory twice over."""

STAGED_TABLES = (
    "pc_stage",
    "pc_payloads",
    "pc_new",
    "pc_changed",
    "pc_kept",
    "pc_domains",
    "pc_company_ids",
    "pc_new_leads",
    "pc_links",
)
"""The temporary tables a write may create, dropped before its commit (DuckDB keeps them otherwise)."""

ACTION_INSERTED = "inserted"
ACTION_UPDATED = "updated"
ACTION_UNCHANGED = "unchanged"


@dataclass
class SyncRunInfo:
    """What the writer records about the run besides the rows."""

    run_id: str
    started_at: datetime
    full_refresh: bool = False
    pages: int = 0
    max_pages_reached: bool = False


@dataclass
class SyncOutcome:
    """Counters and per-referral actions of one sync write."""

    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: dict[str, int] = field(default_factory=empty_skip_counts)
    watermark: datetime | None = None
    previous_watermark: datetime | None = None
    companies_inserted: int = 0
    companies_filled: int = 0
    leads_created: int = 0
    links_created: int = 0
    links_existing: int = 0
    scans_requested: int = 0
    actions: pd.DataFrame = field(default_factory=pd.DataFrame)
    skips: pd.DataFrame = field(default_factory=pd.DataFrame)
    links: pd.DataFrame = field(default_factory=pd.DataFrame)
    committed: bool = False

    def counters(self) -> dict[str, int]:
        """Flat counters, as in the ``partner_center_sync_summary`` event."""
        return SyncCounters(
            fetched=self.fetched,
            inserted=self.inserted,
            updated=self.updated,
            unchanged=self.unchanged,
            skipped=dict(self.skipped),
        ).as_event_fields()


def _distinct(left: str, right: str, columns: tuple[str, ...]) -> str:
    return " OR ".join(f'{left}."{c}" IS DISTINCT FROM {right}."{c}"' for c in columns)


def _json_cast(conn: Connection) -> str:
    return "JSONB" if conn.dialect.name == "postgresql" else "JSON"


def stored_watermark(conn: Connection) -> datetime | None:
    """The newest watermark of a successful sync (it never moves backwards)."""
    value = conn.execute(
        sa.text("SELECT MAX(watermark) FROM partner_center_sync_runs WHERE status = 'success'")
    ).scalar()
    return _as_utc(value)


def referrals_stored(conn: Connection) -> bool:
    return conn.execute(sa.text("SELECT 1 FROM partner_center_referrals LIMIT 1")).first() is not None


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


WATERMARK_AHEAD_WARNING = timedelta(days=1)
"""How far past the clock a watermark is before the sync warns about it (``watermark_ahead``)."""


def _newest_timestamp(updated_at: pa.ChunkedArray) -> datetime | None:
    """The newest ``updatedDateTime`` fetched (CONTRACT §1: the watermark candidates)."""
    newest = pc.max(updated_at).as_py()
    return None if newest is None else _as_utc(newest)


def watermark_ahead(watermark: datetime | None, now: datetime) -> bool:
    """True when the watermark is more than a day past ``now``.

    The contract takes the newest timestamp fetched as it comes, and the watermark never moves back;
    a referral stamped in the future therefore keeps later syncs reading from there on (two pages
    a stream) until the clock passes it, which deserves a warning and a full refresh.
    """
    return watermark is not None and watermark > now + WATERMARK_AHEAD_WARNING


def write_sync(
    engine: Engine,
    resolved: Path,
    run: SyncRunInfo,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    lock_wait_seconds: float = 300.0,
    before_commit: Callable[[Connection], None] | None = None,
) -> SyncOutcome:
    """Apply one sync's resolved referrals to the Hunter database in a single transaction.

    ``resolved`` is a Parquet file with one row per fetched record: the columns of ``STAGE_TYPES``
    plus ``skip_reason`` (``invalid_payload``/``duplicate`` or null), read in bounded batches. With
    ``dry_run`` everything is computed inside the transaction and rolled back. ``before_commit`` runs
    just before the commit.
    """
    now = now or datetime.now(UTC)
    decided = _decided(resolved)
    outcome = SyncOutcome(fetched=decided.num_rows)
    newest = _newest_timestamp(decided["updated_at"])
    conn = engine.connect()
    transaction = conn.begin()
    try:
        acquire_sync_lock(conn, wait_seconds=lock_wait_seconds)
        prefer_fast_compression(conn)
        outcome.previous_watermark = stored_watermark(conn)
        _count_pre_skips(decided, outcome)
        del decided
        stage_parquet(conn, "pc_stage", resolved, STAGED_TYPES, only_null="skip_reason")
        _merge_referrals(conn, outcome, now, resolved)
        _link_referrals(conn, outcome, now)
        candidates = [w for w in (outcome.previous_watermark, newest) if w is not None]
        outcome.watermark = max(candidates) if candidates else None
        _write_run_row(conn, run, outcome, now, status="success")
        for name in STAGED_TABLES:
            drop_staged(conn, name)
        if before_commit is not None:
            before_commit(conn)
        if dry_run:
            transaction.rollback()
        else:
            transaction.commit()
            outcome.committed = True
    except BaseException:
        transaction.rollback()
        raise
    finally:
        release_sync_lock(conn)
        conn.close()
    return outcome


def prefer_fast_compression(conn: Connection) -> None:
    """Compress this transaction's payloads with lz4 where the server has it (PostgreSQL 14+).

    Every stored payload is a few kilobytes of JSON, above the size PostgreSQL compresses; its
    default, pglz, made compression the larger part of writing them (lz4 writes 100,000 payloads
    about 2 s faster on two CPUs, for about a fifth more space). Only values written by this
    transaction are affected, and only where the column has no compression of its own.
    """
    if conn.dialect.name != "postgresql":
        return
    supported = conn.exec_driver_sql(
        "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
    ).first()
    if supported is not None:
        conn.exec_driver_sql("SET LOCAL default_toast_compression = 'lz4'")


def _decided(resolved: Path) -> pa.Table:
    """Each fetched referral's id, skip reason so far and ``updated_at``, as Arrow columns.

    Only the ids of referrals skipped already become Python values: with a Python string per fetched
    id held through the whole write, the write step alone at 300,000 peaked at 480 MB, against 459 MB
    (measured).
    """
    return pq.read_table(resolved, columns=["id", "skip_reason", "updated_at"], use_threads=False)


def _count_pre_skips(decided: pa.Table, outcome: SyncOutcome) -> None:
    pre = decided.filter(pc.is_valid(decided["skip_reason"])).select(["id", "skip_reason"])
    for item in pc.value_counts(pre["skip_reason"]).to_pylist():
        reason = str(item["values"])
        outcome.skipped[reason] = outcome.skipped.get(reason, 0) + int(item["counts"])
    outcome.skips = pre.rename_columns(["id", "reason"]).to_pandas()


def _merge_referrals(conn: Connection, outcome: SyncOutcome, now: datetime, resolved: Path) -> None:
    """Classify staged rows against stored ones, then write the new and the changed ones.

    The sync lock is held, so the referrals classified as new are still new when they are copied in.
    """
    changed = _distinct("r", "t", (*DERIVED_COLUMNS, "payload_hash"))
    domain_changed = "(t.domain IS NOT NULL AND t.domain IS DISTINCT FROM r.domain)"
    classified = query_table(
        conn,
        f"SELECT t.fetch_seq, t.id, t.new_skip_reason, t.domain, r.id IS NOT NULL AS existed, "
        f"CASE WHEN r.id IS NULL THEN FALSE ELSE ({changed} OR {domain_changed}) END AS changed "
        "FROM pc_stage t LEFT JOIN partner_center_referrals r ON r.id = t.id",
        {
            "fetch_seq": "int",
            "id": "text",
            "new_skip_reason": "text",
            "domain": "text",
            "existed": "bool",
            "changed": "bool",
        },
    )
    existed = classified["existed"]
    reason = classified["new_skip_reason"]
    new_ok = pc.and_(pc.invert(existed), pc.is_null(reason))
    new_skipped = pc.and_(pc.invert(existed), pc.is_valid(reason))
    updated = pc.and_(existed, classified["changed"])
    outcome.inserted = _count(new_ok)
    outcome.updated = _count(updated)
    outcome.unchanged = _count(existed) - outcome.updated
    for item in pc.value_counts(reason.filter(new_skipped)).to_pylist():
        late = str(item["values"])
        outcome.skipped[late] = outcome.skipped.get(late, 0) + int(item["counts"])
    action = pc.if_else(new_ok, ACTION_INSERTED, pc.if_else(updated, ACTION_UPDATED, ACTION_UNCHANGED))
    outcome.actions = (
        pa.table({"id": classified["id"], "domain": classified["domain"], "action": action})
        .filter(pc.invert(new_skipped))
        .to_pandas()
    )
    late_skips = pa.table({"id": classified["id"], "reason": reason}).filter(new_skipped).to_pandas()
    outcome.skips = pd.concat([outcome.skips, late_skips], ignore_index=True)
    new_seqs = classified["fetch_seq"].filter(new_ok).to_numpy()
    changed_seqs = classified["fetch_seq"].filter(updated).to_numpy()
    del classified, existed, reason, new_ok, new_skipped, updated, action
    if conn.dialect.name == "duckdb":
        _insert_new_from_parquet(conn, now, resolved, new_seqs)
        _replace_changed_from_parquet(conn, now, resolved, changed_seqs)
        return
    copied = copy_parquet(
        conn,
        "partner_center_referrals",
        resolved,
        (*REFERRAL_COLUMNS, "first_synced_at", "last_synced_at"),
        keep=keep_fetch_seqs(new_seqs),
        constants={"first_synced_at": now, "last_synced_at": now},
        read=["fetch_seq"],
    )
    if copied != len(new_seqs):
        raise RuntimeError(
            f"{resolved.name} holds {copied} of the {len(new_seqs)} new referrals staged from it; "
            "nothing was written"
        )
    if len(changed_seqs):
        conn.exec_driver_sql(
            'CREATE TEMP TABLE "pc_payloads" ("fetch_seq" BIGINT, "raw_payload" TEXT) ON COMMIT DROP'
        )
        copy_parquet(
            conn, "pc_payloads", resolved, ("fetch_seq", "raw_payload"), keep=keep_fetch_seqs(changed_seqs)
        )
        conn.execute(
            _upsert_statement(conn, "pc_stage t JOIN pc_payloads p ON p.fetch_seq = t.fetch_seq"),
            {"now": now},
        )


def _count(flags: pa.ChunkedArray) -> int:
    return int(pc.sum(flags).as_py() or 0)


def _upsert_statement(conn: Connection, source: str) -> sa.TextClause:
    """Update the stored referrals of ``source`` (staged rows ``t``, their payloads ``p``).

    ``source`` holds only referrals classified as changed, all stored (the sync lock keeps them so),
    among them ones a new-referral rule (§4.2) would skip: a stored referral is updated whatever its
    status. A stored row changes only when its fields, payload or resolved domain do.
    """
    insert_columns = _column_list((*REFERRAL_COLUMNS, "first_synced_at", "last_synced_at"))
    select_columns = ", ".join(_referral_values(conn).values())
    updates = ", ".join(f'"{c}" = excluded."{c}"' for c in (*DERIVED_COLUMNS, "raw_payload", "payload_hash"))
    updates += (
        ", domain = COALESCE(excluded.domain, partner_center_referrals.domain)"
        ", domain_source = CASE WHEN excluded.domain IS NULL THEN partner_center_referrals.domain_source"
        " ELSE excluded.domain_source END"
        ", last_synced_at = excluded.last_synced_at"
    )
    stored_changed = _distinct("partner_center_referrals", "excluded", (*DERIVED_COLUMNS, "payload_hash"))
    return sa.text(
        f"INSERT INTO partner_center_referrals ({insert_columns}) "
        f"SELECT {select_columns}, :now, :now FROM {source} "
        f"ON CONFLICT (id) DO UPDATE SET {updates} "
        f"WHERE {stored_changed} OR (excluded.domain IS NOT NULL "
        "AND excluded.domain IS DISTINCT FROM partner_center_referrals.domain)"
    )


def _insert_new_from_parquet(conn: Connection, now: datetime, resolved: Path, new_seqs: np.ndarray) -> None:
    """DuckDB: the new referrals inserted with their payloads read from the file, in one plain ``INSERT``.

    A plain append lets DuckDB write full row groups to the database file as they fill, so its
    memory stays bounded however many referrals are new (measured: 100,000 and 300,000 both within
    250 MB of buffers); ``INSERT … ON CONFLICT`` keeps every row of the transaction in memory.
    """
    stage_frame(conn, "pc_new", pd.DataFrame({"fetch_seq": new_seqs}, dtype="int64"), {"fetch_seq": "int"})
    insert_columns = _column_list((*REFERRAL_COLUMNS, "first_synced_at", "last_synced_at"))
    select_columns = ", ".join(_referral_values(conn).values())
    inserted = conn.execute(
        sa.text(
            f"INSERT INTO partner_center_referrals ({insert_columns}) "
            f"SELECT {select_columns}, :now, :now "
            "FROM pc_stage t SEMI JOIN pc_new n ON n.fetch_seq = t.fetch_seq "
            "JOIN read_parquet(:resolved) p ON p.fetch_seq = t.fetch_seq"
        ),
        {"now": now, "resolved": str(resolved)},
    ).rowcount
    if inserted != len(new_seqs):
        raise RuntimeError(
            f"{resolved.name} holds {inserted} of the {len(new_seqs)} new referrals staged from it; "
            "nothing was written"
        )


def _replace_changed_from_parquet(
    conn: Connection, now: datetime, resolved: Path, changed_seqs: np.ndarray
) -> None:
    """DuckDB: the changed referrals deleted and inserted again, in their new version.

    An ``UPDATE`` (or ``ON CONFLICT DO UPDATE``) keeps every new value in memory until the commit,
    so updating every payload of 100,000 referrals needed more than 300 MB of buffers and 300,000
    more than 400 MB (measured), while an append goes to the file as its row groups fill. DuckDB
    1.1 refused to insert a key deleted earlier in the same transaction (1.2.2, 1.3.2 and 1.4.0
    accept it, measured), hence ``duckdb>=1.4``, its long-term-support line. What an update would
    keep of the stored row is carried over: the first sync time, a domain the new version lacks,
    and any column the sync does not write.
    """
    if not len(changed_seqs):
        return
    stage_frame(
        conn, "pc_changed", pd.DataFrame({"fetch_seq": changed_seqs}, dtype="int64"), {"fetch_seq": "int"}
    )
    written = {*REFERRAL_COLUMNS, "last_synced_at"}
    kept = [c for c in table_columns(conn, "partner_center_referrals") if c not in written]
    kept_list = ", ".join(f'r."{c}"' for c in kept)
    conn.exec_driver_sql(
        "CREATE OR REPLACE TEMP TABLE pc_kept AS "
        f'SELECT t.fetch_seq AS "pc_fetch_seq", r."domain" AS "pc_domain", '
        f'r."domain_source" AS "pc_domain_source", {kept_list} '
        "FROM partner_center_referrals r JOIN pc_stage t ON t.id = r.id "
        "SEMI JOIN pc_changed c ON c.fetch_seq = t.fetch_seq"
    )
    deleted = conn.exec_driver_sql(
        "DELETE FROM partner_center_referrals WHERE id IN "
        "(SELECT t.id FROM pc_stage t SEMI JOIN pc_changed c ON c.fetch_seq = t.fetch_seq)"
    ).rowcount
    values = _referral_values(conn)
    values["domain"] = 'COALESCE(t."domain", k."pc_domain")'
    values["domain_source"] = (
        'CASE WHEN t."domain" IS NULL THEN k."pc_domain_source" ELSE t."domain_source" END'
    )
    values["last_synced_at"] = ":now"
    values.update({c: f'k."{c}"' for c in kept})
    inserted = conn.execute(
        sa.text(
            f"INSERT INTO partner_center_referrals ({_column_list(values)}) "
            f"SELECT {', '.join(values.values())} "
            "FROM pc_stage t JOIN pc_kept k ON k.pc_fetch_seq = t.fetch_seq "
            "JOIN read_parquet(:resolved) p ON p.fetch_seq = t.fetch_seq"
        ),
        {"now": now, "resolved": str(resolved)},
    ).rowcount
    if deleted != len(changed_seqs) or inserted != len(changed_seqs):
        raise RuntimeError(
            f"{len(changed_seqs)} changed referrals were classified, but {deleted} stored versions were "
            f"replaced by {inserted} from {resolved.name}; nothing was written"
        )


def _column_list(columns: Iterable[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def _referral_values(conn: Connection) -> dict[str, str]:
    """The value of each of :data:`REFERRAL_COLUMNS` from a staged row ``t`` and its payload ``p``."""
    cast = _json_cast(conn)
    return {
        c: f"CAST(p.raw_payload AS {cast})" if c == "raw_payload" else f't."{c}"' for c in REFERRAL_COLUMNS
    }


def _link_referrals(conn: Connection, outcome: SyncOutcome, now: datetime) -> None:
    """§4.5: companies, leads, links and scan requests for fetched referrals not linked yet.

    The referrals to link stay Arrow columns throughout, and so do the ids found by domain: with the
    classification also kept in Arrow (:func:`_merge_referrals`), the write alone of 300,000 referrals
    peaked 142 MB above its start, against 245 MB with pandas frames and Python dicts (measured).
    """
    candidates = query_table(
        conn,
        "SELECT r.id, lower(r.domain), r.customer_name, r.customer_country, r.created_at "
        "FROM partner_center_referrals r "
        "JOIN pc_stage t ON t.id = r.id "
        "LEFT JOIN partner_center_lead_links l ON l.referral_id = r.id "
        "WHERE l.referral_id IS NULL AND r.domain IS NOT NULL",
        {
            "id": "text",
            "domain": "text",
            "customer_name": "text",
            "customer_country": "text",
            "created_at": "timestamp",
        },
    )
    if not candidates.num_rows:
        outcome.links = pd.DataFrame({"referral_id": [], "lead_id": [], "link_type": []})
        return
    # Sorted here, not in SQL: ids compare by code point whatever the database's collation. Arrow's
    # sort is stable and puts nulls last.
    candidates = candidates.take(
        pc.sort_indices(candidates, sort_keys=[("created_at", "ascending"), ("id", "ascending")])
    )
    domains = DomainCodes.of(candidates["domain"])
    stage_frame(
        conn,
        "pc_domains",
        domains.firsts(
            candidates, {"customer_name": "name", "customer_country": "country", "id": "first_referral"}
        ),
        {"domain": "text", "name": "text", "country": "text", "first_referral": "text"},
    )
    company_ids = _upsert_companies(conn, outcome, now)
    existing_leads = _first_by_lowercase_domain(conn, "leads", "x.created_at, x.id")
    own_leads = _own_leads(conn)
    creators = _lead_creators(candidates, domains, existing_leads, own_leads)
    del domains
    created = IdsByKey.empty()
    if creators.num_rows:
        rows = pa.table(
            {
                "company_id": _lookup(creators["domain"], *company_ids),
                "domain": creators["domain"],
                "external_id": creators["id"],
            }
        )
        stage_frame(
            conn, "pc_new_leads", rows, {"company_id": "int", "domain": "text", "external_id": "text"}
        )
        id_expr = _next_ids(conn, "leads", "leads_id_seq")
        conn.execute(
            sa.text(
                f"INSERT INTO leads (id, company_id, domain, source, external_id, created_at, updated_at) "
                f"{_explicit_ids(conn)}"
                f"SELECT {id_expr}, n.company_id, n.domain, :source, n.external_id, :now, :now "
                "FROM pc_new_leads n ON CONFLICT (source, external_id) DO NOTHING"
            ),
            {"source": LEAD_SOURCE, "now": now},
        )
        created = IdsByKey.query(
            conn,
            "SELECT n.domain, l.id FROM pc_new_leads n JOIN leads l "
            f"ON l.source = {_quoted(LEAD_SOURCE)} AND l.external_id = n.external_id AND l.domain = n.domain",
        )
    outcome.leads_created = len(created)
    creator_ids = creators["id"].filter(_is_in(creators["domain"], created.keys))
    lead_ids = pc.coalesce(
        _lookup(candidates["domain"], existing_leads, created), _lookup(candidates["id"], own_leads)
    )
    links = pa.table(
        {
            "referral_id": candidates["id"],
            "lead_id": lead_ids,
            "link_type": pc.if_else(_is_in(candidates["id"], creator_ids), "created", "linked_existing"),
        }
    )
    if lead_ids.null_count:  # a copy of every column, made only when some referral has no lead
        links = links.filter(pc.is_valid(lead_ids))
    del candidates
    stage_frame(conn, "pc_links", links, {"referral_id": "text", "lead_id": "int", "link_type": "text"})
    conn.execute(
        sa.text(
            "INSERT INTO partner_center_lead_links (referral_id, lead_id, link_type, linked_at) "
            "SELECT referral_id, lead_id, link_type, :now FROM pc_links ON CONFLICT (referral_id) DO NOTHING"
        ),
        {"now": now},
    )
    outcome.links = links.to_pandas()
    outcome.links_created = int(pc.sum(pc.equal(links["link_type"], "created")).as_py() or 0)
    outcome.links_existing = links.num_rows - outcome.links_created
    scan_id = _next_ids(conn, "domain_scan_requests", "domain_scan_requests_id_seq")
    result = conn.execute(
        sa.text(
            f"INSERT INTO domain_scan_requests (id, domain, source, referral_id, status, requested_at) "
            f"{_explicit_ids(conn)}"
            f"SELECT {scan_id}, d.domain, :source, d.first_referral, 'pending', :now FROM pc_domains d "
            "WHERE NOT EXISTS (SELECT 1 FROM domain_scan_requests s "
            "WHERE lower(s.domain) = d.domain AND s.status = 'pending')"
        ),
        {"source": SCAN_SOURCE, "now": now},
    )
    outcome.scans_requested = max(result.rowcount, 0)


def _own_leads(conn: Connection) -> IdsByKey:
    """Referral id → id of the ``partner_center`` lead that already carries it as ``external_id``.

    Such a lead exists when a link row was removed or another writer used the referral's id: a new
    lead with that ``(source, external_id)`` cannot be created, so the referral links to it instead.
    """
    return IdsByKey.query(
        conn,
        "SELECT DISTINCT l.external_id, l.id FROM leads l JOIN pc_stage t ON t.id = l.external_id "
        f"WHERE l.source = {_quoted(LEAD_SOURCE)}",
    )


def _lead_creators(
    candidates: pa.Table, domains: DomainCodes, existing_leads: IdsByKey, own_leads: IdsByKey
) -> pa.Table:
    """The referral that creates each domain's lead (``domain``, ``id``): the first of the domain, in
    §4.5 order, whose id no ``partner_center`` lead carries yet; domains with a lead already get none.
    Domains come in the order of their creators."""
    taken = pc.or_(
        _is_in(candidates["domain"], existing_leads.keys), _is_in(candidates["id"], own_leads.keys)
    )
    first = domains.first_rows(~taken.to_numpy(zero_copy_only=False))
    codes = np.flatnonzero(first >= 0)
    codes = codes[np.argsort(first[codes], kind="stable")]
    return pa.table({"domain": domains.names.take(codes), "id": candidates["id"].take(first[codes])})


@dataclass(frozen=True)
class DomainCodes:
    """The domains of rows in the order they first appear, and each row's domain as a code into them.

    Per-domain firsts are found from the codes: Arrow's ``group_by`` took 0.6 s and 70 MB for the
    260,000 referrals of a 300,000 sync, the codes 0.05 s and under 1 MB (measured); the rows are not
    copied to pick a subset of them.
    """

    names: pa.Array
    codes: np.ndarray

    @classmethod
    def of(cls, domains: pa.ChunkedArray | pa.Array) -> DomainCodes:
        """Codes of ``domains``, which holds no null."""
        encoded = pc.dictionary_encode(domains)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.unify_dictionaries().combine_chunks()
        return cls(encoded.dictionary, encoded.indices.to_numpy(zero_copy_only=False))

    def first_rows(self, among: np.ndarray) -> np.ndarray:
        """Per domain, the position of its first row where ``among`` is true; -1 where none is."""
        positions = np.flatnonzero(among)
        present, first_at = np.unique(self.codes[positions], return_index=True)
        first = np.full(len(self.names), -1, dtype=np.int64)
        first[present] = positions[first_at]
        return first

    def firsts(self, rows: pa.Table, columns: dict[str, str]) -> pa.Table:
        """Per domain, the first non-null value of each of ``columns`` of ``rows`` (renamed as it maps
        them), as pandas' ``groupby(sort=False).first()`` gives it."""
        first: dict[str, pa.Array | pa.ChunkedArray] = {"domain": self.names}
        for column, name in columns.items():
            values = rows.column(column)
            found = self.first_rows(pc.is_valid(values).to_numpy(zero_copy_only=False))
            first[name] = values.take(pa.array(found, mask=found < 0))
        return pa.table(first)


@dataclass(frozen=True)
class IdsByKey:
    """Text keys and the id of each, as two Arrow arrays (a key at most once).

    The write looks up tens of thousands of domains at once; as Python dicts, these ids were part of
    the memory the link phase no longer takes (see :func:`_link_referrals`).
    """

    keys: pa.Array
    ids: pa.Array

    @classmethod
    def empty(cls) -> IdsByKey:
        return cls(pa.array([], type=pa.string()), pa.array([], type=pa.int64()))

    @classmethod
    def query(cls, conn: Connection, sql: str) -> IdsByKey:
        """The (key, id) rows of ``sql``."""
        table = query_table(conn, sql, {"key": "text", "id": "int"})
        return cls(table.column("key").combine_chunks(), table.column("id").combine_chunks())

    def __len__(self) -> int:
        return len(self.keys)


def _is_in(values: pa.ChunkedArray | pa.Array, keys: pa.Array) -> pa.ChunkedArray | pa.Array:
    """Whether each value is one of ``keys``, by Arrow's hash lookup (pandas' ``isin`` on Arrow-backed
    strings made an Arrow scalar of every key first: 0.23 s of a 100,000-referral write, measured)."""
    return pc.is_in(values, value_set=keys)


def _lookup(values: pa.ChunkedArray | pa.Array, *maps: IdsByKey) -> pa.ChunkedArray | pa.Array:
    """The id of each value in the first of ``maps`` that holds it as a key, as int64; null where
    none does."""
    found = [pc.take(ids.ids, pc.index_in(values, value_set=ids.keys)) for ids in maps]
    return pc.coalesce(*found) if len(found) > 1 else found[0]


def _quoted(value: str) -> str:
    """``value`` as an SQL string literal (the queries read through ``COPY`` take no parameters)."""
    return "'" + value.replace("'", "''") + "'"


def _upsert_companies(conn: Connection, outcome: SyncOutcome, now: datetime) -> tuple[IdsByKey, IdsByKey]:
    """Upsert a company per domain of ``pc_domains``; the ids by domain of those matched and those inserted.

    An existing company matches its domain in any case (other writers may store ``Contoso.com``);
    when several do, the one spelled in lowercase, else the oldest, gets the referral's values.
    """
    existing = _first_by_lowercase_domain(
        conn, "companies", "CASE WHEN x.domain = lower(x.domain) THEN 0 ELSE 1 END, x.created_at, x.id"
    )
    stage_frame(
        conn,
        "pc_company_ids",
        pa.table({"domain": existing.keys, "id": existing.ids}),
        {"domain": "text", "id": "int"},
    )
    matched = "SELECT m.id, d.name, d.country FROM pc_company_ids m JOIN pc_domains d ON d.domain = m.domain"
    outcome.companies_filled = int(
        conn.execute(
            sa.text(
                f"SELECT count(*) FROM companies c JOIN ({matched}) x ON x.id = c.id WHERE "
                "(c.name IS NULL AND x.name IS NOT NULL) OR (c.country IS NULL AND x.country IS NOT NULL)"
            )
        ).scalar_one()
    )
    id_expr = _next_ids(conn, "companies", "companies_id_seq")
    result = conn.execute(
        sa.text(
            f"INSERT INTO companies (id, domain, name, country, created_at, updated_at) "
            f"{_explicit_ids(conn)}"
            f"SELECT {id_expr}, d.domain, d.name, d.country, :now, :now FROM pc_domains d "
            "WHERE NOT EXISTS (SELECT 1 FROM pc_company_ids m WHERE m.domain = d.domain) "
            "ON CONFLICT (domain) DO NOTHING"
        ),
        {"now": now},
    )
    outcome.companies_inserted = max(result.rowcount, 0)
    conn.execute(
        sa.text(
            "UPDATE companies SET name = COALESCE(companies.name, x.name), "
            "country = COALESCE(companies.country, x.country), updated_at = :now "
            f"FROM ({matched}) x WHERE companies.id = x.id AND ("
            "(companies.name IS NULL AND x.name IS NOT NULL) OR "
            "(companies.country IS NULL AND x.country IS NOT NULL))"
        ),
        {"now": now},
    )
    inserted = IdsByKey.query(
        conn,
        "SELECT c.domain, c.id FROM companies c JOIN pc_domains d ON d.domain = c.domain "
        "WHERE NOT EXISTS (SELECT 1 FROM pc_company_ids m WHERE m.domain = d.domain)",
    )
    return existing, inserted


def _first_by_lowercase_domain(conn: Connection, table: str, order: str) -> IdsByKey:
    """Domain of ``pc_domains`` → id of the first row ``x`` of ``table`` by ``order`` whose domain
    is the same in lowercase (other writers may store ``Contoso.com``)."""
    return IdsByKey.query(
        conn,
        "SELECT domain_lc, id FROM ("
        " SELECT lower(x.domain) AS domain_lc, x.id,"
        f" row_number() OVER (PARTITION BY lower(x.domain) ORDER BY {order}) AS rn"
        f" FROM {table} x JOIN pc_domains d ON lower(x.domain) = d.domain"
        ") ranked WHERE rn = 1",
    )


_DUCKDB_MAX_DRAW = 10_000_000


def _next_ids(conn: Connection, table: str, sequence: str) -> str:
    """SQL for fresh ids from the table's sequence, first moved past the largest id in use.

    Other writers insert with explicit ids or with the column's default (the same sequence), so
    the sequence has to stay ahead of every id either way. PostgreSQL moves it with ``setval``;
    DuckDB cannot set a sequence, so it draws the missing values instead, or, past
    :data:`_DUCKDB_MAX_DRAW` of them, continues from the largest id without the sequence.
    """
    if conn.dialect.name == "postgresql":
        owned = conn.execute(
            sa.text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table}
        ).scalar()
        sequence = owned or sequence
        conn.execute(
            sa.text(
                f"SELECT setval('{sequence}', x.m) FROM (SELECT MAX(id) AS m FROM {table}) x "
                "WHERE x.m IS NOT NULL AND x.m >= "
                f"(SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM {sequence})"
            )
        )
        return f"nextval('{sequence}')"
    drawn = int(conn.execute(sa.text(f"SELECT nextval('{sequence}')")).scalar_one())
    largest = int(conn.execute(sa.text(f"SELECT COALESCE(MAX(id), 0) FROM {table}")).scalar_one())
    missing = largest - drawn
    if missing > _DUCKDB_MAX_DRAW:
        return f"(SELECT COALESCE(MAX(id), 0) FROM {table}) + row_number() OVER ()"
    if missing >= 0:
        conn.execute(sa.text(f"SELECT max(nextval('{sequence}')) FROM range({missing + 1})"))
    return f"nextval('{sequence}')"


def _explicit_ids(conn: Connection) -> str:
    """On PostgreSQL, lets the sync's ids into a Hunter table whose id is ``GENERATED ALWAYS``."""
    return "OVERRIDING SYSTEM VALUE " if conn.dialect.name == "postgresql" else ""


def _write_run_row(
    conn: Connection, run: SyncRunInfo, outcome: SyncOutcome, now: datetime, *, status: str
) -> None:
    upsert_run(
        conn,
        run,
        status=status,
        finished_at=now,
        counters=outcome,
        watermark=outcome.watermark,
    )


def upsert_run(
    conn: Connection,
    run: SyncRunInfo,
    *,
    status: str,
    finished_at: datetime | None,
    counters: SyncOutcome | None = None,
    watermark: datetime | None = None,
    error: str | None = None,
) -> None:
    """Insert or replace the ``partner_center_sync_runs`` row of ``run``."""
    counters = counters or SyncOutcome()
    params = {
        "run_id": run.run_id,
        "started_at": run.started_at,
        "finished_at": finished_at,
        "status": status,
        "fetched": counters.fetched,
        "inserted": counters.inserted,
        "updated": counters.updated,
        "unchanged": counters.unchanged,
        "skipped": json.dumps({reason: counters.skipped.get(reason, 0) for reason in SKIP_REASONS}),
        "watermark": watermark,
        "full_refresh": run.full_refresh,
        "pages": run.pages,
        "max_pages_reached": run.max_pages_reached,
        "error": error,
    }
    cast = _json_cast(conn)
    columns = list(params)
    values = ", ".join(f"CAST(:skipped AS {cast})" if c == "skipped" else f":{c}" for c in columns)
    updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c != "run_id")
    conn.execute(
        sa.text(
            f"INSERT INTO partner_center_sync_runs ({', '.join(columns)}) VALUES ({values}) "
            f"ON CONFLICT (run_id) DO UPDATE SET {updates}"
        ),
        params,
    )


def record_failed_run(
    engine: Engine, run: SyncRunInfo, error: str, *, fetched: int = 0, now: datetime | None = None
) -> bool:
    """Best effort: write a ``failed`` row for a run that did not commit; never raises.

    The row carries what was fetched before the failure and the watermark still in force (a failed
    sync never moves it), so the newest row of the table always tells where the next sync starts.
    """
    try:
        with engine.begin() as conn:
            existing = conn.execute(
                sa.text("SELECT status FROM partner_center_sync_runs WHERE run_id = :run_id"),
                {"run_id": run.run_id},
            ).scalar()
            if existing == "success":
                return False
            upsert_run(
                conn,
                run,
                status="failed",
                finished_at=now or datetime.now(UTC),
                counters=SyncOutcome(fetched=fetched),
                watermark=stored_watermark(conn),
                error=error[:2000],
            )
        return True
    except Exception:
        return False
