"""dbt made ready for a sync's build while the sync's earlier steps run.

dagster-dbt starts dbt as a process of its own for each build. That process first loads dbt's
modules (1.7 s of ``partner-center-dbt --version`` on two CPUs), and on a database it has not built
on before it parses the whole project too: dbt keeps its saved parse (``partial_parse.msgpack``)
per profile, and the profile names the database. That parse took 2.3 of the 6.5 s dbt reported for
one such build at 100,000 referrals.

When a run is going to build the models, ``partner-center sync`` (before it loads Dagster) or else
the run's fetch step starts a warm dbt process (:mod:`partner_center_assets.dbt_warm`). At the
lowest CPU priority, it loads dbt, parses the project into a scratch folder when the database's
build folder (:func:`~partner_center_assets.dbt_target.build_target_path`) has no saved parse and
moves that parse into it; then it runs the build's dbt command when the dbt step comes.
Nothing here fails the sync: a warm process that cannot start, parse or serve leaves the build to
start dbt and parse as before.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import sqlalchemy as sa

from partner_center_assets import dbt_warm
from partner_center_assets.dbt_command import dbt_build_command
from partner_center_assets.dbt_target import (
    DBT_HUNTER_DIR,
    build_target_path,
    database_url_from_env,
    dbt_target_env,
)

PARSE_FILE = "partial_parse.msgpack"
WARM_COMMAND = "partner-center-dbt"
"""Only this dbt command (:mod:`partner_center_assets.dbt_command`) can be warm."""


def start_ahead(database_url: str, dbt_command: str, *, started_by: str) -> dbt_warm.WarmDbt | None:
    """Start a warm dbt process for the build on ``database_url``, parsing ahead when the database's
    build folder has no saved parse. None when it cannot help (another dbt command, a URL dbt_hunter
    does not build on, a process that cannot start)."""
    if Path(dbt_command).name != WARM_COMMAND:
        return None
    try:
        target, profile_env = dbt_target_env(database_url)
    except (ValueError, sa.exc.ArgumentError):
        return None  # the build says why
    build_dir = build_target_path(target, profile_env)
    try:
        parse_into = None if (build_dir / PARSE_FILE).exists() else build_dir
    except OSError:
        return None  # a folder it cannot look into: the build reports what is wrong with it
    return dbt_warm.start(dbt_command, profile_env, parse_into=parse_into, started_by=started_by)


def start_ahead_of_sync() -> dbt_warm.WarmDbt | None:
    """:func:`start_ahead` for the database the sync about to start writes (its fetch step then
    finds the process running)."""
    return start_ahead(database_url_from_env(), dbt_build_command(), started_by="partner-center sync")


def parse_into(build_dir: Path) -> str:
    """Parse dbt_hunter in this process and move the saved parse into ``build_dir``; what became of it.

    Runs in the warm process, with the profile's environment.
    """
    from dbt.cli.main import dbtRunner

    scratch = Path(tempfile.mkdtemp(prefix="dbt-hunter-parse-"))
    try:
        result = dbtRunner().invoke(
            [
                "parse",
                "--quiet",
                "--project-dir",
                str(DBT_HUNTER_DIR),
                "--profiles-dir",
                str(DBT_HUNTER_DIR),
                "--target-path",
                str(scratch),
                "--log-path",
                str(scratch),
            ]
        )
        if not result.success or not (scratch / PARSE_FILE).exists():
            problem = type(result.exception).__name__ if result.exception else "errors in the project"
            return f"failed: dbt parse did not succeed ({problem})"
        return _adopt(scratch / PARSE_FILE, build_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _adopt(parsed: Path, build_dir: Path) -> str:
    """Put a finished parse's file in ``build_dir``, in place of any there.

    A file that appeared there meanwhile is replaced too: dagster-dbt copies the project's own saved
    parse (made with the default profile, so of no use to this database) into a build folder without
    one when a build starts, and a build that comes before this parse is done then waits for it.
    """
    staged = build_dir / f".{PARSE_FILE}.{os.getpid()}"
    try:
        build_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(parsed, staged)
        os.replace(staged, build_dir / PARSE_FILE)  # a build starting now reads all of it or none
    except OSError as exc:
        with contextlib.suppress(OSError):
            staged.unlink(missing_ok=True)
        return f"not kept: {exc.strerror}"
    return "adopted"
