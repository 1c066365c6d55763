"""A failed daily sync posts an alert to the webhook in HUNTER_PARTNER_CENTER_ALERT_WEBHOOK_URL."""

from __future__ import annotations

import os

import dagster as dg

from partner_center_assets.alerts import (
    ALERT_WEBHOOK_VARIABLE,
    DAGSTER_UI_VARIABLE,
    FailureAlert,
    post_alert,
    run_url,
)
from partner_center_assets.defs.partner_center.failures import failure_lines
from partner_center_assets.defs.partner_center.schedules import DAILY_JOB_NAME

ALERT_SENSOR_NAME = "partner_center_failure_alert"


class AlertWebhook(dg.ConfigurableResource):
    """Incoming webhook of the channel that hears about failed syncs (unset: no alerts), and the
    Dagster UI's address for a link to the failed run."""

    url: str | None = None
    ui_url: str | None = None


def _configured() -> bool:
    return bool(os.environ.get(ALERT_WEBHOOK_VARIABLE, "").strip())


def failure_alert(context: dg.RunFailureSensorContext, ui_url: str | None = None) -> FailureAlert:
    """The run's job, id and page in the UI, and why it failed (see ``failures``), else Dagster's
    own message. A UI address that is not one costs the link, never the alert."""
    entries = context.instance.all_logs(
        context.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    )
    checks = [
        entry.dagster_event.event_specific_data
        for entry in entries
        if entry.dagster_event
        and isinstance(entry.dagster_event.event_specific_data, dg.AssetCheckEvaluation)
    ]
    errors = tuple(failure_lines(context.get_step_failure_events(), checks))
    if not errors and context.failure_event.message:
        errors = (context.failure_event.message,)
    run_id = context.dagster_run.run_id
    try:
        link = run_url(ui_url, run_id)
    except ValueError as exc:
        context.log.warning(f"{exc}; the alert goes without a link")
        link = None
    return FailureAlert(job=context.dagster_run.job_name, run_id=run_id, errors=errors, run_url=link)


@dg.run_failure_sensor(
    name=ALERT_SENSOR_NAME,
    monitor_all_code_locations=True,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING if _configured() else dg.DefaultSensorStatus.STOPPED,
    description=(
        "Posts each failed partner_center_daily_sync run (job, run id, failed steps and their errors) "
        "to HUNTER_PARTNER_CENTER_ALERT_WEBHOOK_URL, a Teams or Slack incoming webhook."
    ),
)
def partner_center_failure_alert(
    context: dg.RunFailureSensorContext, alert_webhook: AlertWebhook
) -> dg.SkipReason | None:
    """Every run of the daily job counts, whether the schedule, the UI or the command line started it.

    Returning None lets Dagster go on to the next failed run in the same tick (a returned value ends
    the tick); a delivery error is shown on the tick and that run is not alerted again.
    """
    if context.dagster_run.job_name != DAILY_JOB_NAME:
        return None
    if not alert_webhook.url:
        return dg.SkipReason(f"{ALERT_WEBHOOK_VARIABLE} is not set")
    alert = failure_alert(context, alert_webhook.ui_url)
    status = post_alert(alert_webhook.url, alert)
    context.log.info(f"Alert for run {alert.run_id} posted (HTTP {status}).")
    return None


@dg.definitions
def defs() -> dg.Definitions:
    bound = {
        field: dg.EnvVar(name)
        for field, name in (("url", ALERT_WEBHOOK_VARIABLE), ("ui_url", DAGSTER_UI_VARIABLE))
        if os.environ.get(name, "").strip()
    }
    webhook = AlertWebhook(**bound)
    return dg.Definitions(sensors=[partner_center_failure_alert], resources={"alert_webhook": webhook})
