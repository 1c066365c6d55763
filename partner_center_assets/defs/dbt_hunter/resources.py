"""The ``dbt`` resource that runs dbt_hunter."""

import shutil
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource

from partner_center_assets.defs.dbt_hunter.project import dbt_hunter_project


def dbt_executable() -> str:
    """The ``dbt`` installed beside this Python, so a non-activated virtualenv still finds it."""
    beside_python = Path(sys.executable).parent / "dbt"
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("dbt") or "dbt"


def dbt_hunter_resource() -> DbtCliResource:
    """The resource that runs dbt_hunter; the target comes from ``HUNTER_DATABASE_URL`` at run time."""
    return DbtCliResource(project_dir=dbt_hunter_project, dbt_executable=dbt_executable())


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources={"dbt": dbt_hunter_resource()})
