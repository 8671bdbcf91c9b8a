"""Operations: Prometheus metrics, JSON logs, and the request id that ties a request's lines.

- ``RequestObserver``: ASGI middleware; gives every HTTP request and WebSocket a request id
  (the caller's ``X-Request-ID`` when it is sane, else a new one), echoes it in the response
  header, counts open WebSockets and logs one line per request.
- ``OperationObserver``: strawberry extension (pass the class); counts GraphQL operations by
  name and outcome, times them, and hands the operation name to the request's log line.
- ``ACTIVE_SUBSCRIPTIONS``: the gauge the WebSocket transport keeps (one per subscribing
  operation); ``observe_notification_delivery``: the notification delivery lag.
- ``metrics_response``: the ``/metrics`` body (reads the email outbox size at scrape time).
- ``current_request_id()``: the id of the request being served (for anyone who logs).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

from graphql import GraphQLError
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

Outcome = Literal["ok", "user_error", "error"]

REQUEST_ID_HEADER = "x-request-id"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
# Operation names are chosen by callers: past this many distinct names, the rest share "other"
# so that a misbehaving client cannot grow the metrics without bound.
MAX_OPERATION_NAMES = 300
MAX_OPERATION_NAME_LENGTH = 80

request_logger = logging.getLogger("milestones.requests")
operation_logger = logging.getLogger("milestones.operations")

# --- metrics -------------------------------------------------------------------------------

# `_created` series would double every counter's lines for a number nobody graphs.
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry(auto_describe=True)

GRAPHQL_OPERATIONS = Counter(
    "milestones_graphql_operations",
    "GraphQL operations by name, type and outcome (ok, user_error, error).",
    ["operation", "type", "outcome"],
    registry=REGISTRY,
)
GRAPHQL_DURATION = Histogram(
    "milestones_graphql_operation_duration_seconds",
    "Time to answer a query or mutation.",
    ["operation", "type"],
    registry=REGISTRY,
)
HTTP_REQUESTS = Counter(
    "milestones_http_requests",
    "HTTP requests by route, method and status code.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "milestones_http_request_duration_seconds",
    "HTTP request latency by route.",
    ["route"],
    registry=REGISTRY,
)
OPEN_WEBSOCKETS = Gauge(
    "milestones_open_websockets",
    "WebSocket connections currently open.",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
ACTIVE_SUBSCRIPTIONS = Gauge(
    "milestones_active_subscriptions",
    "GraphQL subscriptions currently running, by field.",
    ["subscription"],
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
NOTIFICATION_DELIVERY_LAG = Histogram(
    "milestones_notification_delivery_lag_seconds",
    "From a notification's creation to its push over a subscription (replays included).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
    registry=REGISTRY,
)
EMAIL_OUTBOX_SIZE = Gauge(
    "milestones_email_outbox_size",
    "Notification emails waiting to be sent (read from the database at scrape time).",
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)

EMAIL_OUTBOX_FAILED = Gauge(
    "milestones_email_outbox_failed",
    "Notification emails parked after failing for a permanent reason (read at scrape time).",
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)

_operation_names: set[str] = set()


def _operation_label(name: str | None) -> str:
    if not name:
        return "anonymous"
    name = name[:MAX_OPERATION_NAME_LENGTH]
    if name in _operation_names:
        return name
    if len(_operation_names) >= MAX_OPERATION_NAMES:
        return "other"
    _operation_names.add(name)
    return name


async def _email_outbox_size() -> tuple[int, int]:
    """Emails waiting to be sent, and emails parked as failed."""
    from milestones.models import EmailOutbox

    waiting: int = await EmailOutbox.filter(sent_at=None, failed_at=None).count()
    failed: int = await EmailOutbox.filter(failed_at__isnull=False).count()
    return waiting, failed


async def metrics_response(request: Request) -> Response:
    """The Prometheus text format; with PROMETHEUS_MULTIPROC_DIR, every worker's numbers."""
    try:
        waiting, failed = await _email_outbox_size()
        EMAIL_OUTBOX_SIZE.set(waiting)
        EMAIL_OUTBOX_FAILED.set(failed)
    except Exception:  # a scrape reports what it can; readiness reports the database
        request_logger.warning("could not read the email outbox size", exc_info=True)
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


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


_current_request: ContextVar[RequestLog | None] = ContextVar("milestones_request", default=None)


def current_request_id() -> str | None:
    """The request id of the HTTP request or WebSocket being served, if any."""
    log = _current_request.get()
    return log.request_id if log is not None else None


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1").strip()
            return candidate if _SANE_REQUEST_ID.match(candidate) else None
    return None


