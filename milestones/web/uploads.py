"""File uploads: the GraphQL multipart request spec, for `submitMilestone` only.

A `multipart/form-data` POST on /graphql carries `operations` (the usual JSON request), then
`map` (which file goes to which variable), then the files. It is read as a stream, in that
order, and refused as early as it can be:

- before a byte of the body is read: the bearer token (401) and the CSRF preflight header
  (400, `PREFLIGHT_HEADERS`: a browser cannot send one cross-site without a CORS preflight,
  which this server never grants; strawberry and Apollo ask the same of multipart requests);
- `operations` and `map` count against MAX_BODY_BYTES (413, BODY_TOO_LARGE);
- once both are read, and before any file is: the document goes through the same trusted
  documents check and document gate as any request (`admit`), and must be a mutation whose
  only root field is `submitMilestone` (else 400);
- each file is hashed (sha256) while it is written to a temporary file that stays in memory
  only up to `SPOOL_MEMORY_BYTES`; one byte past MAX_UPLOAD_BYTES and the request is refused
  (413, FILE_TOO_LARGE) without reading the rest;
- a map of more than MAX_ATTACHMENTS files is not read at all: the mutation answers
  VALIDATION on `attachments` from the map alone.

The files reach the resolver in the variables as `AttachmentFile`s (the `Upload` scalar takes
them as they are); the temporary files are closed when the request ends.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Final

import orjson
from graphql import DocumentNode, OperationDefinitionNode, OperationType
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from milestones.domain.commands import AttachmentFile
from milestones.domain.values import MAX_ATTACHMENTS
from milestones.schema.limits import BODY_TOO_LARGE, FILE_TOO_LARGE
from milestones.schema.rate_limiting import root_fields
from milestones.web.graphql_http import GraphQLParams, RequestRefused, params_of

MULTIPART: Final = "multipart/form-data"
UPLOAD_OPERATION: Final = "submitMilestone"
# Any one of them, with any non-empty value, shows the request did not come from a plain
# HTML form or a "simple" cross-site fetch.
PREFLIGHT_HEADERS: Final = (
    "graphql-preflight",
    "apollo-require-preflight",
    "x-apollo-operation-name",
)
# A file's bytes stay in memory up to this, then go to a temporary file on disk.
SPOOL_MEMORY_BYTES: Final = 1024 * 1024
DEFAULT_CONTENT_TYPE: Final = "application/octet-stream"
MAX_NAME_LENGTH: Final = 255

_MEDIA_TYPE: Final = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def is_multipart(content_type: str | bytes | None) -> bool:
    if not content_type:
        return False
    if isinstance(content_type, bytes):
        content_type = content_type.decode("latin-1")
    return content_type.split(";", 1)[0].strip().lower() == MULTIPART


def check_preflight(headers: Mapping[str, str]) -> None:
    if not any(headers.get(name, "").strip() for name in PREFLIGHT_HEADERS):
        raise RequestRefused(
            400,
            "A multipart request needs a `GraphQL-Preflight: 1` header (or "
            "`Apollo-Require-Preflight`): it keeps other sites' forms from posting here.",
        )


def only_uploading_operation(document: DocumentNode, operation_name: str | None) -> None:
    """400 unless the operation is a mutation selecting `submitMilestone` and nothing else."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [op for op in operations if op.name and op.name.value == operation_name]
    fields = root_fields(document, operation_name) if len(operations) == 1 else []
    if (
        len(operations) != 1
        or operations[0].operation is not OperationType.MUTATION
        or [name for name in fields if name != "__typename"] != [UPLOAD_OPERATION]
    ):
        raise RequestRefused(
            400,
            f"Multipart requests (file uploads) are accepted only for the {UPLOAD_OPERATION} "
            "mutation, alone in its operation; send every other operation as "
            "application/json.",
        )


def safe_filename(raw: str | None) -> str:
    """The last path segment, without control characters, at most 255 characters."""
    name = re.split(r"[/\\]", raw or "")[-1]
    name = _CONTROL.sub("", name).strip()
    return name[:MAX_NAME_LENGTH] or "attachment"


