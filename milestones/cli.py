"""`milestones serve | migrate | token | demo | export-schema | check-invariants`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import Any

from milestones.auth import issue_token
from milestones.config import get_settings

DEMO_TOKEN_SECONDS = 7 * 24 * 3600

# uvicorn's protocols as `milestones serve` runs them, by name so that every worker imports
# them: httptools writing each response in one `send` (`web/http_protocol.py`), and the
# websockets library's sans-I/O protocol holding less per idle socket (`web/ws_protocol.py`).
HTTP_PROTOCOL = "milestones.web.http_protocol:JoinedWritesProtocol"
WS_PROTOCOL = "milestones.web.ws_protocol:LeanWebSocketProtocol"


def served_url(host: str, port: int) -> str:
    """The address `serve` listens on, as a link: a wildcard host is this machine."""
    if host in {"0.0.0.0", "::", ""}:
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from milestones.observability.logs import logging_config
    from milestones.schema.limits import QueryLimits
    from milestones.schema.root import build_schema
    from milestones.web import listening
    from milestones.web.trusted_documents import TrustedDocuments, TrustedDocumentsInvalid

    settings = get_settings()
    try:
        settings.check()
        # Checked here too, so that a bad file stops `serve` with one clear line, not a
        # traceback from each worker.
        schema = build_schema(
            production=settings.is_production, limits=QueryLimits.from_settings(settings)
        )
        TrustedDocuments.load(
            settings.persisted_documents, schema, only=settings.trusted_documents_only
        )
    except (ValueError, TrustedDocumentsInvalid) as error:
        print(f"milestones: {error}", file=sys.stderr)
        return 2
    if args.workers > 1 and settings.is_sqlite:
        print("--workers > 1 needs PostgreSQL (DATABASE_URL=postgres://…)", file=sys.stderr)
        return 2
    if args.workers > 1 and settings.broadcast_url.startswith("memory"):
        print("--workers > 1 needs a shared broker (BROADCAST_URL=redis://…)", file=sys.stderr)
        return 2
    asyncio.run(_migrate())  # once, before any worker starts
    if not settings.public_url:
        # Email links default to the served address (the workers read it from the environment).
        os.environ["PUBLIC_URL"] = served_url(args.host, args.port)
        get_settings.cache_clear()
    options: dict[str, Any] = dict(
        app="milestones.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="auto",
        http=HTTP_PROTOCOL,
        ws=WS_PROTOCOL,
        ws_per_message_deflate=False,
        # A frame is a request: no larger than a request body may be (uvicorn's default is
        # 16 MiB), refused (1009) from its header, before its payload is read.
        ws_max_size=settings.max_body_bytes,
        # (No ws_max_queue: only uvicorn's legacy protocol reads it. This one stops reading a
        # socket after each message until the app has taken it.)
        log_level=args.log_level,
        log_config=logging_config(settings.log_format, args.log_level),
        access_log=False,  # RequestObserver logs each request, with its id and operation
        proxy_headers=True,
        # An event stream never ends by itself: without this a restart would wait for them.
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_seconds)),
    )
    if args.workers > 1 and listening.REUSE_PORT:
        # uvicorn's supervisor, each worker on a socket of its own (`web/listening.py`).
        from uvicorn.supervisors import Multiprocess

        config = uvicorn.Config(**options)
        try:
            sock = listening.supervisor_socket(args.host, args.port)
        except OSError as error:
            print(f"milestones: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
            return 2
        with contextlib.suppress(KeyboardInterrupt):
            Multiprocess(config, sockets=[sock]).run()
        sock.close()
    else:
        uvicorn.run(**options)
    return 0


async def _migrate() -> None:
    from milestones.database import database

    settings = get_settings()
    async with database(settings.database_url, settings.database_pool_size):
        pass


def _migrate_cmd(args: argparse.Namespace) -> int:
    asyncio.run(_migrate())
    print("migrations applied")
    return 0


def _token(args: argparse.Namespace) -> int:
    print(
        issue_token(
            get_settings().jwt_secret,
            args.sub,
            name=args.name,
            email=args.email,
            expires_in=args.expires_in,
            roles=tuple(args.role or ()),
        )
    )
    return 0


async def _demo(host: str, port: int) -> None:
    from milestones.auth import Claims
    from milestones.database import database
    from milestones.domain import commands, contracts, milestones
    from milestones.domain.users import user_from_claims
    from milestones.ids import encode

    settings = get_settings()
    async with database(settings.database_url, settings.database_pool_size):
        client = await user_from_claims(Claims("demo-client", "Cleo Client", "cleo@example.com"))
        freelancer = await user_from_claims(
            Claims("demo-freelancer", "Fred Freelancer", "fred@example.com")
        )
        offered = await contracts.create_contract(
            client, commands.CreateContract(title="Website redesign", freelancer_id=freelancer.id)
        )
        # The demo room is an accepted contract, with its first milestone funded.
        accepted = await contracts.accept_contract(
            freelancer, commands.AcceptContract(contract_id=offered.contract.id)
        )
        contract = accepted.contract
        plan = [
            ("Wireframes", "Low-fidelity wireframes for every page", 150_000),
            ("Visual design", "Final designs for desktop and mobile", 250_000),
            ("Build", "Responsive implementation", 400_000),
        ]
        added = [
            await milestones.add_milestone(
                client,
                commands.AddMilestone(
                    contract_id=contract.id, title=title, description=description, amount=cents
                ),
            )
            for title, description, cents in plan
        ]
        first = added[0].milestone
        assert first is not None
        await milestones.activate_milestone(
            client, commands.ActivateMilestone(milestone_id=first.id)
        )
        contract_id = encode("Contract", contract.id)
    for label, sub, name in (
        ("client", "demo-client", "Cleo Client"),
        ("freelancer", "demo-freelancer", "Fred Freelancer"),
    ):
        token = issue_token(settings.jwt_secret, sub, name=name, expires_in=DEMO_TOKEN_SECONDS)
        print(f"{label} token ({name}):\n  {token}\n")
        print(f'  headers: {{"Authorization": "Bearer {token}"}}\n')
    print(f"contract id: {contract_id}")
    print(f"GraphiQL:    http://{host}:{port}/graphql")
    print(f"Room page:   http://{host}:{port}/app/  (sign in as a demo user)")


def _demo_cmd(args: argparse.Namespace) -> int:
    asyncio.run(_demo(args.host, args.port))
    return 0


def _export_schema(args: argparse.Namespace) -> int:
    from milestones.schema.root import export_sdl

    Path(args.output).write_text(export_sdl(), encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


async def _check_invariants(database_url: str) -> int:
    from milestones.database import database
    from milestones.invariants import check_invariants

    async with database(database_url, get_settings().database_pool_size):
        report = await check_invariants()
    checked = ", ".join(f"{count} {what}" for what, count in report.counts.items())
    for breach in report.breaches:
        print(f"BREACH {breach}")
    if not report.ok:
        print(f"{len(report.breaches)} invariant breaches ({checked} checked)", file=sys.stderr)
        return 1
    print(f"all invariants hold ({checked} checked)")
    return 0


def _check_invariants_cmd(args: argparse.Namespace) -> int:
    return asyncio.run(_check_invariants(args.database_url or get_settings().database_url))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="milestones", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="apply migrations and serve /graphql")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(func=_serve)

    migrate = commands.add_parser("migrate", help="apply pending migrations")
    migrate.set_defaults(func=_migrate_cmd)

    token = commands.add_parser("token", help="print a signed token for a user")
    token.add_argument("sub")
    token.add_argument("--name")
    token.add_argument("--email")
    token.add_argument("--expires-in", type=int, default=24 * 3600, help="seconds")
    token.add_argument(
        "--role", action="append", help="a `roles` claim entry (repeatable), e.g. mediator"
    )
    token.set_defaults(func=_token)

    demo = commands.add_parser("demo", help="create a demo contract and print tokens")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.set_defaults(func=_demo_cmd)

    export = commands.add_parser("export-schema", help="write the GraphQL SDL")
    export.add_argument("--output", default="schema.graphql")
    export.set_defaults(func=_export_schema)

    invariants = commands.add_parser(
        "check-invariants",
        help="re-derive escrow from the ledger and check every invariant; exit 1 on a breach",
    )
    invariants.add_argument("--database-url", help="default: DATABASE_URL")
    invariants.set_defaults(func=_check_invariants_cmd)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
