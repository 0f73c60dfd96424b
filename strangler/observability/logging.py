"""JSON-lines log formatter that stamps every record with the current trace context."""

from __future__ import annotations

import json
import logging
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


def logging_config(*, json_lines: bool, level: str = "INFO") -> dict[str, Any]:
    """A LOGGING dict for settings: JSON lines in production, plain text for a developer."""
    formatter = (
        {"()": "strangler.observability.logging.JsonLinesFormatter"}
        if json_lines
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "default"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.db.backends": {"level": "WARNING"}},
    }
