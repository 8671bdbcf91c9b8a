"""`milestones serve --workers N`: each worker listens on a socket of its own (SO_REUSEPORT),
opened when the worker unpickles the supervisor's; the supervisor's is never listened on."""

from __future__ import annotations

import socket
from multiprocessing.reduction import ForkingPickler

import pytest

from milestones.web import listening

pytestmark = pytest.mark.skipif(not listening.REUSE_PORT, reason="no SO_REUSEPORT here")


def _as_a_worker_gets_it(sock: socket.socket) -> socket.socket:
    """What uvicorn's spawned worker receives: the socket, pickled and unpickled."""
    return ForkingPickler.loads(bytes(ForkingPickler.dumps(sock)))


def test_each_worker_gets_a_socket_of_its_own_on_the_same_address() -> None:
    supervisor = listening.supervisor_socket("127.0.0.1", 0)
    workers = [_as_a_worker_gets_it(supervisor) for _ in range(2)]
    try:
        address = supervisor.getsockname()
        assert all(type(w) is socket.socket for w in workers)
        assert [w.getsockname() for w in workers] == [address, address]
        assert len({supervisor.fileno(), *(w.fileno() for w in workers)}) == 3
        assert all(w.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for w in workers)
    finally:
        for sock in (supervisor, *workers):
            sock.close()


def test_connections_spread_over_the_listening_workers_only() -> None:
    supervisor = listening.supervisor_socket("127.0.0.1", 0)
    workers = [_as_a_worker_gets_it(supervisor) for _ in range(2)]
    clients: list[socket.socket] = []
    accepted: list[list[socket.socket]] = [[], []]
    try:
        for worker in workers:
            worker.listen(128)
            worker.settimeout(0)
        for _ in range(64):
            clients.append(socket.create_connection(supervisor.getsockname(), timeout=5))
        for index, worker in enumerate(workers):
            while True:
                try:
                    accepted[index].append(worker.accept()[0])
                except BlockingIOError:
                    break
        # Every connection reached a worker (none waits on the supervisor's socket, which
        # does not listen), and each worker got a share: by the kernel's hash of the
        # addresses, about half each (fewer than 10 of 64 has a chance under 1e-8).
        assert sum(len(got) for got in accepted) == 64
        assert min(len(got) for got in accepted) >= 10
    finally:
        for sock in (supervisor, *workers, *clients, *accepted[0], *accepted[1]):
            sock.close()


def test_a_taken_address_fails_in_the_supervisor() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        with pytest.raises(OSError):
            listening.supervisor_socket("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()
