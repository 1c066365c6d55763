"""The dbt_hunter dbt project, as dagster-dbt sees it.

This module only builds the ``DbtProject``: it is the ``--file`` target of
``dagster-dbt project prepare-and-package``, which must import it before any manifest exists.
"""

from pathlib import Path

from dagster_dbt import DbtProject

DBT_HUNTER_DIR = Path(__file__).resolve().parents[3] / "dbt_hunter"

dbt_hunter_project = DbtProject(project_dir=DBT_HUNTER_DIR, profiles_dir=DBT_HUNTER_DIR)
dbt_hunter_project.prepare_if_dev()