_KNOWN_ROUTES = ("/graphql", "/healthz", "/readyz", "/metrics")
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


def _route_label(path: str) -> str:
    if path in _KNOWN_ROUTES:
        return path
    if path == "/app" or path.startswith("/app/"):
        return "/app"
    return "other"


class RequestObserver:
    """ASGI middleware: request id, response header, WebSocket gauge, one log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        log = RequestLog(
            request_id=request_id,
            kind=scope["type"],
            method=scope.get("method", "WS") if scope["type"] == "http" else "WS",
            path=scope.get("path", ""),
        )
        token = _current_request.set(log)
        header = (REQUEST_ID_HEADER.encode(), request_id.encode())
        status = 500
        accepted = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, accepted
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            elif message["type"] == "websocket.accept":
                accepted = True
                OPEN_WEBSOCKETS.inc()
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception:
            log.outcome = "error"
            raise
        finally:
            if accepted:
                OPEN_WEBSOCKETS.dec()
            self._finish(log, status if log.kind == "http" else 101 if accepted else 403)
            _current_request.reset(token)

    @staticmethod
    def _finish(log: RequestLog, status: int) -> None:
        duration = time.perf_counter() - log.started
        route = _route_label(log.path)
        if log.kind == "http":
            HTTP_REQUESTS.labels(route=route, method=log.method, status=str(status)).inc()
            HTTP_DURATION.labels(route=route).observe(duration)
        level = logging.DEBUG if log.path in _QUIET_ROUTES and status < 500 else logging.INFO
        if status >= 500:
            level = logging.ERROR
        request_logger.log(
            level,
            "%s %s %s",
            log.method,
            log.path,
            status,
            extra={
                "fields": {
                    "request_id": log.request_id,
                    "kind": log.kind,
                    "method": log.method,
                    "path": log.path,
                    "status": status,
                    "duration_ms": round(duration * 1000, 2),
                    "operation": ",".join(log.operations) or None,
                    "outcome": log.outcome or ("error" if status >= 500 else "ok"),
                }
            },
        )


# --- GraphQL operations --------------------------------------------------------------------


def _error_outcome(errors: list[GraphQLError]) -> Outcome:
    """Errors a client caused (bad query, no token, not found) versus failures of ours."""
    for error in errors:
        original = error.original_error
        code = (error.extensions or {}).get("code")
        if code == "INTERNAL_SERVER_ERROR":
            return "error"
        if original is not None and not code and not isinstance(original, GraphQLError):
            return "error"
    return "user_error"


def _data_outcome(data: Any) -> Outcome:
    if isinstance(data, dict):
        for value in data.values():
            if isinstance(value, dict) and value.get("userErrors"):
                return "user_error"
    return "ok"


def operation_outcome(errors: list[GraphQLError] | None, data: Any) -> Outcome:
    return _error_outcome(errors) if errors else _data_outcome(data)


class OperationObserver(SchemaExtension):
    """Counts and times each GraphQL operation; pass the class, not an instance."""

    async def on_operation(self) -> AsyncIterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        try:
            operation_type = context.operation_type.value
        except Exception:  # no document: it did not parse
            operation_type = "unknown"
        result = context.result
        errors = list(context.pre_execution_errors or []) or (
            list(result.errors or []) if result is not None else []
        )
        outcome = operation_outcome(errors, result.data if result is not None else None)
        name = _operation_label(context.operation_name)
        GRAPHQL_OPERATIONS.labels(operation=name, type=operation_type, outcome=outcome).inc()
        duration = time.perf_counter() - started
        if operation_type != "subscription":  # a subscription lasts as long as it is wanted
            GRAPHQL_DURATION.labels(operation=name, type=operation_type).observe(duration)
        log = _current_request.get()
        if log is not None:
            log.add_operation(name, outcome)
            if log.kind == "websocket":
                operation_logger.info(
                    "%s %s %s",
                    operation_type,
                    name,
                    outcome,
                    extra={
                        "fields": {
                            "operation": name,
                            "type": operation_type,
                            "outcome": outcome,
                            "duration_ms": round(duration * 1000, 2),
                        }
                    },
                )


def observe_notification_delivery(created_at: dt.datetime) -> None:
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=dt.UTC)
    lag = (dt.datetime.now(dt.UTC) - created_at).total_seconds()
    NOTIFICATION_DELIVERY_LAG.observe(max(lag, 0.0))


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
        {"()": "milestones.observability.JsonFormatter"}
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
