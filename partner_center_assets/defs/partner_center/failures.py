"""Why a run failed, one line per cause, for the terminal and for alerts.

Dagster wraps a step's exception in its own execution error, and a blocking check's failure in a
generic one; whoever reads wants the error that started it, or the failed check's own description.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import dagster as dg

CHECK_FAILED_ERROR = "DagsterAssetCheckFailedError"


class ErrorInfo(Protocol):
    """What a step failure carries (Dagster's serializable error: class, message, its explicit cause
    and the error being handled when it was raised)."""

    cls_name: str | None
    message: str
    cause: ErrorInfo | None
    context: ErrorInfo | None


def root_cause(error: ErrorInfo) -> str:
    """The error that started it, on one line, its class named without its module.

    When that error was raised while another was being handled (a driver's "connection is lost"
    after the server terminated it), the other one is named too.
    """
    error = _first_cause(error)
    line = _one_line(error)
    handled = getattr(error, "context", None)
    if handled is not None:
        line += f" (while handling {_one_line(_first_cause(handled))})"
    return line


def _first_cause(error: ErrorInfo) -> ErrorInfo:
    while error.cause is not None:
        error = error.cause
    return error


def _one_line(error: ErrorInfo) -> str:
    message = " ".join(line.strip() for line in error.message.strip().splitlines() if line.strip())
    qualified, _, text = message.partition(": ")
    if error.cls_name and text and qualified.rsplit(".", 1)[-1] == error.cls_name:
        return f"{error.cls_name}: {text}"
    return message


def failure_lines(
    step_failures: Iterable[dg.DagsterEvent], checks: Iterable[dg.AssetCheckEvaluation]
) -> list[str]:
    """Each check that failed as an ERROR with its description, then each other failed step's cause."""
    failed_checks = [
        f"check {check.check_name} on {check.asset_key.to_user_string()}: {check.description or 'failed'}"
        for check in checks
        if not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    ]
    steps = []
    for event in step_failures:
        error = event.step_failure_data.error if event.is_step_failure else None
        if error is None or (failed_checks and error.cls_name == CHECK_FAILED_ERROR):
            continue
        steps.append(f"{event.step_key}: {root_cause(error)}")
    return failed_checks + steps
