"""The contract-room page at /app: static ES modules, no build step, and (in development
only) the demo users' tokens so that a visitor can sign in with one click, and GraphiQL's
scripts at /graphiql, served by the app so that GraphiQL works with no internet access."""

from __future__ import annotations

import os
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from milestones.auth import issue_token
from milestones.config import Settings

STATIC_DIR = Path(__file__).parent / "static"
# GraphiQL's page and its vendored scripts: development only, never under /app.
GRAPHIQL_DIR = STATIC_DIR / "graphiql"
DEMO_TOKEN_SECONDS = 24 * 3600
# The users `milestones demo` creates, in the order the page offers them.
DEMO_USERS = (("client", "demo-client"), ("freelancer", "demo-freelancer"))


async def demo_tokens(settings: Settings) -> list[dict[str, str]]:
    """Fresh tokens for the demo users that exist (none before `milestones demo` ran)."""
    from milestones.models import User

    users = {user.sub: user for user in await User.filter(sub__in=[s for _, s in DEMO_USERS])}
    tokens: list[dict[str, str]] = []
    for role, sub in DEMO_USERS:
        user = users.get(sub)
        if user is None:
            continue
        tokens.append(
            {
                "role": role,
                "sub": sub,
                "name": user.name or sub,
                "token": issue_token(
                    settings.jwt_secret,
                    sub,
                    name=user.name,
                    email=user.email,
                    expires_in=DEMO_TOKEN_SECONDS,
                ),
            }
        )
    return tokens


class RoomPageFiles(StaticFiles):
    """The static folder without GraphiQL's part of it (served at /graphiql in development)."""

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if Path(path).parts[:1] == (GRAPHIQL_DIR.name,):
            return "", None
        return super().lookup_path(path)


def room_page_routes(settings: Settings) -> list[BaseRoute]:
    async def demo_tokens_endpoint(request: Request) -> Response:
        tokens = await demo_tokens(settings)
        if not tokens:
            return JSONResponse(
                {"users": [], "hint": "Run `milestones demo` to create the demo users."},
                status_code=404,
            )
        return JSONResponse({"users": tokens}, headers={"cache-control": "no-store"})

    routes: list[BaseRoute] = []
    if not settings.is_production:
        routes.append(Route("/app/demo-tokens", demo_tokens_endpoint, methods=["GET"]))
        routes.append(Mount("/graphiql", app=StaticFiles(directory=GRAPHIQL_DIR), name="graphiql"))
    routes.append(Mount("/app", app=RoomPageFiles(directory=STATIC_DIR, html=True), name="app"))
    return routes
