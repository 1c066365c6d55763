"""Asset checks: skipped referrals by reason, uniqueness and link/scan-queue quality."""

import json

import dagster as dg
import sqlalchemy as sa

from partner_center_assets.defs.partner_center.resources import HunterDatabase, SyncStorage
from partner_center_assets.ingest.reasons import SKIP_REASONS
from partner_center_assets.ingest.skip_review import SkipLimits, Verdict, review_skips


def _latest_run(conn: sa.Connection, run_id: str) -> sa.RowMapping | None:
    query = "SELECT * FROM partner_center_sync_runs WHERE run_id = :run_id"
    row = conn.execute(sa.text(query), {"run_id": run_id}).mappings().first()
    if row is None:
        row = (
            conn.execute(sa.text("SELECT * FROM partner_center_sync_runs ORDER BY started_at DESC LIMIT 1"))
            .mappings()
            .first()
        )
    return row


def _as_dict(value: object) -> dict[str, int]:
    if isinstance(value, str):
        value = json.loads(value)
    return {str(k): int(v) for k, v in dict(value or {}).items()}


@dg.asset_check(
    asset="partner_center_referrals",
    description=(
        "Referrals skipped in the latest sync, one count per reason (zeros included). Warns when any "
        "payload was invalid or the skipped share passes HUNTER_PARTNER_CENTER_SKIPPED_SHARE_WARN; "
        "fails as an error, keeping the dbt models from being rebuilt, above "
        "HUNTER_PARTNER_CENTER_SKIPPED_SHARE_ERROR."
    ),
    blocking=True,
)
def skipped_by_reason(
    context: dg.AssetCheckExecutionContext, hunter_db: HunterDatabase
) -> dg.AssetCheckResult:
    limits = SkipLimits.from_env()
    with hunter_db.engine().connect() as conn:
        run = _latest_run(conn, context.run.run_id)
    if run is None:
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description="No sync has run yet.",
            metadata={reason: 0 for reason in SKIP_REASONS},
        )
    stored = _as_dict(run["skipped"])
    counts = {reason: stored.get(reason, 0) for reason in SKIP_REASONS}
    skipped = sum(counts.values())
    fetched = int(run["fetched"] or 0)
    review = review_skips(counts, fetched, limits)
    table = "| reason | referrals |\n|---|---|\n" + "\n".join(f"| {r} | {n} |" for r, n in counts.items())
    return dg.AssetCheckResult(
        passed=review.verdict is Verdict.PASSED,
        severity=(
            dg.AssetCheckSeverity.ERROR if review.verdict is Verdict.ERROR else dg.AssetCheckSeverity.WARN
        ),
        description="; ".join(review.problems) or f"{skipped} of {fetched} fetched referrals skipped.",
        metadata={
            **counts,
            "skipped": skipped,
            "fetched": fetched,
            "inserted": int(run["inserted"] or 0),
            "updated": int(run["updated"] or 0),
            "unchanged": int(run["unchanged"] or 0),
            "skipped_share": float(round(review.share, 4)),
            "skipped_share_threshold": limits.warn_share,
            **(
                {"skipped_share_error_threshold": limits.error_share}
                if limits.error_share is not None
                else {}
            ),
            "sync_run": dg.MetadataValue.dagster_run(str(run["run_id"])),
            "sync_status": str(run["status"]),
            "max_pages_reached": bool(run["max_pages_reached"]),
            "reasons": dg.MetadataValue.md(table),
        },
    )


def _scalar(hunter_db: HunterDatabase, sql: str) -> int:
    with hunter_db.engine().connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar() or 0)


@dg.asset_check(asset="partner_center_referrals", description="Every referral id is stored once.")
def unique_referral_ids(hunter_db: HunterDatabase) -> dg.AssetCheckResult:
    duplicates = _scalar(hunter_db, "SELECT count(*) - count(DISTINCT id) FROM partner_center_referrals")
    return dg.AssetCheckResult(
        passed=duplicates == 0,
        description=f"{duplicates} duplicate referral id(s).",
        metadata={"duplicate_ids": duplicates},
    )


@dg.asset_check(
    asset="partner_center_lead_links",
    description=(
        "Each stored referral with a domain has exactly one lead link, and every link has its referral."
    ),
)
def one_link_per_ingested_referral(hunter_db: HunterDatabase) -> dg.AssetCheckResult:
    unlinked = _scalar(
        hunter_db,
        "SELECT count(*) FROM partner_center_referrals r LEFT JOIN partner_center_lead_links l "
        "ON l.referral_id = r.id WHERE r.domain IS NOT NULL AND l.referral_id IS NULL",
    )
    orphans = _scalar(
        hunter_db,
        "SELECT count(*) FROM partner_center_lead_links l LEFT JOIN partner_center_referrals r "
        "ON r.id = l.referral_id WHERE r.id IS NULL",
    )
    dangling = _scalar(
        hunter_db,
        "SELECT count(*) FROM partner_center_lead_links l LEFT JOIN leads d ON d.id = l.lead_id "
        "WHERE d.id IS NULL",
    )
    return dg.AssetCheckResult(
        passed=unlinked == 0 and orphans == 0 and dangling == 0,
        description=(
            f"{unlinked} referral(s) with a domain but no link, {orphans} link(s) without referral, "
            f"{dangling} link(s) without lead."
        ),
        metadata={
            "unlinked_referrals": unlinked,
            "links_without_referral": orphans,
            "links_without_lead": dangling,
        },
    )


@dg.asset_check(
    asset="domain_scan_requests",
    description="At most one pending scan request per domain (domains compared lowercase).",
)
def no_pending_scan_duplicates(hunter_db: HunterDatabase) -> dg.AssetCheckResult:
    duplicated = _scalar(
        hunter_db,
        "SELECT count(*) FROM (SELECT lower(domain) FROM domain_scan_requests WHERE status = 'pending' "
        "GROUP BY lower(domain) HAVING count(*) > 1) d",
    )
    return dg.AssetCheckResult(
        passed=duplicated == 0,
        description=f"{duplicated} domain(s) with more than one pending scan request.",
        metadata={"domains_with_duplicate_pending": duplicated},
    )


@dg.asset_check(
    asset="raw_referral_pages",
    description=(
        "The latest fetch read every page it needed: warns when HUNTER_PARTNER_CENTER_MAX_PAGES cut a "
        "stream short, so older referrals were not read."
    ),
)
def max_pages_not_reached(sync_storage: SyncStorage) -> dg.AssetCheckResult:
    summary = sync_storage.files().read_summary()
    cut = [name for name, stats in summary.streams.items() if stats.get("max_pages_reached")]
    if cut:
        description = (
            f"MAX_PAGES cut short: {', '.join(cut)}; raise HUNTER_PARTNER_CENTER_MAX_PAGES "
            "or run a full refresh."
        )
    else:
        description = "Every stream ended before MAX_PAGES."
    return dg.AssetCheckResult(
        passed=not cut,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata={
            "pages": summary.pages,
            **{
                f"{name}_stop_reason": str(stats.get("stop_reason", ""))
                for name, stats in summary.streams.items()
            },
        },
    )
