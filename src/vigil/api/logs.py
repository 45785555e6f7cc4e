"""Structured logs: one JSON object per line, each tagged with the request it belongs to.

The request id lives in a context variable set by the request middleware;
Starlette copies the context into the thread pool, so a log line written by
the service inside a handler carries the id of the request that caused it.
"""

from __future__ import annotations

import logging
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

request_id_var: ContextVar[str | None] = ContextVar("vigil_request_id", default=None)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", (), None)).keys()
) | {"message", "asctime", "color_message", "taskName"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line: time, level, logger, message, request id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Returns the record as a JSON object on one line."""
        document: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            document["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and key not in document:
                document[key] = value
        if record.exc_info:
            document["exc"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return orjson.dumps(document, default=str).decode()


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """Returns a ``logging.config.dictConfig`` that writes every log, uvicorn's too, as JSON."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": handler},
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            # uvicorn adds its own handlers to these; route them through ours instead.
            "uvicorn": {"handlers": [], "level": level.upper(), "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level.upper(), "propagate": True},
            # The request middleware writes richer access lines than uvicorn's.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def ensure_json_logging(level: str = "INFO") -> None:
    """Sends Vigil's logs to stderr as JSON lines when nothing else was set up to handle them.

    ``vigil serve`` configures logging itself; this covers the app started
    any other way (``uvicorn --factory vigil.api.app:create_app``, an
    embedding program), where access lines would otherwise be dropped.
    """
    vigil_logger = logging.getLogger("vigil")
    if logging.getLogger().handlers or vigil_logger.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    vigil_logger.addHandler(handler)
    vigil_logger.setLevel(level.upper())
