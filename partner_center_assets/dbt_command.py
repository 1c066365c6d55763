"""``partner-center-dbt``: dbt's own command line, its modules loaded before the collector runs.

dagster-dbt starts dbt as a process of its own for every build. dbt's imports and its parse of the
project make most of that process's objects, and the collector's full passes over them took
0.47 s of one 100,000-referral build (five passes, measured with ``gc.callbacks``). Everything else
is dbt's ``dbt`` command as installed.
"""

import os
import sys

from partner_center_assets.heap import loading_without_collection
from partner_center_assets.parent_death import die_with_parent

PARENT_VARIABLE = "PARTNER_CENTER_DBT_PARENT"
"""When set (to the starting process's pid), this dbt dies with that process: the parse made ahead
of a build (:mod:`partner_center_assets.dbt_parse_ahead`) is of no use once the sync is gone."""


def main() -> None:
    parent = os.environ.get(PARENT_VARIABLE, "")
    if parent.isdigit():
        die_with_parent(int(parent))
    with loading_without_collection():
        from dbt.cli.main import cli
    sys.argv[0] = sys.argv[0].removesuffix(".exe")
    sys.exit(cli())
