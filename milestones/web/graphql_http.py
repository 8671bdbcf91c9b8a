"""GraphQL over HTTP: what a request may look like, and which status and media type answer it.

Follows the GraphQL-over-HTTP specification (checked in CI by the `graphql-http` audit):

- POST with `Content-Type: application/json` (UTF-8) runs queries and mutations; GET with
  `?query=` runs queries only (a mutation over GET is 405). Batches are not accepted.
- The response media type comes from `Accept`: `application/graphql-response+json` or
  `application/json` (also for `*/*` and for no Accept at all); anything else is 406.
- A request that cannot run (not JSON, not UTF-8, bad parameters, a document that does not
  parse or validate, variables that do not coerce) is a *request error*: its body has `errors`
  and no `data`. With `application/graphql-response+json` it is a 400; with `application/json`
  a body-level failure is a 400 and a document-level one a 200, as the spec says.
- A body larger than the configured limit is 413, before it is read whole.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import GraphQLError
from starlette.requests import Request
from strawberry.types import ExecutionResult

from milestones.schema.errors import INTERNAL_SERVER_ERROR
from milestones.schema.limits import BODY_TOO_LARGE
from milestones.web.trusted_documents import DocumentRefused, TrustedDocuments

JSON = "application/json"
EVENT_STREAM = "text/event-stream"
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
BAD_REQUEST = "BAD_REQUEST"


class RequestRefused(Exception):
    """The request is refused before any GraphQL runs: an HTTP status and one error."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        code: str = BAD_REQUEST,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.code = code


@dataclass(frozen=True, slots=True)
class GraphQLParams:
    # None when the request names a trusted document instead (`document_id` or
    # extensions.persistedQuery): `milestones.trusted_documents` resolves it.
    query: str | None
    operation_name: str | None
    variables: dict[str, Any] | None
    extensions: dict[str, Any] | None
    document_id: str | None = None


def negotiate(accept: str | None) -> str | None:
    """The media type to answer with, or None when the client accepts neither of ours."""
    if accept is None or not accept.strip():
        return JSON  # the spec's default for clients that do not say
    best: str | None = None
    best_quality = 0.0
    for media_range in accept.split(","):
        media, *parameters = (part.strip().lower() for part in media_range.split(";"))
        quality = _quality(parameters)
        if media == GRAPHQL_RESPONSE_JSON:
            candidate = GRAPHQL_RESPONSE_JSON
        elif media in (JSON, "application/*", "*/*"):
            candidate = JSON
        else:
            continue
        # Equal preference: the more precise graphql-response+json wins.
        if quality > best_quality or (
            quality == best_quality and quality > 0 and candidate == GRAPHQL_RESPONSE_JSON
        ):
            best, best_quality = candidate, quality
    return best


def wants_event_stream(scope: MutableMapping[str, Any]) -> bool:
    """GraphQL over SSE (`milestones.web.sse`): the client accepts `text/event-stream`."""
    for name, value in scope["headers"]:
        if name == b"accept":
            return any(
                part.split(b";", 1)[0].strip().lower() == EVENT_STREAM.encode()
                for part in value.split(b",")
            )
    return False


def _quality(parameters: list[str]) -> float:
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def wants_graphiql(request: Request) -> bool:
    """A browser opening /graphql: GET, no query, HTML accepted."""
    return (
        request.method == "GET"
        and "query" not in request.query_params
        and "text/html" in request.headers.get("accept", "")
    )


async def read_params(request: Request, max_body_bytes: int) -> GraphQLParams:
    if request.method == "GET":
        return params_of(_get_parameters(request))
    _check_content_type(request.headers.get("content-type"))
    body = await read_body(request, max_body_bytes)
    if not body.strip():
        raise RequestRefused(400, "The request body is empty: send a JSON object with `query`.")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestRefused(400, "The request body is not valid UTF-8.") from None
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RequestRefused(400, "The request body is not valid JSON.") from None
    if isinstance(payload, list):
        raise RequestRefused(400, "Batches are not accepted: send one operation per request.")
    if not isinstance(payload, dict):
        raise RequestRefused(400, "The request body must be a JSON object with `query`.")
    return params_of(payload)


