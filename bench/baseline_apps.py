"""The baselines, each a small Starlette app served like the project (see `bench.servers`).

    canned            POST /graphql answers the room as canned JSON bytes
    jwt-row           verifies the bearer token, reads one indexed row (the contract, by
                      primary key) from PostgreSQL with asyncpg, answers the cached bytes
    memory-strawberry strawberry resolving the room from in-memory objects (bench.memory_room)
    bare-ws           a websocket endpoint at /ws; POST /broadcast sends one message to every
                      connected socket, one after the other
    minimal-http      bench.minimal's activate and approve behind the same HTTP hop as the
                      project: POST /graphql with the bench's mutation documents and variables,
                      the bearer token verified, the action on a pooled asyncpg connection, the
                      payload the bench reads (milestone id and status, no user errors) as JSON

Configuration comes from the environment: BENCH_ROOM_JSON (a file with the project's room
response), BENCH_DSN, BENCH_JWT_SECRET, BENCH_CONTRACT_PK (jwt-row; minimal-http reads the
first two).

Run: ``python -m bench.baseline_apps KIND --port PORT``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import asyncpg
import jwt
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bench.servers import UVICORN_SETTINGS, raise_open_files_limit

JSON_MEDIA_TYPE = "application/json"
Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


def _room_bytes() -> bytes:
    return Path(os.environ["BENCH_ROOM_JSON"]).read_bytes()


def canned_app() -> Starlette:
    body = _room_bytes()

    async def room(request: Request) -> Response:
        return Response(body, media_type=JSON_MEDIA_TYPE)

    return Starlette(routes=[Route("/healthz", healthz), Route("/graphql", room, methods=["POST"])])


async def _no_reset(connection: asyncpg.Connection) -> None:
    """Nothing beyond what asyncpg always does when it takes a connection back."""


def _pool_lifespan(pools: list[asyncpg.Pool]) -> Lifespan:
    """A lifespan that opens a pool on BENCH_DSN (into `pools`) and closes it: without a reset
    statement on release, as the project's pool (milestones.database)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(
            os.environ["BENCH_DSN"], min_size=1, max_size=5, reset=_no_reset
        )
        pools.append(pool)
        try:
            yield
        finally:
            await pool.close()

    return lifespan


def _verified_sub(request: Request, secret: str) -> str | None:
    """The bearer token's subject, or None when the token does not verify."""
    _, _, token = request.headers.get("authorization", "").partition(" ")
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["sub"]})
    except jwt.PyJWTError:
        return None
    sub = claims["sub"]
    return sub if isinstance(sub, str) else None


def jwt_row_app() -> Starlette:
    body = _room_bytes()
    secret = os.environ["BENCH_JWT_SECRET"]
    contract_pk = int(os.environ["BENCH_CONTRACT_PK"])
    pools: list[asyncpg.Pool] = []

    unauthenticated = orjson.dumps(
        {"data": None, "errors": [{"message": "Invalid token", "extensions": {"code": "X"}}]}
    )

    async def room(request: Request) -> Response:
        if _verified_sub(request, secret) is None:
            return Response(unauthenticated, media_type=JSON_MEDIA_TYPE)
        row = await pools[0].fetchrow(
            "SELECT id, client_id, freelancer_id, event_seq FROM contracts WHERE id = $1",
            contract_pk,
        )
        if row is None:
            return Response(b'{"data":{"contract":null}}', media_type=JSON_MEDIA_TYPE)
        return Response(body, media_type=JSON_MEDIA_TYPE)

    return Starlette(
        routes=[Route("/healthz", healthz), Route("/graphql", room, methods=["POST"])],
        lifespan=_pool_lifespan(pools),
    )


