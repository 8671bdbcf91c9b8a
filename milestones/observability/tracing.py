"""OpenTelemetry tracing, installed only when OTEL_EXPORTER_OTLP_ENDPOINT is set.

Spans: one per HTTP request (the ASGI instrumentation, continuing the caller's `traceparent`),
one per GraphQL operation with one per resolver (strawberry's extension), one per SQL statement
(the asyncpg instrumentation on PostgreSQL; on SQLite a small wrapper on aiosqlite, whose
worker thread would otherwise lose the request's context). Exported over OTLP/HTTP in batches.

Without the setting nothing here is imported: the `opentelemetry` packages (the `otel` extra)
are not even loaded, and requests run exactly the code they run without tracing.

Span attributes never hold GraphQL documents or variables, resolver arguments, query strings,
request headers, tokens or email addresses: strawberry's extension is subclassed to record
neither the document nor arguments, and every span passes through `redacted` before export as
a backstop for whatever an instrumentation adds.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Generator, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.extensions import LifecycleStep
from strawberry.extensions.tracing import OpenTelemetryExtension

TRACER_NAME = "milestones"
# Probes and scrapes are not worth a trace each.
EXCLUDED_URLS = "healthz,readyz,metrics"

_EMAIL = re.compile(r"[^\s@\"'<>(),;:]+@[^\s@\"'<>(),;:]+\.[A-Za-z]{2,}")
_BEARER = re.compile(r"(?i)bearer\s+\S+")
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")
# Attributes dropped whatever their value: documents, variables, arguments, query strings.
_DROPPED_PREFIXES = ("graphql.param.", "graphql.variables", "http.request.header.")
_DROPPED_KEYS = frozenset({"query", "graphql.query", "graphql.document", "url.query"})
_URL_KEYS = frozenset({"http.url", "url.full", "http.target"})

_installed = False


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return _JWT.sub("[redacted]", _BEARER.sub("[redacted]", _EMAIL.sub("[email]", value)))
    if isinstance(value, (tuple, list)):
        return tuple(_scrubbed(item) for item in value)
    return value


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="", fragment=""))


def redacted_attributes(attributes: Any) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in (attributes or {}).items():
        if key in _DROPPED_KEYS or key.startswith(_DROPPED_PREFIXES):
            continue
        if key in _URL_KEYS and isinstance(value, str):
            value = _without_query(value)
        clean[key] = _scrubbed(value)
    return clean


def redacted(span: ReadableSpan) -> ReadableSpan:
    """A copy of the span whose attributes (and its events') hold nothing private."""
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=redacted_attributes(span.attributes),
        events=[
            type(event)(event.name, redacted_attributes(event.attributes), event.timestamp)
            for event in span.events
        ],
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class RedactingExporter(SpanExporter):
    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([redacted(span) for span in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class GraphQLTracing(OpenTelemetryExtension):
    """Strawberry's extension without the document on the operation span nor arguments on
    resolver spans (they carry variables: emails, messages, amounts)."""

    def on_operation(self) -> Generator[None, None, None]:
        name = self.execution_context.operation_name
        span = self._tracer.start_span(
            f"GraphQL {name}" if name else "GraphQL operation", kind=SpanKind.SERVER
        )
        span.set_attribute("component", "graphql")
        self._span_holder[LifecycleStep.OPERATION] = span
        yield
        operation = self.execution_context.operation_type
        span.set_attribute("graphql.operation.type", operation.value if operation else "")
        if self.execution_context.operation_name:
            span.set_attribute("graphql.operation.name", self.execution_context.operation_name)
            span.update_name(f"GraphQL {self.execution_context.operation_name}")
        span.end()

    def add_tags(self, span: Any, info: Any, kwargs: Any) -> None:
        super().add_tags(span, info, None)


def graphql_extension() -> type[GraphQLTracing]:
    return GraphQLTracing


class _HttpOnly:
    """The ASGI instrumentation for HTTP requests; WebSockets pass by (their subscriptions
    get operation spans of their own, not one span as long as the socket)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.traced = OpenTelemetryMiddleware(
            app, excluded_urls=EXCLUDED_URLS, exclude_spans=["receive", "send"]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.traced(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _traced_sqlite(tracer: trace.Tracer, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def traced(self: Any, sql: str, *args: Any, **kwargs: Any) -> Any:
        operation = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "SQL"
        with tracer.start_as_current_span(
            operation,
            kind=SpanKind.CLIENT,
            attributes={"db.system": "sqlite", "db.statement": sql},
        ):
            return await method(self, sql, *args, **kwargs)

    return traced


def _instrument_sqlite(tracer: trace.Tracer) -> None:
    import aiosqlite

    for name in ("execute", "execute_fetchall", "execute_insert", "executemany", "executescript"):
        method = getattr(aiosqlite.Connection, name, None)
        if method is not None:
            setattr(aiosqlite.Connection, name, _traced_sqlite(tracer, method))


def install(endpoint: str) -> list[Middleware]:
    """Set the process's tracer provider up (once) and return the HTTP middleware."""
    global _installed
    if not _installed:
        _installed = True
        provider = TracerProvider(
            resource=Resource.create(
                {SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or "milestones"}
            )
        )
        traces_endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or (
            endpoint.rstrip("/") + "/v1/traces"
        )
        provider.add_span_processor(
            BatchSpanProcessor(RedactingExporter(OTLPSpanExporter(endpoint=traces_endpoint)))
        )
        trace.set_tracer_provider(provider)
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

        AsyncPGInstrumentor(capture_parameters=False).instrument(  # type: ignore[no-untyped-call]
            tracer_provider=provider
        )
        _instrument_sqlite(trace.get_tracer(TRACER_NAME, tracer_provider=provider))
    return [Middleware(_HttpOnly)]


def shutdown() -> None:
    """Flush the spans still queued (at the end of the lifespan)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush(5000)
