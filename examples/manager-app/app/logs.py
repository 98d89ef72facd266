"""JSON-lines logging on stdout for the app, its libraries and uvicorn alike.

Every line is one object `{"ts", "level", "logger", "event", ...}` so the suite (and Loki, in
the real system) can parse it. Structured fields travel in `extra={"fields": {...}}`; use `kv`.
A line written while a span is active carries `trace_id` and `span_id` (hex, 32/16): from a log
line to its trace in Jaeger. With a collector configured the records also go out as OTLP logs
(app.telemetry attaches that handler).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from app.telemetry import current_ids

_QUIET_LIBRARIES = ("httpx", "httpcore", "psycopg", "asyncio")


def kv(**fields: Any) -> dict[str, Any]:
    """Shorthand for `extra=` so call sites read `log.info("event", extra=kv(a=1))`."""
    return {"fields": fields}


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object; only explicit `fields` are added, never all extras."""

    def format(self, record: logging.LogRecord) -> str:
        secs = time.gmtime(record.created)
        millis = int(record.msecs)
        entry: dict[str, Any] = {
            "ts": f"{time.strftime('%Y-%m-%dT%H:%M:%S', secs)}.{millis:03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        ids = current_ids()
        if ids is not None:
            entry["trace_id"], entry["span_id"] = ids
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def log_config(level: str = "INFO") -> dict[str, Any]:
    """A dictConfig for uvicorn's `log_config=`: uvicorn, libraries and the app share it."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
    quiet = {name: {"level": "WARNING"} for name in _QUIET_LIBRARIES}
    # The pool logs every failed reconnect; app.health already logs each outage once.
    quiet["psycopg.pool"] = {"level": "ERROR"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"stdout": handler},
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": True},
            **quiet,
        },
    }
