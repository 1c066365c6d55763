"""A failed daily sync posts an alert to the webhook in HUNTER_PARTNER_CENTER_ALERT_WEBHOOK_URL."""

from __future__ import annotations

import os

import dagster as dg

from partner_center_assets.alerts import ALERT_WEBHOOK_VARIABLE, FailureAlert, post_alert
from partner_center_assets.defs.partner_center.failures import failure_lines
from partner_center_assets.defs.partner_center.schedules import DAILY_JOB_NAME

ALERT_SENSOR_NAME = "partner_center_failure_alert"


class AlertWebhook(dg.ConfigurableResource):
    """Incoming webhook of the channel that hears about failed syncs (unset: no alerts)."""

    url: str | None = None


def _configured() -> bool:
    return bool(os.environ.get(ALERT_WEBHOOK_VARIABLE, "").strip())


def failure_alert(context: dg.RunFailureSensorContext) -> FailureAlert:
    """The run's job and id, and why it failed (see ``failures``), else Dagster's own message."""
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
    return FailureAlert(job=context.dagster_run.job_name, run_id=context.dagster_run.run_id, errors=errors)


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
    alert = failure_alert(context)
    status = post_alert(alert_webhook.url, alert)
    context.log.info(f"Alert for run {alert.run_id} posted (HTTP {status}).")
    return None


@dg.definitions
def defs() -> dg.Definitions:
    webhook = AlertWebhook(url=dg.EnvVar(ALERT_WEBHOOK_VARIABLE)) if _configured() else AlertWebhook()
    return dg.Definitions(sensors=[partner_center_failure_alert], resources={"alert_webhook": webhook})
