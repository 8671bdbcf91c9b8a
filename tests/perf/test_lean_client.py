"""`bench.api.LeanClient`, the mutation benchmarks' load generator, against a real server: it
reads whole responses, refuses what `GraphQLClient` refuses, and survives the server closing
an idle keep-alive connection."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench import api
from bench.api import ME, ApiError, LeanClient, Party, lean_over_http
from milestones.auth import issue_token
from tests.conftest import TEST_JWT_SECRET
from tests.security.servers import serve, server_environment

UVICORN_KEEP_ALIVE_SECONDS = 5  # uvicorn's default `timeout_keep_alive`


def _party(sub: str) -> Party:
    return Party(sub, sub, issue_token(TEST_JWT_SECRET, sub, name=sub, expires_in=600))


async def test_answers_refusals_and_a_closed_idle_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = server_environment(f"sqlite:///{tmp_path / 'lean.sqlite3'}")
    async with serve(env, tmp_path) as (url,), lean_over_http(url) as client:
        me = await client.post(_party("lean-1"), ME)
        assert me["data"]["me"]["id"]

        with pytest.raises(ApiError, match="UNAUTHENTICATED"):
            await client.post(Party("x", "x", "not-a-token"), ME)
        with pytest.raises(ApiError, match="Syntax Error"):
            await client.post(_party("lean-1"), "{ me {")

        # The server closes the connection once idle; the client notices and reconnects.
        monkeypatch.setattr(api, "_IDLE_RECONNECT_SECONDS", 60.0)
        reader = client._reader
        await asyncio.sleep(UVICORN_KEEP_ALIVE_SECONDS + 1)
        assert reader is not None and reader.at_eof()
        again = await client.post(_party("lean-1"), ME)
        assert again["data"]["me"]["id"] == me["data"]["me"]["id"]
        assert client._reader is not reader


async def test_a_response_without_a_length_is_refused() -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(chunked, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        client = LeanClient(f"http://127.0.0.1:{port}")
        try:
            with pytest.raises(ApiError, match="Content-Length"):
                await client.post(_party("lean-2"), ME)
        finally:
            await client.aclose()