def _check_content_type(content_type: str | None) -> None:
    if not content_type:
        raise RequestRefused(415, "Missing Content-Type: send application/json.")
    media, *parameters = (part.strip().lower() for part in content_type.split(";"))
    if media != JSON:
        raise RequestRefused(415, f"Unsupported Content-Type {media!r}: send application/json.")
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in ("utf-8", "utf8"):
            raise RequestRefused(415, "Only UTF-8 request bodies are accepted.")


async def read_body(request: Request, max_body_bytes: int) -> bytes:
    """The whole body, refusing (413) as soon as it is known to be too large."""
    too_large = RequestRefused(
        413, f"The request body is larger than {max_body_bytes} bytes.", code=BODY_TOO_LARGE
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _get_parameters(request: Request) -> dict[str, Any]:
    parameters: dict[str, Any] = dict(request.query_params)
    for name in ("variables", "extensions"):
        if parameters.get(name):
            try:
                parameters[name] = orjson.loads(parameters[name])
            except orjson.JSONDecodeError:
                raise RequestRefused(400, f"`{name}` is not valid JSON.") from None
        elif name in parameters:
            parameters[name] = None
    return parameters


def params_of(payload: dict[str, Any]) -> GraphQLParams:
    query = payload.get("query")
    document_id = payload.get("documentId")
    if document_id is not None and not isinstance(document_id, str):
        raise RequestRefused(400, "`documentId` must be a string.")
    extensions = payload.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise RequestRefused(400, "`extensions` must be an object or null.")
    names_document = document_id is not None or "persistedQuery" in (extensions or {})
    if query is None or query == "":
        if not names_document:
            raise RequestRefused(400, "Missing `query`: send the GraphQL document as a string.")
        query = None
    elif not isinstance(query, str):
        raise RequestRefused(400, "`query` must be a string.")
    operation_name = payload.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestRefused(400, "`operationName` must be a string or null.")
    variables = payload.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise RequestRefused(400, "`variables` must be an object or null.")
    return GraphQLParams(query, operation_name or None, variables, extensions, document_id)


def is_request_error(result: ExecutionResult) -> bool:
    """Nothing ran: the document did not parse or validate, or the variables did not coerce.

    Errors raised while executing fields carry a path; these do not."""
    return (
        result.data is None
        and bool(result.errors)
        and all(error.path is None for error in result.errors or ())
    )


def status_of(result: ExecutionResult, media_type: str) -> int:
    if not is_request_error(result):
        return 200
    if any(_code(error) == INTERNAL_SERVER_ERROR for error in result.errors or ()):
        return 500  # our failure before execution, never the client's
    return 400 if media_type == GRAPHQL_RESPONSE_JSON else 200


def body_of(result: ExecutionResult) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if result.errors:
        body["errors"] = [error.formatted for error in result.errors]
    if not is_request_error(result):
        body["data"] = result.data
    if result.extensions:
        body["extensions"] = result.extensions
    return body


def refusal_body(message: str, code: str = BAD_REQUEST) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def request_error(error: GraphQLError) -> ExecutionResult:
    return ExecutionResult(data=None, errors=[error])


def _code(error: GraphQLError) -> object:
    return (error.extensions or {}).get("code")


def trusted_query(params: GraphQLParams, trusted: TrustedDocuments) -> str:
    """The document to run: the request's own, or the trusted one it names."""
    try:
        query = trusted.resolve(params.query, params.document_id, params.extensions)
    except DocumentRefused as refused:
        raise RequestRefused(400, str(refused), code=refused.code) from None
    if query is None:
        raise RequestRefused(400, "Missing `query`: send the GraphQL document as a string.")
    return query
