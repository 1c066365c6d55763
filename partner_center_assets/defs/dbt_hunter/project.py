"""The dbt_hunter dbt project, as dagster-dbt sees it.

This module only builds the ``DbtProject``: it is the ``--file`` target of
``dagster-dbt project prepare-and-package``, which must import it before any manifest exists.
"""

import os
import shutil
from pathlib import Path

from dagster_dbt import DbtProject

from partner_center_assets.dbt_command import dbt_executable
from partner_center_assets.dbt_target import DBT_HUNTER_DIR


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