def safe_content_type(raw: str | None) -> str:
    """The media type without parameters, lowercase; application/octet-stream when absent or
    not a plain `type/subtype`."""
    media = (raw or "").split(";", 1)[0].strip().lower()
    if len(media) <= MAX_NAME_LENGTH and _MEDIA_TYPE.fullmatch(media):
        return media
    return DEFAULT_CONTENT_TYPE


@dataclass(frozen=True, slots=True)
class UploadLimits:
    max_body_bytes: int  # operations + map
    max_upload_bytes: int  # each file
    max_files: int = MAX_ATTACHMENTS


@dataclass(slots=True)
class Received:
    """A multipart request read whole: its params, with the files in the variables."""

    params: GraphQLParams
    query: str
    files: list[AttachmentFile] = field(default_factory=list)

    def close(self) -> None:
        for file in self.files:
            if file.content is not None:
                file.content.close()


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


@dataclass(slots=True)
class _Part:
    name: str = ""
    filename: str | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    header_name: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    text: bytearray = field(default_factory=bytearray)
    spool: IO[bytes] | None = None
    sha256: Any = None
    size: int = 0
    ignored: bool = False  # a file past the allowed count: not read at all


class _Reader:
    """python-multipart's push parser, driven chunk by chunk; the callbacks raise
    `RequestRefused` to stop reading."""

    def __init__(
        self, boundary: bytes, limits: UploadLimits, admit: Callable[[GraphQLParams], str]
    ) -> None:
        self.limits = limits
        self.admit = admit
        self.part = _Part()
        self.fields: dict[str, bytes] = {}
        self.field_bytes = 0
        self.params: GraphQLParams | None = None
        self.query: str | None = None
        self.map: dict[str, list[str]] = {}
        self.files: dict[str, AttachmentFile] = {}
        self.skip_files = False  # more files than allowed: the map alone answers
        self.ended = False
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },
        )

    @property
    def wants_more(self) -> bool:
        return not self.ended and not self.skip_files

    def write(self, chunk: bytes) -> None:
        try:
            self.parser.write(chunk)
        except MultipartParseError:
            raise RequestRefused(400, "The multipart body is malformed.") from None

    def _part_begin(self) -> None:
        self.part = _Part()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self.part.header_name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self.part.header_value += data[start:end]

    def _header_end(self) -> None:
        part = self.part
        part.headers[part.header_name.decode("latin-1").strip().lower()] = part.header_value.decode(
            "latin-1"
        ).strip()
        part.header_name, part.header_value = bytearray(), bytearray()

    def _headers_finished(self) -> None:
        part = self.part
        disposition, options = parse_options_header(part.headers.get("content-disposition"))
        if disposition != b"form-data" or b"name" not in options:
            raise RequestRefused(400, "Every part needs `Content-Disposition: form-data; name=`.")
        part.name = _utf8(options[b"name"])
        expected = ("operations", "map")[len(self.fields)] if len(self.fields) < 2 else None
        if expected is not None:
            if part.name != expected:
                raise RequestRefused(
                    400, "The parts must come in order: `operations`, `map`, then the files."
                )
            return
        if part.name not in self.map:
            raise RequestRefused(400, f"The part {part.name!r} is not in `map`.")
        if part.name in self.files:
            raise RequestRefused(400, f"The part {part.name!r} is sent twice.")
        if self.skip_files:
            part.ignored = True
            return
        filename = options.get(b"filename")
        part.filename = safe_filename(_utf8(filename) if filename is not None else None)
        part.content_type = safe_content_type(part.headers.get("content-type"))
        part.spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)
        part.sha256 = hashlib.sha256()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.part
        size = end - start
        if part.ignored:
            return
        if part.spool is None:
            self.field_bytes += size
            if self.field_bytes > self.limits.max_body_bytes:
                raise RequestRefused(
                    413,
                    f"`operations` and `map` are larger than {self.limits.max_body_bytes} bytes.",
                    code=BODY_TOO_LARGE,
                )
            part.text += data[start:end]
            return
        part.size += size
        if part.size > self.limits.max_upload_bytes:
            part.spool.close()
            raise RequestRefused(
                413,
                f"The file {part.filename!r} ({_variable_of(self.map, part.name)}) is larger "
                f"than MAX_UPLOAD_BYTES ({self.limits.max_upload_bytes} bytes).",
                code=FILE_TOO_LARGE,
            )
        view = memoryview(data)[start:end]
        part.sha256.update(view)
        part.spool.write(view)

    def _part_end(self) -> None:
        part = self.part
        if part.ignored:
            return
        if part.spool is None:
            self.fields[part.name] = bytes(part.text)
            if part.name == "map":
                self._operations_and_map()
            return
        assert part.filename is not None and part.content_type is not None
        self.files[part.name] = AttachmentFile(
            filename=part.filename,
            content_type=part.content_type,
            size=part.size,
            sha256=part.sha256.hexdigest(),
            content=part.spool,
        )

    def _end(self) -> None:
        self.ended = True

    def _operations_and_map(self) -> None:
        operations = _json(self.fields["operations"], "operations")
        if isinstance(operations, list):
            raise RequestRefused(400, "Batches are not accepted: send one operation per request.")
        if not isinstance(operations, dict):
            raise RequestRefused(400, "`operations` must be a JSON object with `query`.")
        paths = _json(self.fields["map"], "map")
        if not isinstance(paths, dict) or not all(
            isinstance(targets, list)
            and len(targets) == 1
            and isinstance(targets[0], str)
            and targets[0].startswith("variables.")
            for targets in paths.values()
        ):
            raise RequestRefused(
                400, '`map` must be a JSON object such as {"0": ["variables.input.attachments.0"]}.'
            )
        self.map = paths
        self.params = params_of(operations)
        # The document gate, trusted documents and the one-operation rule: before any file.
        self.query = self.admit(self.params)
        self.skip_files = len(paths) > self.limits.max_files

    def received(self) -> Received:
        if self.params is None or self.query is None:
            raise RequestRefused(400, "The multipart body ended before `operations` and `map`.")
        if not self.skip_files:
            if not self.ended:
                raise RequestRefused(400, "The multipart body ended early.")
            missing = [name for name in self.map if name not in self.files]
            if missing:
                raise RequestRefused(400, f"`map` names parts that were not sent: {missing}.")
        variables = self.params.variables if self.params.variables is not None else {}
        placed: list[AttachmentFile] = []
        for name, (target,) in self.map.items():
            # Over the limit the files are not read: placeholders carry the count.
            file = self.files.get(name) or AttachmentFile(
                filename="attachment", content_type=DEFAULT_CONTENT_TYPE, size=0, sha256=""
            )
            _place(variables, target.removeprefix("variables."), file)
            placed.append(file)
        params = GraphQLParams(
            self.params.query,
            self.params.operation_name,
            variables,
            self.params.extensions,
            self.params.document_id,
        )
        return Received(params, self.query, placed)

    def discard(self) -> None:
        for file in self.files.values():
            if file.content is not None:
                file.content.close()
        if self.part.spool is not None:
            self.part.spool.close()


