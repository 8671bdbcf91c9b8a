"""GraphiQL works offline: the page and every script and style it loads are served by the app
(development only), each pinned by a Subresource Integrity hash that matches the file."""

from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser

import httpx

from milestones.app import create_app
from milestones.config import Settings
from tests.conftest import TEST_JWT_SECRET, ApiClient


class AssetReferences(HTMLParser):
    """Every `<script src>` and `<link href>` of a page, with its `integrity`."""

    def __init__(self) -> None:
        super().__init__()
        self.assets: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src"):
            self.assets.append((attributes["src"] or "", attributes.get("integrity")))
        if tag == "link" and attributes.get("rel") in {"stylesheet", "preload", "modulepreload"}:
            self.assets.append((attributes.get("href") or "", attributes.get("integrity")))


def sri_sha384(body: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()


async def graphiql_assets(http: httpx.AsyncClient) -> list[tuple[str, str | None]]:
    page = await http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    references = AssetReferences()
    references.feed(page.text)
    return references.assets


async def test_graphiql_loads_only_local_assets_each_with_a_matching_integrity_hash(
    api: ApiClient,
) -> None:
    assets = await graphiql_assets(api.http)
    assert len(assets) >= 6  # react, react-dom, graphiql (js, css), the explorer (js, css)
    for url, integrity in assets:
        assert url.startswith("/graphiql/"), f"{url} is not served by the app"
        assert integrity is not None, f"{url} has no integrity hash"
        response = await api.http.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].split(";")[0] in {
            "text/javascript",
            "application/javascript",
            "text/css",
        }, url
        assert sri_sha384(response.content) == integrity, f"{url} does not match its hash"


async def test_graphiql_assets_are_not_served_twice_under_app(api: ApiClient) -> None:
    for url, _ in await graphiql_assets(api.http):
        assert (await api.http.get("/app" + url)).status_code == 404, url
    assert (await api.http.get("/app/graphiql/index.html")).status_code == 404
    assert (await api.http.get("/app/app.js")).status_code == 200


async def test_production_serves_no_graphiql_assets() -> None:
    settings = Settings(
        database_url="sqlite://:memory:",
        jwt_secret=TEST_JWT_SECRET * 2,
        milestones_env="production",
    )
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        for path in (
            "/graphiql/graphiql.min.js",
            "/graphiql/index.html",
            "/app/graphiql/graphiql.min.js",
            "/app/graphiql/index.html",
        ):
            assert (await http.get(path)).status_code == 404, path
        assert (await http.get("/app/app.js")).status_code == 200
