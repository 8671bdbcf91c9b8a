"""A socket on /graphql is served from the app's entry (`MilestonesApp` ->
`MilestonesGraphQL.serve_websocket`), past the middleware stack and the router, so an idle socket
keeps a short call chain alive. What the middleware and strawberry's `run` did for a socket, it
still gets: its request id (header, log line), the open-socket gauge, a refused handshake when
serving fails before the accept (the failure logged once), strawberry's origin check and
subprotocol choice."""

from __future__ import annotations

import asyncio
import logging

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from milestones.observability.metrics import OPEN_WEBSOCKETS
from milestones.web.graphql_view import MilestonesGraphQL
from tests.helpers import Actor
from tests.subscriptions.wsclient import PROTOCOL, GraphQLWS


def open_sockets() -> float:
    return OPEN_WEBSOCKETS._value.get()  # type: ignore[attr-defined]


async def eventually(condition: object, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)


async def test_a_socket_has_its_request_id_is_counted_and_logged(
    server_url: str, client: Actor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="milestones.requests")
    before = open_sockets()
    async with connect(
        server_url,
        subprotocols=[Subprotocol(PROTOCOL)],
        additional_headers={"X-Request-ID": "socket-7"},
    ) as connection:
        assert connection.response is not None
        assert connection.response.headers["x-request-id"] == "socket-7"
        assert connection.subprotocol == PROTOCOL
        await GraphQLWS(connection).init(client.token)
        assert open_sockets() == before + 1
    await eventually(lambda: open_sockets() == before)
    await eventually(lambda: any(r.name == "milestones.requests" for r in caplog.records))
    [record] = [r for r in caplog.records if r.name == "milestones.requests"]
    fields = record.fields  # type: ignore[attr-defined]
    seen = (fields["request_id"], fields["kind"], fields["status"])
    assert seen == ("socket-7", "websocket", 101)


async def test_a_failure_before_the_accept_refuses_the_handshake_and_is_logged_once(
    server_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(self: MilestonesGraphQL, websocket: object) -> str | None:
        raise RuntimeError("internal detail")

    monkeypatch.setattr(MilestonesGraphQL, "pick_websocket_subprotocol", broken)
    before = open_sockets()
    with pytest.raises(InvalidStatus) as refused:
        async with connect(server_url, subprotocols=[Subprotocol(PROTOCOL)]):
            pass
    assert refused.value.response.status_code == 403
    failures = [r for r in caplog.records if r.name == "milestones.errors"]
    assert len(failures) == 1 and "unexpected error" in failures[0].getMessage()
    assert open_sockets() == before


async def test_a_page_from_another_origin_is_refused(server_url: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            server_url, subprotocols=[Subprotocol(PROTOCOL)], origin="https://elsewhere.example"
        ):
            pass
    assert refused.value.response.status_code == 403


async def test_another_subprotocol_is_closed_with_4406(server_url: str) -> None:
    async with connect(server_url, subprotocols=[Subprotocol("graphql-ws")]) as connection:
        await connection.wait_closed()
        assert connection.close_code == 4406


async def test_other_socket_paths_are_refused(server_url: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(server_url.replace("/graphql", "/graphql/other")):
            pass
    assert refused.value.response.status_code == 403
