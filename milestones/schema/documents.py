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

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, parse
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
        # Trusted documents (PERSISTED_DOCUMENTS), parsed here once at start and kept for the
        # process: the deployment's own file bounds them, not a client.
        self._trusted: dict[str, DocumentNode] = {}
        self._trusted_validated: dict[str, list[GraphQLError]] = {}

    def trust(self, query: str) -> DocumentNode:
        """Parses a trusted document (at start) and keeps it: it is never parsed again."""
        document = self._trusted.get(query)
        if document is None:
            document = self.parse(query, cache=False)
            self._trusted[query] = document
        return document

    def is_trusted(self, query: str) -> bool:
        return query in self._trusted

    def parse(self, query: str, *, cache: bool) -> DocumentNode:
        """The document of `query`, or a GraphQLError (a limit's code, or the syntax error)."""
        trusted = self._trusted.get(query)
        if trusted is not None:
            return trusted
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

    def parsed(self, query: str, scope: object, *, authenticated: bool) -> DocumentNode:
        """The document of `query`: as the request's front parsed it (`scope`, see
        `PARSED_SCOPE_KEY`), else parsed now; raises the refusal or the syntax error."""
        earlier = parsed_in(scope, query)
        if isinstance(earlier, GraphQLError):
            raise earlier
        return earlier if earlier is not None else self.parse(query, cache=authenticated)

    def validate(
        self,
        schema: GraphQLSchema,
        query: str,
        document: DocumentNode,
        rules: tuple[type[ASTValidationRule], ...],
        *,
        authenticated: bool,
    ) -> list[GraphQLError]:
        """The document's validation errors under `rules` (the same rules for every request of
        a schema), kept for authenticated callers and for trusted documents."""
        cached = authenticated or self.is_trusted(query)
        errors = self.validation(query) if cached else None
        if errors is None:
            errors = validate_document(schema, document, rules)
            if cached:
                self.keep_validation(query, errors)
        return errors

    def validation(self, query: str) -> list[GraphQLError] | None:
        trusted = self._trusted_validated.get(query)
        return trusted if trusted is not None else self._validated.get(query)

    def keep_validation(self, query: str, errors: list[GraphQLError]) -> None:
        if query in self._trusted:
            # Validated with the request's rules (depth, introspection) the first time it runs.
            self._trusted_validated[query] = errors
            return
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
        assert context.graphql_document is not None
        if context.query is None:  # a document handed in parsed: nothing to key a cache by
            errors = validate_document(
                context.schema._schema, context.graphql_document, context.validation_rules
            )
        else:
            errors = self.documents.validate(
                context.schema._schema,
                context.query,
                context.graphql_document,
                context.validation_rules,
                authenticated=is_authenticated(context.context),
            )
        context.pre_execution_errors = errors
        yield
