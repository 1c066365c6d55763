"""Failed syncs reach a chat channel: the alert, its delivery to a loopback webhook, and the sensor."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer

from partner_center_assets.alerts import (
    ALERT_WEBHOOK_VARIABLE,
    DAGSTER_UI_VARIABLE,
    MAX_ERROR_CHARS,
    AlertDeliveryError,
    FailureAlert,
    check_webhook_url,
    post_alert,
    run_url,
)
from partner_center_assets.defs.partner_center.alerts import (
    ALERT_SENSOR_NAME,
    AlertWebhook,
    partner_center_failure_alert,
)
from partner_center_assets.defs.partner_center.failures import root_cause
from partner_center_assets.defs.partner_center.schedules import DAILY_JOB_NAME
from partner_center_assets.emulator import Emulator
from partner_center_assets.settings import PREFIX
from partner_center_assets_tests.pipeline_harness import (
    REPO,
    Pipeline,
    dagster_job_execute,
    point_at_emulator,
)

pytest_plugins = ["partner_center_assets_tests.emulator_fixtures"]

HOOK_PATH = "/webhookb2/T0KEN-in-the-path"
ALERT = FailureAlert(
    job="partner_center_daily_sync",
    run_id="0d1e",
    errors=("raw_referral_pages: PartnerCenterAuthError: run `partner-center login`",),
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_alert_text_names_the_job_the_run_and_each_failed_step() -> None:
    assert ALERT.text() == (
        "Partner Center sync failed: job partner_center_daily_sync, run 0d1e\n"
        "- raw_referral_pages: PartnerCenterAuthError: run `partner-center login`"
    )


def test_with_the_ui_address_the_alert_links_to_the_run() -> None:
    url = run_url("https://dagster.example.com/ ", "0d1e")
    alert = FailureAlert(job="partner_center_daily_sync", run_id="0d1e", errors=(), run_url=url)

    assert url == "https://dagster.example.com/runs/0d1e"
    assert alert.text().splitlines()[1] == url
    assert alert.payload()["run_url"] == url


def test_without_the_ui_address_there_is_no_link() -> None:
    assert run_url(None, "0d1e") is None
    assert ALERT.payload()["run_url"] is None


@pytest.mark.parametrize("address", ["dagster.example.com", "ftp://dagster", "https://"])
def test_a_ui_address_that_is_not_one_is_refused_naming_the_variable(address: str) -> None:
    with pytest.raises(ValueError, match=f"{DAGSTER_UI_VARIABLE} must be the http"):
        run_url(address, "0d1e")


def test_a_long_alert_text_is_cut_to_the_limit() -> None:
    alert = FailureAlert(job="j", run_id="r", errors=("x" * 5000,))

    assert len(alert.text()) == MAX_ERROR_CHARS
    assert alert.text().endswith("…")
    assert alert.payload()["errors"] == ["x" * 5000]


def test_the_alert_is_posted_as_json_with_a_text_field(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(HOOK_PATH, method="POST").respond_with_data("1")

    status = post_alert(httpserver.url_for(HOOK_PATH), ALERT)

    ((request, _),) = httpserver.log
    assert status == 200
    assert request.get_json() == {
        "text": ALERT.text(),
        "job": "partner_center_daily_sync",
        "run_id": "0d1e",
        "run_url": None,
        "errors": list(ALERT.errors),
    }


def test_a_throttled_webhook_is_retried_until_it_takes_the_alert(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(HOOK_PATH).respond_with_data("busy", status=429)
    httpserver.expect_ordered_request(HOOK_PATH).respond_with_data("busy", status=503)
    httpserver.expect_ordered_request(HOOK_PATH).respond_with_data("1")
    waits: list[float] = []

    status = post_alert(httpserver.url_for(HOOK_PATH), ALERT, sleep=waits.append)

    assert status == 200
    assert len(httpserver.log) == 3
    assert len(waits) == 2


def test_a_refused_alert_fails_without_showing_the_webhook_url(httpserver: HTTPServer) -> None:
    httpserver.expect_request(HOOK_PATH).respond_with_data("no such hook", status=404)

    with pytest.raises(AlertDeliveryError, match="refused the alert with HTTP 404") as raised:
        post_alert(httpserver.url_for(HOOK_PATH), ALERT)

    assert "T0KEN" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__context__ is None


def test_a_redirect_is_not_followed(httpserver: HTTPServer) -> None:
    httpserver.expect_request(HOOK_PATH).respond_with_data(
        "", status=307, headers={"Location": "https://elsewhere.example/collect"}
    )

    with pytest.raises(AlertDeliveryError, match="HTTP 307"):
        post_alert(httpserver.url_for(HOOK_PATH), ALERT)

    assert len(httpserver.log) == 1


def test_an_unreachable_webhook_fails_after_the_retries_without_showing_its_url() -> None:
    url = f"http://127.0.0.1:{free_port()}{HOOK_PATH}"
    waits: list[float] = []

    with pytest.raises(AlertDeliveryError, match="could not be reached") as raised:
        post_alert(url, ALERT, sleep=waits.append)

    assert "T0KEN" not in str(raised.value)
    assert len(waits) == 2


@pytest.mark.parametrize(
    "url", ["http://hooks.example.com/T0KEN", "hooks.example.com/T0KEN", "ftp://hooks/T0KEN", ""]
)
def test_a_webhook_url_that_is_not_https_is_refused_without_repeating_it(url: str) -> None:
    with pytest.raises(ValueError, match=f"{ALERT_WEBHOOK_VARIABLE} must be an https URL") as raised:
        check_webhook_url(url)

    assert "T0KEN" not in str(raised.value)


def run_daily_sync(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    from partner_center_assets.definitions import defs

    job = defs.resolve_job_def(DAILY_JOB_NAME)
    return job.execute_in_process(instance=instance, raise_on_error=False)


@pytest.fixture
def sync_env(database_url: str, tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch):
    """The daily job pointed at the emulator and the test database, through its variables."""
    point_at_emulator(monkeypatch, emulator, tmp_path)
    monkeypatch.setenv("HUNTER_DATABASE_URL", database_url)
    return monkeypatch


@pytest.fixture
def failed_run(sync_env: pytest.MonkeyPatch):
    """A daily sync that failed because the configured password was refused, and its instance."""
    sync_env.setenv(PREFIX + "PASSWORD", "wrong-Pa55word")
    instance = dg.DagsterInstance.ephemeral()
    result = run_daily_sync(instance)
    assert not result.success
    return instance, result


def sensor_context(failed_run, webhook: AlertWebhook) -> dg.RunFailureSensorContext:
    instance, result = failed_run
    return dg.build_run_status_sensor_context(
        sensor_name=ALERT_SENSOR_NAME,
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources={"alert_webhook": webhook},
    ).for_run_failure()


def test_a_failed_sync_posts_its_failed_step_and_error_to_the_webhook(
    failed_run, httpserver: HTTPServer
) -> None:
    httpserver.expect_request(HOOK_PATH, method="POST").respond_with_data("1")
    webhook = AlertWebhook(url=httpserver.url_for(HOOK_PATH))

    partner_center_failure_alert(sensor_context(failed_run, webhook))

    ((request, _),) = httpserver.log
    body = request.get_json()
    assert body["run_id"] == failed_run[1].dagster_run.run_id
    assert len(body["errors"]) == 1
    assert body["errors"][0].startswith("raw_referral_pages: PartnerCenterAuthError")
    assert "wrong-Pa55word" not in request.get_data(as_text=True)


@pytest.mark.parametrize(
    ("address", "link"),
    [("http://localhost:3000", "http://localhost:3000/runs/{run_id}"), ("not an address", None)],
)
def test_the_alert_links_to_the_run_in_the_ui_when_its_address_is_set(
    failed_run, httpserver: HTTPServer, address: str, link: str | None
) -> None:
    httpserver.expect_request(HOOK_PATH, method="POST").respond_with_data("1")
    webhook = AlertWebhook(url=httpserver.url_for(HOOK_PATH), ui_url=address)

    partner_center_failure_alert(sensor_context(failed_run, webhook))

    ((request, _),) = httpserver.log
    run_id = failed_run[1].dagster_run.run_id
    assert request.get_json()["run_url"] == (link.format(run_id=run_id) if link else None)


def test_without_a_webhook_the_sensor_skips_and_says_which_variable_to_set(failed_run) -> None:
    result = partner_center_failure_alert(sensor_context(failed_run, AlertWebhook()))

    assert isinstance(result, dg.SkipReason)
    assert ALERT_WEBHOOK_VARIABLE in str(result.skip_message)


def test_a_failed_run_of_another_job_is_not_alerted(
    database_url: str,
    tmp_path: Path,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    httpserver: HTTPServer,
) -> None:
    point_at_emulator(monkeypatch, emulator, tmp_path)
    monkeypatch.setenv(PREFIX + "PASSWORD", "wrong-Pa55word")
    instance = dg.DagsterInstance.ephemeral()
    pipeline = Pipeline(database_url, tmp_path / "staging")
    result = pipeline.run(raise_on_error=False, instance=instance)
    pipeline.close()

    outcome = partner_center_failure_alert(
        sensor_context((instance, result), AlertWebhook(url=httpserver.url_for(HOOK_PATH)))
    )

    assert outcome is None
    assert httpserver.log == []


def test_the_sensor_watches_the_daily_job_and_is_off_until_a_webhook_is_set() -> None:
    from partner_center_assets.definitions import defs

    sensor = defs.resolve_sensor_def(ALERT_SENSOR_NAME)

    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert "partner_center_daily_sync" in sensor.description


def test_a_sync_failed_by_too_many_skips_says_so_in_its_alert(
    sync_env: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    sync_env.setenv(PREFIX + "SKIPPED_SHARE_ERROR", "0")
    instance = dg.DagsterInstance.ephemeral()
    result = run_daily_sync(instance)
    httpserver.expect_request(HOOK_PATH, method="POST").respond_with_data("1")

    partner_center_failure_alert(
        sensor_context((instance, result), AlertWebhook(url=httpserver.url_for(HOOK_PATH)))
    )

    ((request, _),) = httpserver.log
    (error,) = request.get_json()["errors"]
    assert error.startswith("check skipped_by_reason on partner_center_referrals: ")
    assert "HUNTER_PARTNER_CENTER_SKIPPED_SHARE_ERROR" in error


def wait_for(predicate, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout:.0f} s; daemon log:\n{log.read_text()[-4000:]}")
        time.sleep(0.5)


def test_the_daemon_posts_an_alert_when_a_daily_sync_run_fails(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    for name in [name for name in os.environ if name.startswith("HUNTER_")]:
        monkeypatch.delenv(name)
    point_at_emulator(monkeypatch, emulator, tmp_path)
    monkeypatch.setenv("HUNTER_DATABASE_URL", f"duckdb:///{tmp_path / 'hunter.duckdb'}")
    monkeypatch.setenv(PREFIX + "PASSWORD", "wrong-Pa55word")
    monkeypatch.setenv(ALERT_WEBHOOK_VARIABLE, httpserver.url_for(HOOK_PATH))
    monkeypatch.setenv(DAGSTER_UI_VARIABLE, "https://dagster.example.com")
    httpserver.expect_request(HOOK_PATH, method="POST").respond_with_data("1")
    bin_dir = Path(sys.executable).parent
    log = tmp_path / "daemon.log"
    with log.open("w") as out:
        daemon = subprocess.Popen(
            [str(bin_dir / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            cwd=REPO,
            env=dict(os.environ),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(
            lambda: f"Initiating {ALERT_SENSOR_NAME}" in log.read_text(), 120, "the sensor did not start", log
        )
        run = dagster_job_execute()
        assert run.returncode != 0
        wait_for(lambda: len(httpserver.log) > 0, 120, "no alert was posted", log)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)

    ((request, _),) = httpserver.log
    body = request.get_json()
    assert body["job"] == DAILY_JOB_NAME
    assert body["run_url"] == f"https://dagster.example.com/runs/{body['run_id']}"
    assert body["errors"][0].startswith("raw_referral_pages: PartnerCenterAuthError")
    daemon_log = log.read_text()
    assert "T0KEN" not in daemon_log and "wrong-Pa55word" not in daemon_log


def test_a_wrapped_error_is_reported_by_its_first_cause_on_one_line() -> None:
    cause = SimpleNamespace(
        cls_name="OperationalError",
        message="psycopg.OperationalError: terminating connection\nserver closed the connection\n",
        cause=None,
    )
    wrapper = SimpleNamespace(
        cls_name="DagsterExecutionStepExecutionError",
        message='Error occurred while executing op "hunter_tables":',
        cause=cause,
    )

    assert root_cause(wrapper) == "OperationalError: terminating connection server closed the connection"


def test_an_error_raised_while_handling_another_names_both() -> None:
    terminated = SimpleNamespace(
        cls_name="AdminShutdown",
        message="psycopg.errors.AdminShutdown: terminating connection due to administrator command\n",
        cause=None,
        context=None,
    )
    lost = SimpleNamespace(
        cls_name="OperationalError",
        message="sqlalchemy.exc.OperationalError: the connection is lost\n",
        cause=None,
        context=terminated,
    )
    wrapper = SimpleNamespace(
        cls_name="DagsterExecutionStepExecutionError",
        message='Error occurred while executing op "hunter_tables":',
        cause=lost,
        context=None,
    )

    assert root_cause(wrapper) == (
        "OperationalError: the connection is lost "
        "(while handling AdminShutdown: terminating connection due to administrator command)"
    )
