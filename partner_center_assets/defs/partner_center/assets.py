"""The Partner Center assets: raw pages → normalized → domain-resolved → Hunter tables."""

import time
from datetime import UTC, datetime, timedelta

import dagster as dg

from partner_center_assets import dbt_warm
from partner_center_assets.client import PartnerCenterClient, StreamStats, TokenProvider, build_referral_query
from partner_center_assets.client.auth import REFRESH_TOKEN_IDLE_LIMIT_DAYS
from partner_center_assets.client.read_ahead import read_ahead
from partner_center_assets.dbt_ahead import start_ahead
from partner_center_assets.dbt_command import dbt_build_command
from partner_center_assets.dbt_target import database_url_from_env
from partner_center_assets.defs.dbt_hunter.assets import dbt_hunter_assets
from partner_center_assets.defs.partner_center import previews
from partner_center_assets.defs.partner_center.events import FETCHED, SUMMARY, log_event, log_referral_events
from partner_center_assets.defs.partner_center.resources import HunterDatabase, PartnerCenter, SyncStorage
from partner_center_assets.defs.partner_center.table_metadata import table_metadata
from partner_center_assets.heap import collection_paused, frozen_heap, unmap_large_blocks_when_freed
from partner_center_assets.hunter_db.schema import HUNTER_TABLES
from partner_center_assets.hunter_db.sync_writer import (
    SyncRunInfo,
    record_failed_run,
    referrals_stored,
    stored_watermark,
    watermark_ahead,
)
from partner_center_assets.ingest.domains import DETAILS as DOMAIN_DETAILS
from partner_center_assets.ingest.normalize import (
    STREAM_CHANGES,
    STREAM_DISCOVERY,
)
from partner_center_assets.ingest.reasons import NEW_REFERRAL_REASONS, SkipReason
from partner_center_assets.ingest.timestamps import watermark_cutoff
from partner_center_assets.normalize_step import normalize_pages
from partner_center_assets.resolve_step import resolve_referrals
from partner_center_assets.settings import Settings
from partner_center_assets.sync_files import FetchSummary
from partner_center_assets.sync_step import write_resolved_referrals

GROUP = "partner_center"
SIGN_IN_IDLE_WARN_DAYS = 60
"""A cached sign-in unused this long gets a warning; Entra ID lets it lapse at 90 days."""

PIPELINE_ASSETS: tuple[str, ...] = (
    "raw_referral_pages",
    "normalized_referrals",
    "resolved_referrals",
    *HUNTER_TABLES,
)
"""Every asset of the Partner Center group, upstream first (the dbt models come after)."""


def _start_dbt_ahead(context: dg.AssetExecutionContext) -> None:
    """When this run builds the dbt models, have dbt loaded (and the project parsed) for that build
    while the sync fetches and writes (:mod:`partner_center_assets.dbt_ahead`)."""
    steps = context.run.step_keys_to_execute
    planned = steps if steps is not None else [node.name for node in context.job_def.nodes]
    if dbt_hunter_assets.op.name in planned:
        start_ahead(database_url_from_env(), dbt_build_command(), started_by="the fetch")


class FetchConfig(dg.Config):
    """Run configuration of the fetch step."""

    full_refresh: bool = False
    """Read every page (up to MAX_PAGES) instead of stopping at the watermark."""


def _share(done: int, total: int | None) -> float | None:
    """Progress of a stream when the API told how many referrals match (``@odata.count``)."""
    if not total or total <= 0:
        return None
    return round(min(done / total, 1.0), 4)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _sign_in_idle_days(client: PartnerCenterClient, log: dg.DagsterLogManager) -> float | None:
    """How long the cached sign-in had gone unused before this run; a warning well before it dies."""
    provider = client.token_provider
    idle = provider.refresh_token_idle_days() if isinstance(provider, TokenProvider) else None
    if idle is not None and idle >= SIGN_IN_IDLE_WARN_DAYS:
        log.warning(
            f"The cached sign-in had not been used for {idle:g} days; refresh tokens expire after "
            f"{REFRESH_TOKEN_IDLE_LIMIT_DAYS} days without use. If this sync fails to sign in, "
            "run `partner-center login`"
        )
    return idle


