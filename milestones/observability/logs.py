"""JSON logs and the request id that ties a request's lines.

- ``RequestLog``: what the request being served has done so far (set by the request observer).
- ``current_request_id()``: the id of the request being served (for anyone who logs).
- ``JsonFormatter`` and ``logging_config``: one JSON object per line, uvicorn's loggers included.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["ok", "user_error", "error"]

request_logger = logging.getLogger("milestones.requests")
operation_logger = logging.getLogger("milestones.operations")

# --- the request being served -------------------------------------------------------------


@dataclass(slots=True)
class RequestLog:
    request_id: str
    kind: str
    method: str
    path: str
    started: float = field(default_factory=time.perf_counter)
    operations: list[str] = field(default_factory=list)
    outcome: Outcome | None = None

    def add_operation(self, name: str, outcome: Outcome) -> None:
        self.operations.append(name)
        if self.outcome != "error":
            self.outcome = "user_error" if outcome == "user_error" else outcome


current_request_log: ContextVar[RequestLog | None] = ContextVar("milestones_request", default=None)


def current_request_id() -> str | None:
    """The request id of the HTTP request or WebSocket being served, if any."""
    log = current_request_log.get()
    return log.request_id if log is not None else None


# --- logging -------------------------------------------------------------------------------

_STANDARD_RECORD_FIELDS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


# uvicorn's terminal colours mean nothing in JSON; the others are merged above.
_DROPPED_RECORD_FIELDS = frozenset({"fields", "request_id", "color_message"})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or current_request_id()
        if request_id is not None:
            entry["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update({key: value for key, value in fields.items() if value is not None})
        for key, value in record.__dict__.items():
            if key not in _STANDARD_RECORD_FIELDS and key not in _DROPPED_RECORD_FIELDS:
                entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def logging_config(log_format: Literal["json", "text"], level: str = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the server (uvicorn takes it as ``log_config``)."""
    formatter: dict[str, Any] = (
        {"()": "milestones.observability.logs.JsonFormatter"}
        if log_format == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    )
    level_name = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["default"], "level": level_name},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level_name, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level_name, "propagate": True},
            # RequestObserver writes the access log, with the request id and the operation.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
