"""Where `milestones serve --workers N` listens: each worker on a socket of its own.

uvicorn binds one socket in its supervisor and every worker accepts from it. The worker that
wakes first accepts every connection waiting, so connections that arrive together (a client
opening its pool, clients reconnecting after a restart) land on one worker, and stay there:
keep-alive, WebSocket and SSE connections live long. Of 32 connections opened at once against
two workers, all 32 went to one worker in 2 trials of 8 (25 in another), whose core then did
the work of both while the other idled.

Here each worker opens a socket of its own, bound to the same address with `SO_REUSEPORT`
(Linux, the BSDs), and the kernel hands each new connection to one of the listening sockets
by a hash of its addresses: about half each (12-20 of 32 with two workers, 8 trials). A worker's
socket is opened in the worker, when it starts (`WorkerSocket.__reduce__`: uvicorn hands its
workers the supervisor's socket by pickling it), so a worker that uvicorn restarts or adds
gets one too. The supervisor keeps its own socket bound, so that the address is taken and a
bad one fails once, before any worker starts, but it never listens on it: a socket that does
not listen gets no connections. When a worker dies, its socket closes with it and new
connections go to the others; those its socket had queued but it had not yet accepted are
reset (the client reconnects). A hung worker keeps its share of new connections queued until
uvicorn's health check replaces it (`timeout_worker_healthcheck`), where with one shared socket
the others would take them: the price of the even spread, which nginx's `reuseport` pays too.
"""

from __future__ import annotations

import logging
import socket
from typing import Any, TypeVar

REUSE_PORT = hasattr(socket, "SO_REUSEPORT")

logger = logging.getLogger("uvicorn.error")

S = TypeVar("S", bound=socket.socket)


class WorkerSocket(socket.socket):
    """The supervisor's bound socket. Pickled for a worker, it becomes a socket of the
    worker's own on the same address (`worker_socket`)."""

    def __reduce__(self) -> tuple[Any, ...]:
        host, port = self.getsockname()[:2]
        return worker_socket, (self.family, host, port)


def _bound(sock: S, host: str, port: int) -> S:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def worker_socket(family: int, host: str, port: int) -> socket.socket:
    """A worker's socket: bound beside its siblings', listened on by uvicorn."""
    return _bound(socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP), host, port)


def supervisor_socket(host: str, port: int) -> WorkerSocket:
    """The supervisor's socket (never listened on), with the line uvicorn's own bind logs.
    Raises OSError where the address cannot be taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = _bound(WorkerSocket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP), host, port)
    bound_port = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    logger.info("Uvicorn running on http://%s:%d (Press CTRL+C to quit)", shown, bound_port)
    return sock