def _referral_streams(settings: Settings, *, changes: bool) -> list[tuple[str, dict[str, str]]]:
    """The discovery stream, then the change stream when referrals were stored before this sync."""
    streams = [
        (
            STREAM_DISCOVERY,
            build_referral_query(direction=settings.direction, statuses=settings.statuses, top=settings.top),
        )
    ]
    if changes:
        streams.append(
            (
                STREAM_CHANGES,
                build_referral_query(direction=settings.direction, statuses=["Closed"], top=settings.top),
            )
        )
    return streams


@dg.asset(
    group_name=GROUP,
    kinds={"api", "json"},
    description="Referral pages as Partner Center returned them: discovery stream, then the change stream.",
)
def raw_referral_pages(
    context: dg.AssetExecutionContext,
    config: FetchConfig,
    partner_center: PartnerCenter,
    hunter_db: HunterDatabase,
    sync_storage: SyncStorage,
) -> dg.MaterializeResult:
    started = datetime.now(UTC)
    _start_dbt_ahead(context)
    hunter_db.ensure_schema()
    with hunter_db.engine().connect() as conn:
        watermark = stored_watermark(conn)
        has_referrals = referrals_stored(conn)
    summary = FetchSummary(
        full_refresh=config.full_refresh, watermark_before=_iso(watermark), started_at=started.isoformat()
    )
    files = sync_storage.files()
    client: PartnerCenterClient | None = None
    fetched_records = fetched_pages = 0
    try:
        settings = partner_center.settings()
        for problem in settings.undocumented_filter_values():
            context.log.warning(f"{problem}: the API may match no referral with it")
        cutoff = None
        if watermark is not None and not config.full_refresh:
            cutoff = watermark_cutoff(watermark, settings.lookback_minutes)
        summary.cutoff = _iso(cutoff)
        streams = _referral_streams(settings, changes=has_referrals)
        client = partner_center.client(logger=context.log)
        idle_days = _sign_in_idle_days(client, context.log)
        clock = time.monotonic()
        with frozen_heap(), files.page_writer() as out:
            for stream, query in streams:
                stats = StreamStats()
                stream_records = 0
                for page in read_ahead(
                    client.iter_referral_pages(
                        stream, query, cutoff=cutoff, max_pages=settings.max_pages, stats=stats
                    ),
                    name=f"partner-center-{stream}-pages",
                ):
                    out.write(
                        files.page_line(
                            stream, page.page_number, lambda page=page: page.records, page.content
                        )
                    )
                    stream_records += page.record_count
                    fetched_records += page.record_count
                    fetched_pages += 1
                    log_event(
                        context.log,
                        FETCHED,
                        stream=stream,
                        page=page.page_number,
                        records=page.record_count,
                        status_code=page.status_code,
                        request_id=page.request_id,
                        client_request_id=page.client_request_id,
                        url=page.url,
                        odata_count=page.odata_count,
                        records_so_far=stream_records,
                        share_done=_share(stream_records, page.odata_count),
                    )
                summary.streams[stream] = {
                    "pages": stats.pages,
                    "records": stats.records,
                    "requests": stats.requests,
                    "retries": stats.retries,
                    "stop_reason": stats.stop_reason,
                    "max_pages_reached": stats.max_pages_reached,
                }
                summary.pages += stats.pages
                summary.records += stats.records
                summary.requests += stats.requests
                summary.retries += stats.retries
                summary.throttled_seconds += stats.throttled_seconds
                summary.max_pages_reached = summary.max_pages_reached or stats.max_pages_reached
    except Exception as exc:
        dbt_warm.discard()
        record_failed_run(
            hunter_db.engine(),
            SyncRunInfo(run_id=context.run.run_id, started_at=started, pages=fetched_pages),
            str(exc),
            fetched=fetched_records,
        )
        raise
    finally:
        if client is not None:
            client.close()
    files.write_summary(summary)
    if summary.max_pages_reached:
        context.log.warning(
            f"MAX_PAGES ({settings.max_pages}) reached: older referrals were not read this sync; "
            "raise HUNTER_PARTNER_CENTER_MAX_PAGES or run a full refresh"
        )
    metadata: dict[str, object] = {
        "dagster/row_count": summary.records,
        "pages": summary.pages,
        "requests": summary.requests,
        "retries": summary.retries,
        "throttled_seconds": float(summary.throttled_seconds),
        "max_pages_reached": summary.max_pages_reached,
        "full_refresh": config.full_refresh,
        "seconds": round(time.monotonic() - clock, 3),
        "preview": dg.MetadataValue.md(previews.streams_preview(summary.streams)),
        "path": dg.MetadataValue.path(str(files.raw_pages)),
    }
    for stream in (STREAM_DISCOVERY, STREAM_CHANGES):
        stream_stats = summary.streams.get(stream, {})
        metadata[f"{stream}_pages"] = int(stream_stats.get("pages", 0))
        metadata[f"{stream}_records"] = int(stream_stats.get("records", 0))
    if idle_days is not None:
        metadata["sign_in_idle_days"] = idle_days
    if watermark is not None:
        metadata["watermark_before"] = dg.MetadataValue.timestamp(watermark)
    if cutoff is not None:
        metadata["cutoff"] = dg.MetadataValue.timestamp(cutoff)
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    group_name=GROUP,
    kinds={"python", "parquet"},
    deps=[raw_referral_pages],
    description="One typed row per fetched record, timestamps parsed to UTC, invalid payloads marked.",
)
def normalized_referrals(
    context: dg.AssetExecutionContext, partner_center: PartnerCenter, sync_storage: SyncStorage
) -> dg.MaterializeResult:
    clock = time.monotonic()
    files = sync_storage.files()
    workers = partner_center.settings().worker_count()
    with frozen_heap():
        outcome = normalize_pages(files, workers=workers, sample_size=previews.PREVIEW_ROWS)
    undocumented = outcome.census.undocumented()
    if undocumented:
        named = ", ".join(f"{name} ({count})" for name, count in undocumented.items())
        context.log.warning(
            f"Referrals carry fields the API documentation does not list: {named}. They are kept in "
            "raw_payload; model them in dbt_hunter if they matter."
        )
    by_stream_status = outcome.by_stream_status
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": outcome.rows,
            "invalid_payload": outcome.invalid,
            "undocumented_fields": dg.MetadataValue.json(undocumented),
            **{
                f"{stream}_records": sum(n for (name, _), n in by_stream_status.items() if name == stream)
                for stream in (STREAM_DISCOVERY, STREAM_CHANGES)
            },
            "workers": workers,
            "seconds": round(time.monotonic() - clock, 3),
            "preview": dg.MetadataValue.md(previews.normalized_preview(outcome.sample, by_stream_status)),
            "path": dg.MetadataValue.path(str(files.normalized)),
        }
    )


