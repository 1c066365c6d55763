"""Plain-text summaries of a sync for the terminal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from partner_center_assets.ingest.reasons import SKIP_REASONS


def print_summary(metadata: Mapping[str, Any], *, dry_run: bool = False) -> None:
    title = "Dry run: nothing was written. This sync would have:" if dry_run else "Sync summary:"
    click.echo(title)
    for key in ("fetched", "inserted", "updated", "unchanged"):
        click.echo(f"  {key:<28}{metadata.get(key, 0):>10}")
    click.echo(f"  {'skipped':<28}{metadata.get('skipped', 0):>10}")
    for reason in SKIP_REASONS:
        click.echo(f"    {reason:<26}{metadata.get(f'skipped_{reason}', 0):>10}")
    click.echo(f"  {'watermark':<28}{metadata.get('watermark', 'none')!s:>10}")
    if metadata.get("max_pages_reached"):
        click.echo(
            "  MAX_PAGES was reached: older referrals were not read (see HUNTER_PARTNER_CENTER_MAX_PAGES)."
        )
    if dry_run and metadata.get("preview"):
        click.echo("What would change (first rows):")
        click.echo(str(metadata["preview"]))
