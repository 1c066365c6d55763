"""``partner-center emulator``: run the local Partner Center + Entra ID emulator until stopped."""

from __future__ import annotations

import logging
import shlex
import signal
import threading
from pathlib import Path
from types import FrameType

import click

from partner_center_assets.emulator import Emulator, load_referrals
from partner_center_assets.emulator.api import NEXT_LINK_STYLES
from partner_center_assets.settings import home_dir

DEFAULT_PORT = 8443


def _exports(emu: Emulator) -> list[tuple[str, str]]:
    return [*emu.product_environment().items(), ("REQUESTS_CA_BUNDLE", str(emu.ca_path))]


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port; 0 picks a free one.",
)
@click.option(
    "--count", default=250, show_default=True, type=click.IntRange(0), help="How many referrals to generate."
)
@click.option("--seed", default=7, show_default=True, type=int, help="Seed of the generated referrals.")
@click.option(
    "--data",
    "data_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Serve the referrals in this JSON file (a list, or an object with 'value') instead.",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the CA certificate is kept and reused across restarts [default: $DAGSTER_HOME/emulator, "
    "or ./.hunter/emulator].",
)
@click.option(
    "--page-size", default=100, show_default=True, type=click.IntRange(1), help="Most referrals per page."
)
@click.option(
    "--next-link-style",
    type=click.Choice(NEXT_LINK_STYLES),
    default="absolute",
    show_default=True,
    help="How @odata.nextLink is written: absolute https, relative, or absolute http:// (as the docs show).",
)
@click.option(
    "--token-lifetime",
    default=3600,
    show_default=True,
    type=click.IntRange(1),
    help="Access token lifetime (s).",
)
@click.option("--quiet", is_flag=True, help="Do not log every request.")
def emulator(
    host: str,
    port: int,
    count: int,
    seed: int,
    data_file: Path | None,
    state_dir: Path | None,
    page_size: int,
    next_link_style: str,
    token_lifetime: int,
    quiet: bool,
) -> None:
    """Run a local emulator of the Partner Center Referrals API and of Entra ID sign-in.

    It serves HTTPS with its own CA, answers MSAL's token requests (client credentials, password,
    refresh token, device code) and the referral list/get endpoints with realistic data, until
    Ctrl-C or SIGTERM. It prints the environment variables that point the product at it; the
    credentials it prints are the emulator's fixed demo values, never real secrets.

    Tests and benchmarks in another process can steer it through its loopback-only admin
    endpoints under /_emulator/ (referrals, generate, faults, requests, tokens/...).
    """
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    referrals = load_referrals(data_file) if data_file is not None else None
    emu = Emulator(
        referrals,
        count=count,
        seed=seed,
        host=host,
        port=port,
        max_page_size=page_size,
        access_token_lifetime=token_lifetime,
        next_link_style=next_link_style,
        state_dir=state_dir or home_dir() / "emulator",
    )
    try:
        emu.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from exc

    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    click.echo(f"Partner Center emulator serving {len(emu.store)} referrals")
    click.echo(f"  API base URL:    {emu.base_url}")
    click.echo(f"  Authority host:  {emu.authority_host}  (tenant {emu.tenant_id})")
    click.echo(f"  CA certificate:  {emu.ca_path}")
    click.echo(f"  Admin endpoints: {emu.base_url}/_emulator/  (loopback only)")
    click.echo("Point the product at it (fixed demo credentials of the emulator, not real secrets):")
    for name, value in _exports(emu):
        click.echo(f"  export {name}={shlex.quote(value)}")
    click.echo("Press Ctrl-C to stop.", err=False)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        emu.stop()
        click.echo("Emulator stopped.")
