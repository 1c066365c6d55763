"""The dbt_hunter dbt project, as dagster-dbt sees it.

This module only builds the ``DbtProject``: it is the ``--file`` target of
``dagster-dbt project prepare-and-package``, which must import it before any manifest exists.
"""

import os
import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from partner_center_assets.dbt_target import DBT_HUNTER_DIR

DBT_BESIDE_PYTHON = Path(sys.executable).parent / "dbt"
DBT_WRAPPER = Path(sys.executable).parent / "partner-center-dbt"
"""The console script of :mod:`partner_center_assets.dbt_command`, where this package is installed."""


def dbt_executable() -> str:
    """The ``dbt`` installed beside this Python, so a non-activated virtualenv still finds it."""
    if DBT_BESIDE_PYTHON.exists():
        return str(DBT_BESIDE_PYTHON)
    return shutil.which("dbt") or "dbt"


def dbt_build_command() -> str:
    """What runs dbt_hunter's builds: ``partner-center-dbt`` (dbt's command, loaded without the
    collector's passes, see :mod:`partner_center_assets.dbt_command`) beside this Python, else dbt."""
    return str(DBT_WRAPPER) if DBT_WRAPPER.exists() else dbt_executable()


def _dbt_first_on_path() -> None:
    """dagster-dbt parses the project under ``dagster dev`` with the ``dbt`` on ``PATH``, which a
    virtualenv that is not activated leaves out: put the one beside this Python first."""
    executable = dbt_executable()
    if shutil.which("dbt") != executable and Path(executable).is_absolute():
        os.environ["PATH"] = os.pathsep.join(
            filter(None, [str(Path(executable).parent), os.environ.get("PATH")])
        )


_dbt_first_on_path()
dbt_hunter_project = DbtProject(project_dir=DBT_HUNTER_DIR, profiles_dir=DBT_HUNTER_DIR)
dbt_hunter_project.prepare_if_dev()
