"""The ``partner-center`` command's entry point: the CLI's modules load before the collector runs.

The commands live in :mod:`partner_center_assets.cli`; this module only loads them inside
:func:`~partner_center_assets.heap.loading_without_collection`, which must start before the first
heavy import.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from partner_center_assets.heap import loading_without_collection


def main() -> None:
    with loading_without_collection():
        if _builds_models(sys.argv[1:]):
            from partner_center_assets.dbt_ahead import start_ahead_of_sync

            start_ahead_of_sync()
        from partner_center_assets.cli import main as cli
    cli()


def _builds_models(args: Sequence[str]) -> bool:
    """Whether this command runs the daily job, dbt build included (``sync``, not a dry run).

    Such a command starts dbt's warm process (:mod:`partner_center_assets.dbt_ahead`) before it
    loads Dagster, so that dbt loads on the other CPU meanwhile.
    """
    return bool(args) and args[0] == "sync" and not {"--dry-run", "-h", "--help"} & set(args[1:])
