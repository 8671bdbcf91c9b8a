"""Tracing: with OTEL_EXPORTER_OTLP_ENDPOINT set, a real server exports spans over OTLP/HTTP for
the HTTP request, the GraphQL operation and its SQL statements, in the caller's trace (its
`traceparent`), and no span attribute holds a variable, the token or an email address.
Without the setting, nothing of it is imported or installed."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from milestones.auth import issue_token
from tests.conftest import (
    TEST_JWT_SECRET,
    is_postgres_url,
    postgres_unavailable,
    require_service,
    test_database_url,
    test_postgres_url,
)
from tests.databases import migrated_sqlite_url
from tests.security.servers import fresh_postgres_database, serve, server_environment


class OtlpReceiver:
    """A tiny OTLP/HTTP collector: POST /v1/traces with protobuf, spans kept as dicts."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with receiver.lock:
                    for resource_spans in request.resource_spans:
                        for scope_spans in resource_spans.scope_spans:
                            for span in scope_spans.spans:
                                receiver.spans.append(
                                    {
                                        "trace_id": span.trace_id.hex(),
                                        "span_id": span.span_id.hex(),
                                        "parent_span_id": span.parent_span_id.hex(),
                                        "name": span.name,
                                        "kind": span.kind,
                                        "attributes": {
                                            kv.key: _value(kv.value) for kv in span.attributes
                                        },
                                    }
                                )
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @contextlib.contextmanager
    def running(self) -> Iterator[OtlpReceiver]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()

    def of_trace(self, trace_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [span for span in self.spans if span["trace_id"] == trace_id]


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    return getattr(value, kind) if kind else None


@contextlib.asynccontextmanager
async def _server(tmp_path: Path, **extra: str) -> Any:
    if is_postgres_url(test_database_url()):
        require_service(postgres_unavailable(test_postgres_url()))
        with fresh_postgres_database(test_postgres_url()) as database_url:
            async with serve(server_environment(database_url, **extra), tmp_path) as urls:
                yield urls[0]
    else:
        database_url = migrated_sqlite_url(tmp_path / "traced.sqlite3")
        async with serve(server_environment(database_url, **extra), tmp_path) as urls:
            yield urls[0]


async def _wait(receiver: OtlpReceiver, trace_id: str, ready: Any) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    while True:
        spans = receiver.of_trace(trace_id)
        if ready(spans):
            return spans
        if time.monotonic() > deadline:
            raise AssertionError(f"spans of the trace so far: {json.dumps(spans, indent=1)}")
        await asyncio.sleep(0.05)


async def test_spans_continue_the_callers_trace_and_hold_nothing_private(
    tmp_path: Path,
) -> None:
    secret_email = "someone.private@example.com"
    secret_title = "Tax plan for " + secret_email
    client = issue_token(TEST_JWT_SECRET, "traced-client", email="client.private@example.com")
    freelancer = issue_token(TEST_JWT_SECRET, "traced-freelancer", name="Fay")
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)

    with OtlpReceiver().running() as receiver:
        async with _server(
            tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url, OTEL_BSP_SCHEDULE_DELAY="50"
        ) as url:
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                me = await http.post(
                    "/graphql",
                    json={"query": "{ me { id } }"},
                    headers={"authorization": f"Bearer {freelancer}"},
                )
                freelancer_id = me.json()["data"]["me"]["id"]
                created = await http.post(
                    "/graphql",
                    json={
                        "query": "mutation Start($input: CreateContractInput!) {"
                        " createContract(input: $input) { contract { id } } }",
                        "variables": {
                            "input": {"title": secret_title, "freelancerId": freelancer_id}
                        },
                    },
                    headers={
                        "authorization": f"Bearer {client}",
                        "traceparent": f"00-{trace_id}-{parent_id}-01",
                    },
                )
                assert created.json()["data"]["createContract"]["contract"]["id"]
                # A GET carries its variables in the query string: not in the URL attributes.
                listed = await http.get(
                    "/graphql",
                    params={
                        "query": "query Mine($status: ContractStatus) { contracts(status: $status)"
                        " { edges { node { id } } } }",
                        "variables": json.dumps({"status": "OFFERED"}),
                        "operationName": "Mine",
                    },
                    headers={
                        "authorization": f"Bearer {client}",
                        "traceparent": f"00-{trace_id}-{parent_id}-01",
                    },
                )
                assert listed.status_code == 200

            def complete(spans: list[dict[str, Any]]) -> bool:
                names = {span["name"] for span in spans}
                return (
                    sum(1 for span in spans if span["parent_span_id"] == parent_id) >= 2
                    and "GraphQL Start" in names
                    and "GraphQL Mine" in names
                    and any("db.system" in span["attributes"] for span in spans)
                )

            spans = await _wait(receiver, trace_id, complete)
            everything = json.dumps(receiver.spans)

    by_id = {span["span_id"]: span for span in spans}
    http_spans = [span for span in spans if span["parent_span_id"] == parent_id]
    assert all(span["kind"] == 2 for span in http_spans)  # SERVER, continuing the caller
    operation = next(span for span in spans if span["name"] == "GraphQL Start")
    assert operation["attributes"]["graphql.operation.type"] == "mutation"
    sql = [span for span in spans if "db.system" in span["attributes"]]

    def ancestors(span: dict[str, Any]) -> list[str]:
        chain = []
        while span["parent_span_id"] in by_id:
            span = by_id[span["parent_span_id"]]
            chain.append(span["span_id"])
        return [*chain, span["parent_span_id"]]

    assert any(operation["span_id"] in ancestors(span) for span in sql), "no SQL under GraphQL"
    assert all(ancestors(span)[-1] == parent_id for span in spans)

    for private in (secret_email, "client.private@example.com", client, freelancer, "OFFERED"):
        assert private not in everything, f"{private!r} leaked into a span"
    assert "Tax plan" not in everything
    assert not any(
        key == "query" or key.startswith("graphql.param.")
        for span in receiver.spans
        for key in span["attributes"]
    )
    for span in http_spans:
        for key in ("http.url", "url.full", "http.target"):
            assert "?" not in str(span["attributes"].get(key, "")), span["attributes"]


def test_without_the_setting_no_tracing_is_imported(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from milestones.app import create_app\n"
        "from milestones.config import Settings\n"
        f"create_app(Settings(database_url='sqlite:///{tmp_path}/x.sqlite3'))\n"
        # redis-py imports the OpenTelemetry API by itself when it is installed: what counts is
        # that nothing of ours, no instrumentation and no exporter is loaded.
        "mine = ('milestones.observability.tracing', 'opentelemetry.instrumentation', "
        "'opentelemetry.exporter', 'strawberry.extensions.tracing')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(mine))\n"
        "print(loaded)\n"
        "sys.exit(1 if loaded else 0)\n"
    )
    env = server_environment("sqlite://:memory:")
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