def _variable_of(paths: dict[str, list[str]], name: str) -> str:
    return paths[name][0].removeprefix("variables.")


def _json(raw: bytes, name: str) -> object:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise RequestRefused(400, f"`{name}` is not valid JSON.") from None


def _place(variables: dict[str, Any], path: str, file: AttachmentFile) -> None:
    """Put `file` where `path` (`input.attachments.0`) says; that place must hold null."""
    *steps, last = path.split(".")
    container: Any = variables
    try:
        for step in steps:
            container = container[int(step)] if isinstance(container, list) else container[step]
        key: int | str = int(last) if isinstance(container, list) else last
        if container[key] is not None:
            raise TypeError
        container[key] = file
    except (KeyError, IndexError, TypeError, ValueError):
        raise RequestRefused(
            400, f"`map` points at `variables.{path}`, which is not a null in the variables."
        ) from None


async def read(
    request: Request, limits: UploadLimits, admit: Callable[[GraphQLParams], str]
) -> Received:
    """The request's operation with its files, read and checked as the module says."""
    media, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if media != MULTIPART.encode() or not boundary:
        raise RequestRefused(400, "A multipart request needs `multipart/form-data; boundary=`.")
    reader = _Reader(boundary, limits, admit)
    try:
        async for chunk in request.stream():
            if chunk:
                reader.write(chunk)
            if not reader.wants_more:
                break
        return reader.received()
    except BaseException:
        reader.discard()
        raise
