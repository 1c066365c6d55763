"""A failed daily sync posts an alert to the webhook in HUNTER_PARTNER_CENTER_ALERT_WEBHOOK_URL."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import dagster as dg

from partner_center_assets.alerts import ALERT_WEBHOOK_VARIABLE, FailureAlert, post_alert
from partner_center_assets.defs.partner_center.schedules import DAILY_JOB_NAME

if TYPE_CHECKING:
    from dagster_shared.error import SerializableErrorInfo

ALERT_SENSOR_NAME = "partner_center_failure_alert"
STEP_ERROR_CHARS = 400


class AlertWebhook(dg.ConfigurableResource):
    """Incoming webhook of the channel that hears about failed syncs (unset: no alerts)."""

    url: str | None = None


def _configured() -> bool:
    return bool(os.environ.get(ALERT_WEBHOOK_VARIABLE, "").strip())


def step_error(error: SerializableErrorInfo) -> str:
    """The user's error behind Dagster's wrapper, as ``Class: message`` on one line."""
    while error.cls_name == "DagsterExecutionStepExecutionError" and error.cause is not None:
        error = error.cause
    message = " ".join(line.strip() for line in error.message.strip().splitlines() if line.strip())
    qualified, _, text = message.partition(": ")
    if qualified.rsplit(".", 1)[-1] == error.cls_name:
        message = f"{error.cls_name}: {text}"
    return message if len(message) <= STEP_ERROR_CHARS else message[: STEP_ERROR_CHARS - 1] + "…"


def failed_error_checks(context: dg.RunFailureSensorContext) -> list[str]:
    """Each check of the run that failed with ERROR severity, with its own description."""
    entries = context.instance.all_logs(
        context.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    )
    failed = []
    for entry in entries:
        evaluation = entry.dagster_event.event_specific_data if entry.dagster_event else None
        if (
            isinstance(evaluation, dg.AssetCheckEvaluation)
            and not evaluation.passed
            and evaluation.severity == dg.AssetCheckSeverity.ERROR
        ):
            asset = evaluation.asset_key.to_user_string()
            failed.append(f"check {evaluation.check_name} on {asset}: {evaluation.description or 'failed'}")
    return failed


def failure_alert(context: dg.RunFailureSensorContext) -> FailureAlert:
    """The run's job and id, the checks that failed as errors and the error of each other failed step."""
    checks = failed_error_checks(context)
    errors = tuple(
        checks
        + [
            f"{event.step_key}: {step_error(event.event_specific_data.error)}"
            for event in context.get_step_failure_events()
            if event.step_key
            and event.event_specific_data
            and event.event_specific_data.error
            and not (checks and event.event_specific_data.error.cls_name == "DagsterAssetCheckFailedError")
        ]
    )
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
