"""The run's console: Dagster's log on stderr, the structured events as JSON lines on stdout.

Every structured event (§2) still goes through Dagster's logger into the run's event log; on the
console it appears once, as the bare JSON object on stdout, so ``partner-center sync | jq`` or a
script reading ``dagster job execute``'s output gets one event per line without parsing Dagster's
log format. Everything else Dagster logs stays on stderr as its colored console logger writes it.

The daily job names this logger in its default run config (:data:`CONSOLE_RUN_CONFIG`), because
Dagster only builds a job's own loggers when the run config mentions them.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping

import dagster as dg

from partner_center_assets.defs.partner_center.events import is_event_line

CONSOLE_LOGGER = "console"
CONSOLE_RUN_CONFIG: dict[str, dict] = {"loggers": {CONSOLE_LOGGER: {"config": {"log_level": "DEBUG"}}}}


def original_message(record: logging.LogRecord) -> str:
    """The message as the asset logged it, without the run and step prefix Dagster adds."""
    meta = getattr(record, "dagster_meta", None)
    if isinstance(meta, Mapping) and isinstance(meta.get("orig_message"), str):
        return meta["orig_message"]
    return record.getMessage()


class _EventFilter(logging.Filter):
    """Passes only structured events (``events=True``) or only everything else."""

    def __init__(self, *, events: bool) -> None:
        super().__init__()
        self.events = events

    def filter(self, record: logging.LogRecord) -> bool:
        return is_event_line(original_message(record)) == self.events


class _EventFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return original_message(record)


@dg.logger(
    config_schema=dg.colored_console_logger.config_schema,
    description="Dagster's colored console log on stderr; the structured events as JSON lines on stdout.",
)
def event_stream_console(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = dg.colored_console_logger.logger_fn(init_context)
    for handler in logger.handlers:
        handler.addFilter(_EventFilter(events=False))
    stdout = logging.StreamHandler(sys.stdout)
    stdout.addFilter(_EventFilter(events=True))
    stdout.setFormatter(_EventFormatter())
    logger.addHandler(stdout)
    return logger


defs = dg.Definitions(loggers={CONSOLE_LOGGER: event_stream_console})
