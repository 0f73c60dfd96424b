"""Logging: JSON lines stamped with the trace context; libraries and probes kept off a terminal."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from strangler.observability.context import current_trace

# Attributes every LogRecord has; anything else was passed with `extra=` and is kept.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, trace ids and `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        trace = current_trace()
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if trace.correlation_id:
            entry["correlation_id"] = trace.correlation_id
        if trace.causation_id:
            entry["causation_id"] = trace.causation_id
        if trace.traceparent:
            entry["traceparent"] = trace.traceparent
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


# Libraries whose INFO lines (httpx: one per request) belong in the log, not a command's output.
QUIET_LIBRARIES = ("httpx", "httpcore", "urllib3", "kombu", "amqp", "celery.bootsteps")
# Requests that only ask whether the process lives: not logged by runserver unless -v 2.
PROBE_PATHS = ("/healthz", "/readyz", "/metrics")


def command_verbosity(argv: Sequence[str] | None = None) -> int:
    """A management command's -v/--verbosity (1 when not given), read before Django parses it."""
    argv = sys.argv if argv is None else argv
    for position, arg in enumerate(argv):
        value = None
        if arg in ("-v", "--verbosity") and position + 1 < len(argv):
            value = argv[position + 1]
        elif arg.startswith("--verbosity="):
            value = arg.split("=", 1)[1]
        elif arg.startswith("-v") and arg[2:].isdigit():
            value = arg[2:]
        if value is not None and value.isdigit():
            return int(value)
    return 1


class ProbeRequestFilter(logging.Filter):
    """Drops runserver's access lines for health probes and scrapes (GET /readyz ...)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_line = record.args[0] if isinstance(record.args, tuple) and record.args else ""
        if not isinstance(request_line, str):
            return True
        parts = request_line.split(" ")
        if len(parts) < 2:
            return True
        return parts[1].split("?", 1)[0].rstrip("/") not in PROBE_PATHS


def logging_config(
    *, json_lines: bool, level: str = "INFO", verbosity: int | None = None
) -> dict[str, Any]:
    """A LOGGING dict for settings: JSON lines in production, plain text for a developer.

    Below verbosity 2 (`-v 2` on a command), libraries' INFO lines are not shown (a command
    prints its own progress and summary) and runserver does not log health probes.
    """
    verbosity = command_verbosity() if verbosity is None else verbosity
    formatter = (
        {"()": "strangler.observability.logging.JsonLinesFormatter"}
        if json_lines
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    loggers: dict[str, Any] = {"django.db.backends": {"level": "WARNING"}}
    filters: dict[str, Any] = {}
    if verbosity < 2:
        loggers.update({name: {"level": "WARNING"} for name in QUIET_LIBRARIES})
        filters["no_probes"] = {"()": "strangler.observability.logging.ProbeRequestFilter"}
        # Replaces Django's own django.server set-up: its lines go to the one console handler.
        loggers["django.server"] = {
            "handlers": ["console"],
            "filters": ["no_probes"],
            "propagate": False,
        }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "filters": filters,
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "default"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": loggers,
    }
