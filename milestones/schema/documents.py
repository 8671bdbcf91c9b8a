"""The one gate every GraphQL document passes before anything is parsed or cached for it, on
every transport (HTTP, the room cache, WebSocket queries, mutations and subscriptions).

`Documents.parse` hands the text to graphql-core's parser with the token limit (comments
included) and the length limit set, so the lexer stops at the first token past the limit: a
49,000-token document costs what a 2,001-token one does, and is refused with
`extensions.code` `TOO_MANY_TOKENS`. Parsed documents (and their validation) are kept only
for authenticated callers, in a cache bounded by bytes; an anonymous document is parsed,
answered and forgotten.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from graphql import DocumentNode, GraphQLError, parse
from graphql.error import GraphQLSyntaxError
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from milestones.caches import ByteBoundedLRU
from milestones.schema.limits import QueryLimits, parser_limit_error

# What a parsed document costs in memory, per character of its text (with locations, which
# error messages need), plus a floor: measured with tracemalloc, rounded up.
PARSED_BYTES_PER_CHAR = 200
PARSED_BYTES_FLOOR = 4096
# What a validation error costs (message, locations, the list slot).
VALIDATION_ERROR_BYTES = 1024


class Documents:
    """Parsing and validation for one schema: limited, and cached by bytes."""

    def __init__(self, limits: QueryLimits, cache_bytes: int) -> None:
        self.limits = limits
        self._parsed: ByteBoundedLRU[str, DocumentNode] = ByteBoundedLRU(cache_bytes)
        # Validation is a tenth of the budget: its errors are small next to a document.
        self._validated: ByteBoundedLRU[str, list[GraphQLError]] = ByteBoundedLRU(cache_bytes // 10)

    def parse(self, query: str, *, cache: bool) -> DocumentNode:
        """The document of `query`, or a GraphQLError (a limit's code, or the syntax error)."""
        if cache:
            document = self._parsed.get(query)
            if document is not None:
                return document
        try:
            document = parse(
                query,
                max_tokens=self.limits.max_tokens,
                max_source_length=self.limits.max_length,
            )
        except GraphQLSyntaxError as error:
            refused = parser_limit_error(error)
            if refused is not None:
                raise refused from None
            raise
        if cache:
            self._parsed.put(query, document, cost_of(query))
        return document

    def validation(self, query: str) -> list[GraphQLError] | None:
        return self._validated.get(query)

    def keep_validation(self, query: str, errors: list[GraphQLError]) -> None:
        size = len(query) + VALIDATION_ERROR_BYTES * len(errors)
        self._validated.put(query, errors, size)

    @property
    def cached_bytes(self) -> int:
        return self._parsed.size + self._validated.size


# Where the HTTP front leaves what it parsed for a request (ASGI scope key), so that the room
# cache, the endpoint and the schema parse one request's document once.
PARSED_SCOPE_KEY = "milestones.parsed"
Parsed = tuple[str, DocumentNode | GraphQLError]


def parsed_in(scope: dict[str, object] | object, query: str) -> DocumentNode | GraphQLError | None:
    """What was parsed earlier in this request for `query` (a document or the refusal)."""
    entry = scope.get(PARSED_SCOPE_KEY) if isinstance(scope, dict) else None
    if isinstance(entry, tuple) and entry[0] == query:
        found: DocumentNode | GraphQLError = entry[1]
        return found
    return None


def cost_of(query: str) -> int:
    return PARSED_BYTES_FLOOR + PARSED_BYTES_PER_CHAR * len(query)


def is_authenticated(context: object) -> bool:
    return getattr(context, "viewer", None) is not None


class DocumentGate(SchemaExtension):
    """Parses (and validates) through `Documents`: the schema's only parser."""

    def __init__(self, documents: Documents) -> None:
        self.documents = documents

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        # Should strawberry parse (below), it stops at the same limits.
        context.parse_options["max_tokens"] = self.documents.limits.max_tokens
        request = getattr(context.context, "request", None)
        earlier = (
            parsed_in(getattr(request, "scope", None), context.query) if context.query else None
        )
        if isinstance(earlier, DocumentNode):
            context.graphql_document = earlier
        if context.graphql_document is None and context.query:
            # A refusal is left to strawberry's own parse, whose error it answers as every
            # pre-execution error (ErrorPolicy gives it the limit's code).
            with contextlib.suppress(GraphQLError):
                context.graphql_document = self.documents.parse(
                    context.query, cache=is_authenticated(context.context)
                )
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        cached = is_authenticated(context.context) and context.query is not None
        errors = self.documents.validation(context.query) if cached and context.query else None
        if errors is None:
            assert context.graphql_document is not None
            errors = validate_document(
                context.schema._schema, context.graphql_document, context.validation_rules
            )
            if cached and context.query:
                self.documents.keep_validation(context.query, errors)
        context.pre_execution_errors = errors
        yield
