"""The dbt_hunter models as Dagster assets; their dbt tests become asset checks.

Model keys are the model names, in group ``dbt_hunter``; the dbt sources map to the Python assets
of the same table names (``config.meta.dagster.asset_key`` in ``_sources.yml``), so every model runs
after the sync that writes its tables.
"""

import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
import sqlalchemy as sa
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from partner_center_assets import dbt_warm
from partner_center_assets.dbt_target import (
    DUCKDB_TARGET,
    POSTGRES_TARGET,
    build_target_path,
    database_url_from_env,
    dbt_target_env,
)
from partner_center_assets.defs.dbt_hunter.project import dbt_hunter_project
from partner_center_assets.defs.dbt_hunter.resources import dbt_hunter_resource
from partner_center_assets.hunter_db.lock import models_build_lock

DBT_HUNTER_GROUP = "dbt_hunter"


class DbtHunterTranslator(DagsterDbtTranslator):
    """Puts every dbt_hunter node in one group; sources keep the keys their YAML gives them.

    The manifest is parsed with the profile's default target (DuckDB), so the warehouse kind shown
    in the UI is taken from ``HUNTER_DATABASE_URL`` instead.
    """

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if self.get_resource_props(manifest, unique_id)["resource_type"] == "source":
            return spec
        kinds = {kind for kind in spec.kinds if kind not in WAREHOUSE_KINDS} | {self._warehouse_kind}
        return spec.replace_attributes(group_name=DBT_HUNTER_GROUP, kinds=kinds)

    @cached_property
    def _warehouse_kind(self) -> str:
        """The dbt target the models are built on (``duckdb`` or ``postgres``), worked out once."""
        try:
            return dbt_target_env()[0]
        except (ValueError, sa.exc.ArgumentError):
            return DUCKDB_TARGET  # the run itself reports an unusable URL


WAREHOUSE_KINDS = frozenset({DUCKDB_TARGET, POSTGRES_TARGET})


def _manifest_path() -> Path:
    """The manifest, parsed here when no prepare step made it, so loading the code location never
    fails on a fresh checkout (``prepare-and-package`` in CI and ``dagster dev`` normally make it)."""
    if not dbt_hunter_project.manifest_path.exists():
        dbt_hunter_resource().cli(["parse", "--quiet"], target_path=dbt_hunter_project.target_path).wait()
    return dbt_hunter_project.manifest_path


@contextmanager
def _profile_environment(env: Mapping[str, str]) -> Iterator[None]:
    """Expose the profile variables for one dbt invocation, then restore the previous values.

    They go through ``os.environ`` because dagster-dbt hands that environment both to the dbt
    subprocess and to the in-process adapter that fetches row counts.
    """
    previous = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dbt_assets(
    manifest=_manifest_path(),
    project=dbt_hunter_project,
    dagster_dbt_translator=DbtHunterTranslator(),
)
def dbt_hunter_assets(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    """Build the dbt_hunter models and run their tests on the database of ``HUNTER_DATABASE_URL``."""
    url = database_url_from_env()
    target, env = dbt_target_env(url)
    context.log.info("Running dbt_hunter on the %s target", target)
    warm = dbt_warm.take(env)
    try:
        with models_build_lock(url), _profile_environment(_with_warm(env, warm)):
            invocation = dbt.cli(["build"], context=context, target_path=build_target_path(target, env))
            yield from _with_dbt_output_on_stderr(invocation.stream())
    finally:
        if warm is not None:
            served, parse = warm.close()
            context.log.debug(
                f"dbt ran in the warm process started by {warm.started_by}: {'yes' if served else 'no'}; "
                f"its parse made ahead: {parse or 'none (the build folder had a saved parse)'}"
            )


def _with_warm(env: dict[str, str], warm: dbt_warm.WarmDbt | None) -> dict[str, str]:
    """The profile environment, and the socket of the warm dbt process when there is one."""
    return {**env, dbt_warm.WARM_VARIABLE: warm.socket_path} if warm is not None else env


def _with_dbt_output_on_stderr(events: Iterable[Any]) -> Iterator[Any]:
    """Pass dbt's events on, sending the console lines dagster-dbt writes for them to stderr.

    dagster-dbt echoes every dbt log line to stdout, where the sync's structured events go, one JSON
    object per line (CONTRACT §2); stdout is redirected only while dbt produces its next event.
    """
    iterator = iter(events)
    while True:
        with redirect_stdout(sys.stderr):
            event = next(iterator, _DONE)
        if event is _DONE:
            return
        yield event


_DONE = object()
