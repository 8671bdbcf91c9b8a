"""Trusted documents: the operations a deployment's own front end sends, known in advance.

`PERSISTED_DOCUMENTS` names a JSON file `{"<sha256 hex>": "<document>"}` (what
graphql-codegen's persisted documents and Relay write). A request names one by `documentId`
or by Apollo's `extensions.persistedQuery.sha256Hash`. With `TRUSTED_DOCUMENTS_ONLY=true`
nothing else runs, on every transport: a client can no longer send a document of its own
making (the cheapest defence against expensive or probing queries).

The file is read, every key checked against its document's sha256, and every document parsed
through the schema's document gate (`milestones.schema.documents`, with its limits) and
validated once, at start: a bad file stops the server with a message that names the entry,
rather than failing one request at a time in production. The gate keeps the parsed trusted
documents, so a request naming one never parses it again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from graphql import validate
from graphql.error import GraphQLError

if TYPE_CHECKING:
    from milestones.schema.root import MilestonesSchema

PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class TrustedDocumentsInvalid(Exception):
    """The file of trusted documents cannot be used: the server must not start."""


class DocumentRefused(Exception):
    """The request names an unknown document, or sends one that is not trusted."""

    def __init__(self, message: str, code: str = PERSISTED_QUERY_NOT_FOUND) -> None:
        super().__init__(message)
        self.code = code
        self.error = GraphQLError(message, extensions={"code": code})


def document_id(document: str) -> str:
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


class TrustedDocuments:
    """The documents of the file, by id; `only`: refuse every other document."""

    def __init__(self, documents: Mapping[str, str], *, only: bool) -> None:
        self.documents = dict(documents)
        self.only = only
        self._trusted_texts = frozenset(self.documents.values())

    @classmethod
    def load(cls, path: Path | None, schema: MilestonesSchema, *, only: bool) -> TrustedDocuments:
        if path is None:
            if only:
                raise TrustedDocumentsInvalid(
                    "TRUSTED_DOCUMENTS_ONLY=true needs PERSISTED_DOCUMENTS (a JSON file)"
                )
            return cls({}, only=False)
        where = f"PERSISTED_DOCUMENTS {str(path)!r}"
        try:
            raw = orjson.loads(path.read_bytes())
        except OSError as error:
            raise TrustedDocumentsInvalid(f"{where} cannot be read: {error.strerror}") from None
        except orjson.JSONDecodeError as error:
            raise TrustedDocumentsInvalid(f"{where} is not valid JSON: {error}") from None
        if not isinstance(raw, dict):
            raise TrustedDocumentsInvalid(
                f'{where} must be a JSON object {{"<sha256 hex>": "<document>"}}'
            )
        for key, document in raw.items():
            _check_entry(where, key, document, schema)
        return cls(raw, only=only)

    def resolve(self, query: str | None, named_id: object, extensions: object) -> str | None:
        """The document to run (None: the request names none; the caller says so)."""
        wanted = named_id if named_id is not None else _persisted_query_hash(extensions)
        if wanted is not None:
            if not isinstance(wanted, str):
                raise DocumentRefused("`documentId` must be a string.", code="BAD_REQUEST")
            document = self.documents.get(wanted.lower())
            if document is not None:
                if query is not None and query != document:
                    raise DocumentRefused(
                        "The query is not the document its id names.", code="BAD_REQUEST"
                    )
                return document
            if query is None or self.only:
                raise DocumentRefused(f"No trusted document has the id {wanted[:80]!r}.")
            return query
        if query is not None and self.only and query not in self._trusted_texts:
            raise DocumentRefused(
                "Only trusted documents run here: name one by `documentId` "
                "(or extensions.persistedQuery.sha256Hash)."
            )
        return query


def _persisted_query_hash(extensions: object) -> object:
    if not isinstance(extensions, dict):
        return None
    persisted: Any = extensions.get("persistedQuery")
    return persisted.get("sha256Hash") if isinstance(persisted, dict) else None


def _check_entry(where: str, key: object, document: object, schema: MilestonesSchema) -> None:
    if not isinstance(key, str) or not _SHA256_HEX.match(key):
        raise TrustedDocumentsInvalid(
            f"{where}: key {str(key)[:80]!r} is not a sha256 in lower-case hex"
        )
    if not isinstance(document, str):
        raise TrustedDocumentsInvalid(f"{where}: the document of {key} is not a string")
    if document_id(document) != key:
        raise TrustedDocumentsInvalid(
            f"{where}: key {key} is not the sha256 of its document "
            f"(which is {document_id(document)})"
        )
    try:
        parsed = schema.documents.trust(document)
    except GraphQLError as error:
        raise TrustedDocumentsInvalid(
            f"{where}: the document of {key} does not parse: {error.message}"
        ) from None
    errors: list[GraphQLError] = validate(schema._schema, parsed)
    if errors:
        raise TrustedDocumentsInvalid(
            f"{where}: the document of {key} does not validate: {errors[0].message}"
        )