def minimal_http_app() -> Starlette:
    from bench import minimal
    from milestones import ids

    secret = os.environ["BENCH_JWT_SECRET"]
    pools: list[asyncpg.Pool] = []

    def refused(message: str, code: str = "BAD_REQUEST") -> Response:
        return Response(
            orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]}),
            status_code=400,
            media_type=JSON_MEDIA_TYPE,
        )

    async def mutate(request: Request) -> Response:
        sub = _verified_sub(request, secret)
        if sub is None:
            return refused("Invalid token", "UNAUTHENTICATED")
        try:
            body = orjson.loads(await request.body())
            query, milestone_id = body["query"], body["variables"]["input"]["milestoneId"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return refused("Send the bench's activate or approve mutation.")
        pk = ids.decode(milestone_id, "Milestone")
        if pk is None or not isinstance(query, str):
            return refused("Send the bench's activate or approve mutation.")
        # The two documents of bench.api, told apart by their field.
        field, act, status = (
            ("approveMilestone", minimal.approve, "RELEASED")
            if "approveMilestone" in query
            else ("activateMilestone", minimal.activate, "ACTIVE")
        )
        try:
            async with pools[0].acquire() as connection:
                await act(connection, sub, pk)
        except minimal.Refused as refusal:
            errors = [{"code": str(refusal), "message": str(refusal), "field": None}]
            payload: dict[str, object] = {"milestone": None, "userErrors": errors}
        else:
            payload = {"milestone": {"id": milestone_id, "status": status}, "userErrors": []}
        return Response(orjson.dumps({"data": {field: payload}}), media_type=JSON_MEDIA_TYPE)

    return Starlette(
        routes=[Route("/healthz", healthz), Route("/graphql", mutate, methods=["POST"])],
        lifespan=_pool_lifespan(pools),
    )


def memory_strawberry_app() -> Starlette:
    from strawberry.asgi import GraphQL

    from bench.memory_room import ROOMS, room_from_response, schema

    contract = orjson.loads(_room_bytes())["data"]["contract"]
    ROOMS[contract["id"]] = room_from_response(contract)
    graphql = GraphQL(schema)
    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/graphql", graphql, methods=["GET", "POST"]),
        ]
    )


def bare_ws_app() -> Starlette:
    sockets: set[WebSocket] = set()
    sent = [0]

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        sockets.add(websocket)
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            sockets.discard(websocket)

    async def broadcast(request: Request) -> Response:
        sent[0] += 1
        # About the size and shape of a graphql-transport-ws `next` message of the project.
        message = orjson.dumps(
            {
                "id": "1",
                "type": "next",
                "payload": {
                    "data": {
                        "contractEvents": {
                            "id": "Q29udHJhY3RFdmVudDoxMjM0NQ==",
                            "cursor": f"ZXZlbnQ6{sent[0]:08d}",
                            "kind": "MILESTONE_EDITED",
                            "occurredAt": "2025-01-01T00:00:00.000000+00:00",
                        }
                    }
                },
            }
        ).decode()
        delivered = 0
        for websocket in list(sockets):
            try:
                await websocket.send_text(message)
                delivered += 1
            except Exception:  # a socket that went away meanwhile
                sockets.discard(websocket)
        return JSONResponse({"sent": delivered})

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/broadcast", broadcast, methods=["POST"]),
            WebSocketRoute("/ws", endpoint),
        ]
    )


def otlp_sink_app() -> Starlette:
    """Accepts OTLP/HTTP trace exports and drops them: the collector of the tracing bench."""

    async def traces(request: Request) -> Response:
        await request.body()
        return Response(b"", media_type="application/x-protobuf")

    return Starlette(
        routes=[Route("/healthz", healthz), Route("/v1/traces", traces, methods=["POST"])]
    )


APPS = {
    "canned": canned_app,
    "otlp-sink": otlp_sink_app,
    "jwt-row": jwt_row_app,
    "memory-strawberry": memory_strawberry_app,
    "bare-ws": bare_ws_app,
    "minimal-http": minimal_http_app,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline_apps")
    parser.add_argument("kind", choices=sorted(APPS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    raise_open_files_limit()
    if args.workers > 1:  # each worker builds the app (from the environment) itself
        factory = f"bench.baseline_apps:{APPS[args.kind].__name__}"
        uvicorn.run(
            factory,
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            **UVICORN_SETTINGS,  # type: ignore[arg-type]
        )
    else:
        uvicorn.run(APPS[args.kind](), host=args.host, port=args.port, **UVICORN_SETTINGS)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
