"""``RequestObserver``: ASGI middleware; gives every HTTP request and WebSocket a request id
(the caller's ``X-Request-ID`` when it is sane, else a new one), echoes it in the response
header, counts open WebSockets and logs one line per request.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import secrets
import time
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from milestones.observability.logs import RequestLog, current_request_log, request_logger
from milestones.observability.metrics import HTTP_DURATION, HTTP_REQUESTS, OPEN_WEBSOCKETS

REQUEST_ID_HEADER = "x-request-id"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1").strip()
            return candidate if _SANE_REQUEST_ID.match(candidate) else None
    return None


class _RequestIds:
    """New request ids: 32 hex digits, a random half for the process and a counting half.
    As unique as a uuid4 across processes and restarts, without a system call per request."""

    def __init__(self) -> None:
        self._pid = -1
        self._prefix = ""
        self._counter = itertools.count()

    def new(self) -> str:
        if self._pid != os.getpid():  # a new process (or a fork): a new random half
            self._pid, self._prefix = os.getpid(), secrets.token_hex(8)
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFFFFFFFFFF:016x}"


_request_ids = _RequestIds()


class _Labelled:
    """The labelled children of a metric, looked up once (prometheus_client's `labels` takes
    a lock and checks its arguments on every call). Bounded: the labels are a route from a
    fixed list, an HTTP method uvicorn parsed and a status code; past `MAX` it stops keeping."""

    MAX = 512

    def __init__(self, metric: Counter | Histogram) -> None:
        self.metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self.metric.labels(*values)
            if len(self._children) < self.MAX:
                self._children[values] = child
        return child


_requests = _Labelled(HTTP_REQUESTS)
_durations = _Labelled(HTTP_DURATION)

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
        log = request_log(scope)
        token = current_request_log.set(log)
        header = request_id_header(log)
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
            finish(log, status if log.kind == "http" else 101 if accepted else 403)
            current_request_log.reset(token)


def request_log(scope: Scope) -> RequestLog:
    """The request's log record, with its id: the caller's X-Request-ID if sane, else new."""
    return RequestLog(
        request_id=_incoming_request_id(scope) or _request_ids.new(),
        kind=scope["type"],
        method=scope.get("method", "WS") if scope["type"] == "http" else "WS",
        path=scope.get("path", ""),
    )


def request_id_header(log: RequestLog) -> tuple[bytes, bytes]:
    return REQUEST_ID_HEADER.encode(), log.request_id.encode()


def finish(log: RequestLog, status: int) -> None:
    """Count the request and write its one log line."""
    duration = time.perf_counter() - log.started
    route = _route_label(log.path)
    if log.kind == "http":
        _requests(route, log.method, str(status)).inc()
        _durations(route).observe(duration)
    level = logging.DEBUG if log.path in _QUIET_ROUTES and status < 500 else logging.INFO
    if status >= 500:
        level = logging.ERROR
    if not request_logger.isEnabledFor(level):
        return
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
