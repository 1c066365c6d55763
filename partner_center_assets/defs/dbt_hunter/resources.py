"""The ``dbt`` resource that runs dbt_hunter."""

from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource
from packaging import version

from partner_center_assets.dbt_command import DBT_BESIDE_PYTHON, DBT_WRAPPER, dbt_build_command
from partner_center_assets.defs.dbt_hunter.project import dbt_hunter_project


class DbtHunterCli(DbtCliResource):
    """dagster-dbt's resource without two start-up costs that dbt_hunter does not need.

    Before each ``dbt build``, ``DbtCliResource`` runs ``dbt --version`` in a subprocess and builds
    an in-process dbt adapter (profile, project, every macro parsed), about 4 s per sync on two
    CPUs. The adapter only serves ``fetch_row_counts``/``fetch_column_metadata``, which these assets
    do not use, and the dbt beside this Python (or ``partner-center-dbt``, which runs it) is the
    dbt-core package installed here, whose version is known without a subprocess.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        if Path(self.dbt_executable) in (DBT_BESIDE_PYTHON, DBT_WRAPPER):
            from dbt.version import __version__

            return version.parse(__version__)
        return super()._cli_version

    def _initialize_dbt_core_adapter(self, args: Any) -> Any:
        return None


def dbt_hunter_resource() -> DbtCliResource:
    """The resource that runs dbt_hunter; the target comes from ``HUNTER_DATABASE_URL`` at run time."""
    return DbtHunterCli(project_dir=dbt_hunter_project, dbt_executable=dbt_build_command())


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources={"dbt": dbt_hunter_resource()})
