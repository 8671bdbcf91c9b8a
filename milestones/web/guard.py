"""The outermost answer: whatever fails while a request is served, the client gets a GraphQL-
over-HTTP error (JSON, `X-Request-ID`, `Cache-Control: no-store`, no internals), never the
server's bare text/plain 500. A dependency that is down (the database) answers 503 with
`SERVICE_UNAVAILABLE`; anything else 500 with `INTERNAL_SERVER_ERROR`. The failure is logged
once, with the request id.
"""

from __future__ import annotations

import logging
import sqlite3

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from tortoise.exceptions import DBConnectionError, OperationalError

from milestones.observability.logs import current_request_id
from milestones.schema.errors import (
    INTERNAL_SERVER_ERROR,
    MASKED_MESSAGE,
    SERVICE_UNAVAILABLE,
    UNAVAILABLE_MESSAGE,
)

logger = logging.getLogger("milestones.errors")

RETRY_AFTER_SECONDS = "5"


def is_unavailable(error: BaseException) -> bool:
    """A dependency failing (connection lost, refused, timed out), not our code."""
    if isinstance(error, DBConnectionError | ConnectionError | TimeoutError | OSError):
        return True
    if isinstance(error, OperationalError | sqlite3.OperationalError):
        return True
    module = type(error).__module__
    # asyncpg's connection failures and server shutdowns (admin_shutdown, cannot_connect...).
    return module.startswith("asyncpg") and any(
        name in type(error).__name__ for name in ("Connection", "Interface", "Shutdown")
    )


def error_body(code: str, message: str) -> bytes:
    extensions: dict[str, str] = {"code": code}
    request_id = current_request_id()
    if request_id is not None:
        extensions["requestId"] = request_id
    return orjson.dumps({"errors": [{"message": message, "extensions": extensions}]})


def log_failure(scope: Scope, error: Exception) -> bool:
    """Log what failed while serving, once, with the request id; whether a dependency did."""
    unavailable = is_unavailable(error)
    logger.error(
        "%s while serving %s (request id %s)",
        "a dependency is unavailable" if unavailable else "unexpected error",
        scope.get("path", "?"),
        current_request_id(),
        exc_info=error,
    )
    return unavailable


class ErrorGuard:
    """ASGI middleware: an exception becomes a JSON error (HTTP) or a 1011 close (WebSocket)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = False

        async def watching(message: Message) -> None:
            nonlocal started
            if message["type"] in ("http.response.start", "websocket.accept", "websocket.close"):
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watching)
        except Exception as error:
            unavailable = log_failure(scope, error)
            if started:
                raise  # part of an answer is out: the server closes the connection
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1011, "reason": ""})
                return
            status, code, message = (
                (503, SERVICE_UNAVAILABLE, UNAVAILABLE_MESSAGE)
                if unavailable
                else (500, INTERNAL_SERVER_ERROR, MASKED_MESSAGE)
            )
            headers = [
                (b"content-type", b"application/json"),
                (b"cache-control", b"no-store"),
            ]
            if unavailable:
                headers.append((b"retry-after", RETRY_AFTER_SECONDS.encode()))
            body = error_body(code, message)
            headers.append((b"content-length", str(len(body)).encode()))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
