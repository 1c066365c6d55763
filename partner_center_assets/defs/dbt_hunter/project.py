"""The dbt_hunter dbt project, as dagster-dbt sees it.

This module only builds the ``DbtProject``: it is the ``--file`` target of
``dagster-dbt project prepare-and-package``, which must import it before any manifest exists.
"""

from dagster_dbt import DbtProject

from partner_center_assets.dbt_target import DBT_HUNTER_DIR

dbt_hunter_project = DbtProject(project_dir=DBT_HUNTER_DIR, profiles_dir=DBT_HUNTER_DIR)
dbt_hunter_project.prepare_if_dev()