@dg.asset(
    group_name=GROUP,
    kinds={"python", "parquet"},
    deps=[normalized_referrals],
    description="Each referral with its company domain and, if new, the reason it would be skipped.",
)
def resolved_referrals(partner_center: PartnerCenter, sync_storage: SyncStorage) -> dg.MaterializeResult:
    clock = time.monotonic()
    files = sync_storage.files()
    settings = partner_center.settings()
    resolver = partner_center.domain_resolver()
    workers = settings.worker_count()
    with frozen_heap():
        outcome = resolve_referrals(
            files,
            resolver,
            direction=settings.direction,
            drop_fields=settings.drop_fields,
            workers=workers,
            sample_size=previews.PREVIEW_ROWS,
        )
    counts, domains = outcome.counts, outcome.domains
    with_domain = sum(domains.values())
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": outcome.rows,
            "with_domain": with_domain,
            "without_domain": outcome.rows - with_domain,
            "distinct_domains": len(domains),
            "invalid_payload": counts[SkipReason.INVALID_PAYLOAD],
            "duplicate": counts[SkipReason.DUPLICATE],
            **{f"would_skip_{reason}": counts[f"would_skip_{reason}"] for reason in NEW_REFERRAL_REASONS},
            **{f"domain_{detail}": counts[f"domain_{detail}"] for detail in DOMAIN_DETAILS},
            "domain_lists": dg.MetadataValue.json(resolver.list_versions),
            "payloads_trimmed": outcome.trimmed,
            "dropped_fields": ", ".join(".".join(path) for path in settings.drop_fields) or "none",
            "workers": workers,
            "seconds": round(time.monotonic() - clock, 3),
            "preview": dg.MetadataValue.md(previews.resolved_preview(outcome.sample, domains)),
            "path": dg.MetadataValue.path(str(files.resolved)),
        }
    )


