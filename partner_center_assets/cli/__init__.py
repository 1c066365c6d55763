"""The ``partner-center`` command."""

from __future__ import annotations

import click

from partner_center_assets.cli.db import db
from partner_center_assets.cli.demo import demo
from partner_center_assets.cli.doctor import doctor
from partner_center_assets.cli.emulator import emulator
from partner_center_assets.cli.login import login, new_cache_key_command
from partner_center_assets.cli.sync import sync
from partner_center_assets.heap import skip_collection_at_exit


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Partner Center Referrals Sync: Microsoft Partner Center referrals into Hunter, with Dagster."""


for command in (demo, sync, login, new_cache_key_command, doctor, emulator, db):
    main.add_command(command)

skip_collection_at_exit()
