"""JSON log lines (one object per line) for the service and uvicorn."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

ACCESS_LOGGER = "flightontime.access"


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object; `extra={"fields": {...}}` adds fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as a JSON line."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def log_config(level: str) -> dict[str, Any]:
    """A logging.config dict: JSON to stderr for our loggers and uvicorn's (access log off)."""
    level = level.upper()
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "flightontime.api.logs.JsonFormatter"}},
        "handlers": {"default": handler},
        "loggers": {
            "flightontime": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            # Our middleware writes the access line (with request id and model version).
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