@dg.multi_asset(
    group_name=GROUP,
    specs=[
        dg.AssetSpec(
            "partner_center_referrals",
            metadata=table_metadata("partner_center_referrals"),
            deps=[resolved_referrals],
            kinds={"sql", "table"},
            description="Referrals upserted into Hunter (every fetched, stored referral is kept current).",
            freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26)),
        ),
        dg.AssetSpec(
            "companies",
            metadata=table_metadata("companies"),
            deps=["partner_center_referrals"],
            kinds={"sql", "table"},
            description="Companies by domain; an existing company only gets its empty fields filled.",
        ),
        dg.AssetSpec(
            "leads",
            metadata=table_metadata("leads"),
            deps=["partner_center_referrals", "companies"],
            kinds={"sql", "table"},
            description="Hunter leads; a referral links to the oldest lead of its domain or creates one.",
        ),
        dg.AssetSpec(
            "partner_center_lead_links",
            metadata=table_metadata("partner_center_lead_links"),
            deps=["partner_center_referrals", "leads"],
            kinds={"sql", "table"},
            description="One link per referral with a domain: linked_existing or created.",
        ),
        dg.AssetSpec(
            "domain_scan_requests",
            metadata=table_metadata("domain_scan_requests"),
            deps=["partner_center_lead_links"],
            kinds={"sql", "table"},
            description="Domain scans requested for Hunter's scanner; at most one pending per domain.",
        ),
        dg.AssetSpec(
            "partner_center_sync_runs",
            metadata=table_metadata("partner_center_sync_runs"),
            deps=["partner_center_referrals"],
            kinds={"sql", "table"},
            description="One row per sync: counters, skipped by reason and the watermark.",
        ),
    ],
)
def hunter_tables(context: dg.AssetExecutionContext, hunter_db: HunterDatabase, sync_storage: SyncStorage):
    """Writes every Hunter table of one sync in a single transaction."""
    clock = time.monotonic()
    engine = hunter_db.engine()
    hunter_db.ensure_schema()
    unmap_large_blocks_when_freed()
    with frozen_heap(), collection_paused():
        outcome, summary = write_resolved_referrals(engine, sync_storage.files(), context.run.run_id)
    log_referral_events(context.log, outcome.actions, outcome.skips)
    if watermark_ahead(outcome.watermark, datetime.now(UTC)):
        context.log.warning(
            f"The watermark {_iso(outcome.watermark)} is more than a day ahead of this machine's clock: "
            "a fetched referral carries a future updatedDateTime, so later syncs stop early from there; "
            "check the clock, then run `partner-center sync --full-refresh` to read everything"
        )
    counters = outcome.counters()
    log_event(
        context.log,
        SUMMARY,
        run_id=context.run.run_id,
        **counters,
        watermark=_iso(outcome.watermark),
        companies_inserted=outcome.companies_inserted,
        leads_created=outcome.leads_created,
        links_created=outcome.links_created,
        links_existing=outcome.links_existing,
        scans_requested=outcome.scans_requested,
        max_pages_reached=summary.max_pages_reached,
    )
    with engine.connect() as conn:
        counts = {
            table: int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())
            for table in HUNTER_TABLES
        }
    referrals_metadata: dict[str, object] = {
        "dagster/row_count": counts["partner_center_referrals"],
        **counters,
        "skipped": sum(outcome.skipped.values()),
        "max_pages_reached": summary.max_pages_reached,
        "write_seconds": round(time.monotonic() - clock, 3),
        "preview": dg.MetadataValue.md(previews.actions_preview(outcome.actions)),
    }
    if outcome.watermark is not None:
        referrals_metadata["watermark"] = dg.MetadataValue.timestamp(outcome.watermark)
    yield dg.MaterializeResult(asset_key="partner_center_referrals", metadata=referrals_metadata)
    yield dg.MaterializeResult(
        asset_key="companies",
        metadata={
            "dagster/row_count": counts["companies"],
            "inserted": outcome.companies_inserted,
            "filled": outcome.companies_filled,
        },
    )
    yield dg.MaterializeResult(
        asset_key="leads", metadata={"dagster/row_count": counts["leads"], "created": outcome.leads_created}
    )
    yield dg.MaterializeResult(
        asset_key="partner_center_lead_links",
        metadata={
            "dagster/row_count": counts["partner_center_lead_links"],
            "created": outcome.links_created,
            "linked_existing": outcome.links_existing,
            "preview": dg.MetadataValue.md(previews.links_preview(outcome.links)),
        },
    )
    yield dg.MaterializeResult(
        asset_key="domain_scan_requests",
        metadata={"dagster/row_count": counts["domain_scan_requests"], "requested": outcome.scans_requested},
    )
    yield dg.MaterializeResult(
        asset_key="partner_center_sync_runs",
        metadata={"dagster/row_count": counts["partner_center_sync_runs"]},
    )
