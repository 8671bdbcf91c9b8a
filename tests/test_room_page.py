"""The contract-room page's routes: static modules at /app, demo tokens in development only,
our GraphiQL at /graphql, health and readiness."""

from __future__ import annotations

import httpx

from milestones.config import Settings
from tests.conftest import TEST_JWT_SECRET, ApiClient


async def test_the_root_leads_to_the_room_page_which_needs_no_build_step(api: ApiClient) -> None:
    root = await api.http.get("/")
    assert root.status_code in (302, 307)
    assert root.headers["location"] == "/app/"

    page = await api.http.get("/app/")
    assert page.status_code == 200
    assert '<script type="module" src="app.js">' in page.text
    for module in ("app.js", "graphql.js"):
        response = await api.http.get(f"/app/{module}")
        assert response.status_code == 200
        assert "javascript" in response.headers["content-type"]
    assert (await api.http.get("/app/styles.css")).status_code == 200


async def test_demo_tokens_sign_in_the_demo_users_once_they_exist(api: ApiClient) -> None:
    missing = await api.http.get("/app/demo-tokens")
    assert missing.status_code == 404
    assert "milestones demo" in missing.json()["hint"]

    await api.actor("demo-client", name="Cleo Client").user_id()
    await api.actor("demo-freelancer", name="Fred Freelancer").user_id()
    response = await api.http.get("/app/demo-tokens")
    assert response.status_code == 200
    users = response.json()["users"]
    assert [(u["role"], u["sub"], u["name"]) for u in users] == [
        ("client", "demo-client", "Cleo Client"),
        ("freelancer", "demo-freelancer", "Fred Freelancer"),
    ]
    me = await api.http.post(
        "/graphql",
        json={"query": "{ me { name } }"},
        headers={"Authorization": f"Bearer {users[1]['token']}"},
    )
    assert me.json() == {"data": {"me": {"name": "Fred Freelancer"}}}


async def test_production_offers_no_demo_tokens_and_no_graphiql() -> None:
    from milestones.app import create_app

    settings = Settings(
        database_url="sqlite://:memory:",
        jwt_secret=TEST_JWT_SECRET,
        milestones_env="production",
    )
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert (await http.get("/app/demo-tokens")).status_code == 404
        assert (await http.get("/app/")).status_code == 200
        graphiql = await http.get("/graphql", headers={"accept": "text/html"})
        assert "GraphiQL" not in graphiql.text


async def test_graphiql_sends_the_headers_token_over_websockets(api: ApiClient) -> None:
    response = await api.http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "Milestones · GraphiQL" in response.text
    assert '"connection_init"' in response.text
    assert "/app/demo-tokens" in response.text


async def test_health_and_readiness(api: ApiClient) -> None:
    assert (await api.http.get("/healthz")).json() == {"status": "ok"}
    ready = await api.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": "ok", "broker": "ok"}
