"""GraphQL over HTTP: the `graphql-http` audit passes in full, and garbage never gets a 5xx.

The audit (every MUST, SHOULD and MAY check of the `graphql-http` npm package) runs with
Node.js against a real `milestones serve` process. Its pinned packages live in
tests/conformance/js (package.json + package-lock.json); `npm ci` installs them on first use.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_service
from tests.databases import migrated_sqlite_url
from tests.security.servers import serve, server_environment

AUDIT_DIR = Path(__file__).resolve().parents[1] / "conformance" / "js"
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
# The audits graphql-http 1.23.1 has; fewer would mean the audit did not really run.
AUDIT_COUNT = 61


async def _run(*command: str, cwd: Path, seconds: float) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
    )
    output, _ = await asyncio.wait_for(process.communicate(), seconds)
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


async def _audit_tools() -> str:
    """The `node` executable, with the audit's packages installed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    require_service(None if node and npm else "Node.js and npm are needed for the HTTP audit")
    assert node is not None and npm is not None
    if not (AUDIT_DIR / "node_modules" / "graphql-http").is_dir():
        code, output = await _run(
            npm, "ci", "--no-audit", "--no-fund", "--loglevel=error", cwd=AUDIT_DIR, seconds=180
        )
        assert code == 0, f"npm ci failed:\n{output}"
    return node


async def test_graphql_http_audit_passes_every_check(tmp_path: Path) -> None:
    node = await _audit_tools()
    env = server_environment(migrated_sqlite_url(tmp_path / "audit.sqlite3"))
    async with serve(env, tmp_path / "logs") as (url,):
        code, output = await _run(node, "audit.mjs", f"{url}/graphql", cwd=AUDIT_DIR, seconds=60)
    assert code == 0, output
    results = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    failed = [f"{r['id']} {r['name']}: {r['reason']}" for r in results if r["status"] != "ok"]
    assert failed == [], "graphql-http audits failed:\n" + "\n".join(failed)
    assert len(results) == AUDIT_COUNT, output


# --- garbage in, 4xx out ------------------------------------------------------------------

JSON_TYPE = {"content-type": "application/json"}

GARBAGE: list[tuple[str, dict[str, str], bytes, int]] = [
    ("invalid JSON", JSON_TYPE, b'{"query": "{ me { id } ', 400),
    ("bad UTF-8", JSON_TYPE, b'{"query": "{ me { id } }\xff\xfe"}', 400),
    ("lone surrogate", JSON_TYPE, b'{"query": "\\ud800"}', 400),
    ("empty body", JSON_TYPE, b"", 400),
    ("whitespace body", JSON_TYPE, b"  \n ", 400),
    ("JSON null", JSON_TYPE, b"null", 400),
    ("JSON string", JSON_TYPE, b'"{ me { id } }"', 400),
    ("JSON number", JSON_TYPE, b"42", 400),
    ("batch", JSON_TYPE, b'[{"query": "{ __typename }"}]', 400),
    ("query is a number", JSON_TYPE, b'{"query": 1}', 400),
    ("query is an object", JSON_TYPE, b'{"query": {"a": 1}}', 400),
    ("no query", JSON_TYPE, b'{"qeury": "{ __typename }"}', 400),
    ("variables is a string", JSON_TYPE, b'{"query": "{ __typename }", "variables": "x"}', 400),
    ("variables is a list", JSON_TYPE, b'{"query": "{ __typename }", "variables": [1]}', 400),
    (
        "operationName is a number",
        JSON_TYPE,
        b'{"query": "{ __typename }", "operationName": 5}',
        400,
    ),
    ("extensions is a list", JSON_TYPE, b'{"query": "{ __typename }", "extensions": []}', 400),
    (
        "huge integer",
        JSON_TYPE,
        b'{"query": "{ __typename }", "variables": {"a": 1' + b"0" * 400 + b"}}",
        400,
    ),
    (
        "deep nesting",
        JSON_TYPE,
        b'{"query": "{ __typename }", "variables": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}",
        400,
    ),
    ("no content type", {}, b'{"query": "{ __typename }"}', 415),
    ("text/plain", {"content-type": "text/plain"}, b'{"query": "{ __typename }"}', 415),
    (
        "form encoded",
        {"content-type": "application/x-www-form-urlencoded"},
        b"query=%7B__typename%7D",
        415,
    ),
    # Multipart is for file uploads (submitMilestone): the token comes before the body.
    ("multipart", {"content-type": "multipart/form-data; boundary=x"}, b"--x--", 401),
    (
        "latin-1 charset",
        {"content-type": "application/json; charset=latin-1"},
        b'{"query": "{ __typename }"}',
        415,
    ),
    (
        "unacceptable Accept",
        {**JSON_TYPE, "accept": "text/html"},
        b'{"query": "{ __typename }"}',
        406,
    ),
]


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [pytest.param(headers, body, status, id=name) for name, headers, body, status in GARBAGE],
)
async def test_garbage_bodies_get_a_4xx_with_a_graphql_error(
    api: Any, headers: dict[str, str], body: bytes, status: int
) -> None:
    response = await api.http.post("/graphql", content=body, headers=headers)
    assert response.status_code == status, response.text
    errors = response.json()["errors"]
    assert len(errors) == 1 and errors[0]["message"], errors
    assert "data" not in response.json()


async def test_a_mutation_over_get_is_405_and_runs_nothing(api: Any, client: Any) -> None:
    response = await api.http.get(
        "/graphql",
        params={
            "query": 'mutation { createContract(input: {title: "x", freelancerId: "y"}) '
            "{ contract { id } } }"
        },
        headers={"authorization": f"Bearer {client.token}"},
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    contracts = await client.gql("{ contracts { edges { node { id } } } }")
    assert contracts["contracts"]["edges"] == []


async def test_a_query_over_get_runs(api: Any, client: Any) -> None:
    response = await api.http.get(
        "/graphql",
        params={"query": "query Me { me { id } }", "operationName": "Me"},
        headers={"authorization": f"Bearer {client.token}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["me"]["id"] == await client.user_id()


async def test_request_errors_are_400_without_data_for_graphql_response_json(api: Any) -> None:
    for query in ("{", "{ nope }", "query ($id: ID!) { node(id: $id) { id } }"):
        response = await api.http.post(
            "/graphql",
            json={"query": query, "variables": {"id": None}},
            headers={"accept": GRAPHQL_RESPONSE_JSON},
        )
        assert response.status_code == 400, (query, response.text)
        assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE_JSON)
        assert "data" not in response.json() and response.json()["errors"]
        legacy = await api.http.post("/graphql", json={"query": query, "variables": {"id": None}})
        assert legacy.status_code == 200, (query, legacy.text)
        assert legacy.headers["content-type"].startswith("application/json")


async def test_field_errors_keep_data_and_a_2xx(api: Any) -> None:
    response = await api.http.post(
        "/graphql", json={"query": "{ me { id } }"}, headers={"accept": GRAPHQL_RESPONSE_JSON}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_every_response_names_its_request(api: Any) -> None:
    first = await api.http.post("/graphql", json={"query": "{ __typename }"})
    second = await api.http.post("/graphql", json={"query": "{ __typename }"})
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert first.headers["cache-control"] == "no-store"
