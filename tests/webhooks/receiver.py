"""A webhook receiver for tests: an HTTP server on 127.0.0.1 in a thread that records every
request and answers with the status a test's `answer` function picks."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from standardwebhooks import Webhook


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    def verified(self, secret: str) -> Any:
        """The body, verified with the Standard Webhooks library (raises when forged)."""
        return Webhook(secret).verify(self.body, self.headers)

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


# (the request as received so far, how many requests with this webhook-id came before) -> status
Answer = Callable[[str, dict[str, str], int], int]


def always(status: int) -> Answer:
    return lambda path, headers, earlier: status


def fail_first(times: int, status: int = 503) -> Answer:
    """Fail the first `times` attempts of each message, then accept."""
    return lambda path, headers, earlier: status if earlier < times else 200


ACCEPT = always(200)


class Receiver:
    def __init__(self, answer: Answer = ACCEPT) -> None:
        self.answer = answer
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._seen: dict[str | None, int] = {}
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                headers = {key.lower(): value for key, value in self.headers.items()}
                with receiver._lock:
                    webhook_id = headers.get("webhook-id")
                    earlier = receiver._seen.get(webhook_id, 0)
                    receiver._seen[webhook_id] = earlier + 1
                # Outside the lock: a slow answer must not hold up other requests.
                status = receiver.answer(self.path, headers, earlier)
                with receiver._lock:
                    receiver.received.append(Received(self.path, headers, body, status))
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("location", receiver.url + "/redirected")
                reply = b"not now " * 100 if status >= 300 else b"ok"
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def delivered(self) -> list[Received]:
        with self._lock:
            return [seen for seen in self.received if 200 <= seen.status < 300]

    def attempts_of(self, webhook_id: str) -> list[Received]:
        with self._lock:
            return [seen for seen in self.received if seen.webhook_id == webhook_id]

    @contextlib.contextmanager
    def running(self) -> Iterator[Receiver]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            thread.join(timeout=5)

    async def wait_for(self, count: int, seconds: float = 20.0) -> list[Received]:
        """Wait until `count` requests were answered 2xx (fails after `seconds`)."""
        deadline = time.monotonic() + seconds
        while len(self.delivered) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(self.delivered)} of {count} webhooks delivered after {seconds}s; "
                    f"received: {[(seen.webhook_id, seen.status) for seen in self.received]}"
                )
            await asyncio.sleep(0.02)
        return self.delivered

    async def wait_for_attempts(self, count: int, seconds: float = 20.0) -> None:
        """Wait until `count` requests came in, whatever the answer."""
        deadline = time.monotonic() + seconds
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.received)} of {count} attempts after {seconds}s")
            await asyncio.sleep(0.02)
