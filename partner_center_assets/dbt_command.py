"""``partner-center-dbt``: dbt's own command line, its modules loaded before the collector runs.

dagster-dbt starts dbt as a process of its own for every build. dbt's imports and its parse of the
project make most of that process's objects, and the collector's full passes over them took
0.47 s of one 100,000-referral build (five passes, measured with ``gc.callbacks``). Everything else
is dbt's ``dbt`` command as installed, run here or, when a warm dbt process is waiting for it, in
that process (:mod:`partner_center_assets.dbt_warm`).
"""

import os
import shutil
import socket
import sys
from collections.abc import Callable
from pathlib import Path

from partner_center_assets import dbt_warm
from partner_center_assets.heap import loading_without_collection
from partner_center_assets.parent_death import die_with_parent

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


def main() -> None:
    parent = os.environ.get(dbt_warm.PARENT_VARIABLE, "")
    if parent.isdigit():
        die_with_parent(int(parent))
    sys.argv[0] = sys.argv[0].removesuffix(".exe")
    if (listening := os.environ.pop(dbt_warm.SERVE_VARIABLE, "")).isdigit():
        listener = socket.socket(fileno=int(listening))
        parse_into = os.environ.pop(dbt_warm.PARSE_VARIABLE, "")
        sys.exit(dbt_warm.serve(listener, lambda: _warm_up(listener, parse_into)))
    if warm_at := os.environ.get(dbt_warm.WARM_VARIABLE, ""):
        status = dbt_warm.run_warm(warm_at, sys.argv)
        if status is not None:
            sys.exit(status)
    sys.exit(_load_cli()())


def _warm_up(listener: socket.socket, parse_into: str) -> Callable[[], object]:
    """Load dbt in a warm process, and parse the project ahead when asked to."""
    cli = _load_cli()
    if parse_into:
        from partner_center_assets.dbt_ahead import parse_into as parse

        try:
            outcome = parse(Path(parse_into))
        except Exception as exc:  # the build parses for itself then
            outcome = f"failed: {type(exc).__name__}"
        dbt_warm.write_parse_outcome(listener, outcome)
    return cli


def _load_cli() -> Callable[[], object]:
    with loading_without_collection():
        from dbt.cli.main import cli
    return cli
