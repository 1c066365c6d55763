"""The Dagster UI after a demo sync, as a user sees it in headless Chromium.

``partner-center demo`` runs the daily job on DuckDB in a Dagster home of its own; ``dagster dev``
then serves the code location on that home, and Chromium opens the partner_center lineage and the
``skipped_by_reason`` check. The screenshots README shows are written to ``docs/``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from partner_center_assets.ingest.reasons import SKIP_REASONS

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
SCREENSHOTS_VARIABLE = "HUNTER_UPDATE_SCREENSHOTS"
VENV_BIN = Path(sys.executable).parent
LOCATION = "partner_center_assets"
PARTNER_CENTER_ASSETS = (
    "raw_referral_pages",
    "normalized_referrals",
    "resolved_referrals",
    "partner_center_referrals",
    "companies",
    "leads",
    "partner_center_lead_links",
    "domain_scan_requests",
    "partner_center_sync_runs",
)
DEMO_TIMEOUT_SECONDS = 60
SERVER_START_SECONDS = 60
STOP_GRACE_SECONDS = 5
UI_TIMEOUT_MS = 30_000
# Assertions wait as long as actions: the UI may still be loading an asset's status on a slow machine.
expect.set_options(timeout=UI_TIMEOUT_MS)
# Wide enough that the lineage is drawn with full asset nodes rather than zoomed-out name boxes.
LINEAGE_VIEWPORT = {"width": 2400, "height": 800}
PAGE_VIEWPORT = {"width": 1600, "height": 1100}


@dataclass(frozen=True)
class DemoSync:
    """What the demo's sync recorded in ``partner_center_sync_runs``."""

    run_id: str
    fetched: int
    skipped: dict[str, int]


def product_environment(home: Path) -> dict[str, str]:
    """This environment without ``HUNTER_`` settings, on ``home``, with the virtualenv's tools (dbt) first."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("HUNTER_")}
    env["DAGSTER_HOME"] = str(home)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tail(path: Path, size: int = 4000) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-size:]


def wait_for_server(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dagster dev exited with {process.returncode}:\n{tail(log)}")
        try:
            if requests.get(f"{base_url}/server_info", timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    pytest.fail(f"dagster dev did not answer /server_info within {SERVER_START_SECONDS}s:\n{tail(log)}")


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to dagster dev and everything it started; SIGKILL what is left after a grace period."""
    pgid = process.pid
    if group_alive(pgid):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while time.monotonic() < deadline and group_alive(pgid):
        process.poll()
        time.sleep(0.2)
    if group_alive(pgid):
        os.killpg(pgid, signal.SIGKILL)
    process.wait()


def dismiss_community_prompt(base_url: str) -> None:
    """Record the "Join the Dagster community" prompt as seen, as its Skip button does."""
    response = requests.post(f"{base_url}/graphql", json={"query": "mutation { setNuxSeen }"}, timeout=10)
    response.raise_for_status()


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
def dagster_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dagster_home")


@pytest.fixture(scope="module")
def demo_sync(chromium: Path, dagster_home: Path) -> DemoSync:
    """``partner-center demo`` run as a user runs it, in its own Dagster home."""
    result = subprocess.run(
        [str(VENV_BIN / "partner-center"), "demo"],
        cwd=dagster_home,
        env=product_environment(dagster_home),
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_SECONDS,
    )
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    engine = sa.create_engine(f"duckdb:///{dagster_home / 'hunter.duckdb'}", poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            run_id, fetched, skipped = conn.execute(
                sa.text("SELECT run_id, fetched, skipped FROM partner_center_sync_runs")
            ).one()
    finally:
        engine.dispose()
    counts = json.loads(skipped) if isinstance(skipped, str) else dict(skipped or {})
    return DemoSync(str(run_id), int(fetched), {str(k): int(v) for k, v in counts.items()})


@pytest.fixture(scope="module")
def dagster_ui(demo_sync: DemoSync, dagster_home: Path) -> Iterator[str]:
    """``dagster dev`` on the demo's Dagster home; its whole process group is stopped afterwards."""
    port = free_port()
    log = dagster_home / "dagster_dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(VENV_BIN / "dagster"),
                "dev",
                "-w",
                str(REPO / "workspace.yaml"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            cwd=REPO,
            env=product_environment(dagster_home),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_for_server(base_url, process, log)
            dismiss_community_prompt(base_url)
            yield base_url
        finally:
            stop_process_group(process)


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[[dict[str, int]], Page]]:
    """``open_page(viewport)``: a fresh browser context with the navigation sidebar collapsed."""
    contexts = []

    def open_(viewport: dict[str, int]) -> Page:
        context = browser.new_context(viewport=viewport)
        context.add_init_script("window.localStorage.setItem('dagster-nav-collapsed', 'true')")
        context.set_default_timeout(UI_TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_
    for context in contexts:
        context.close()


def asset_node(page: Page, name: str) -> Locator:
    """The lineage node whose title is exactly ``name``."""
    return page.locator("foreignObject > div").filter(has=page.get_by_text(name, exact=True))


def metadata_value(page: Page, key: str) -> Locator:
    """The value cell of the metadata row ``key``."""
    return page.locator("tr").filter(has=page.get_by_text(key, exact=True)).locator("td").nth(1)


def save_screenshot(page: Page, name: str, directory: Path) -> None:
    """Screenshots go to ``docs/`` (README shows them) only when HUNTER_UPDATE_SCREENSHOTS=1."""
    page.wait_for_load_state("networkidle")
    target = DOCS if os.environ.get(SCREENSHOTS_VARIABLE) == "1" else directory
    target.mkdir(exist_ok=True)
    page.screenshot(path=target / name)


def test_lineage_shows_every_partner_center_asset_materialized(
    dagster_ui: str, open_page: Callable[[dict[str, int]], Page], tmp_path: Path
) -> None:
    page = open_page(LINEAGE_VIEWPORT)
    page.goto(f"{dagster_ui}/locations/{LOCATION}/asset-groups/partner_center")

    for name in PARTNER_CENTER_ASSETS:
        expect(asset_node(page, name)).to_contain_text("Materialized")
    expect(asset_node(page, "partner_center_referrals")).to_contain_text("2 / 2 Passed")
    expect(page.get_by_text("stg_partner_center_referrals", exact=True)).to_be_visible()
    save_screenshot(page, "lineage.png", tmp_path)


def test_skipped_by_reason_check_passed_with_the_demo_counts(
    dagster_ui: str, demo_sync: DemoSync, open_page: Callable[[dict[str, int]], Page], tmp_path: Path
) -> None:
    page = open_page(PAGE_VIEWPORT)
    page.goto(f"{dagster_ui}/assets/partner_center_referrals?view=checks&checkDetail=skipped_by_reason")

    skipped = sum(demo_sync.skipped.values())
    expect(page.get_by_text(f"{skipped} of {demo_sync.fetched} fetched referrals skipped.")).to_be_visible()
    expect(page.get_by_text("Passed", exact=True)).to_be_visible()
    for reason in SKIP_REASONS:
        expect(metadata_value(page, reason)).to_have_text(str(demo_sync.skipped.get(reason, 0)))
    expect(metadata_value(page, "skipped")).to_have_text(str(skipped))
    expect(metadata_value(page, "fetched")).to_have_text(str(demo_sync.fetched))
    expect(metadata_value(page, "sync_run")).to_contain_text(demo_sync.run_id[:8])
    save_screenshot(page, "skipped_by_reason.png", tmp_path)
