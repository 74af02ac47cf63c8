"""JSON log lines (one object per line on stderr) for this adapter and uvicorn.

`log_config` is the dictConfig uvicorn applies in every worker before the app is built; the
access line (one per request) is written by `observe.Observer`, so uvicorn's own is off.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

ACCESS_LOGGER: Final = "flightontime_server.access"
_ENCODER = msgspec.json.Encoder(enc_hook=str)


class JsonFormatter(logging.Formatter):
    """A record as one JSON object; `extra={"fields": {...}}` adds fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
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
        return _ENCODER.encode(line).decode()


def log_config(level: str) -> dict[str, Any]:
    """A logging.config dict: JSON to stderr for this package's loggers and uvicorn's."""
    level = level.upper()
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    quiet = {"handlers": ["default"], "level": "WARNING", "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "flightontime_server.logging.JsonFormatter"}},
        "handlers": {"default": handler},
        "loggers": {
            "flightontime_server": {"handlers": ["default"], "level": level, "propagate": False},
            "flightontime_core": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            # observe.Observer writes the access line (request id, model version, no query).
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "litestar": quiet,
        },
    }
