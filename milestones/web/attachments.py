"""`GET /attachments/<Attachment.id>`: a submission's file, for those who may see its room.

Who asks comes first: no token (or a bad one) is 401, before anything else is looked at.
Then the room's rule (`domain.access.may_see`, through `submissions.visible_attachment`):
anyone it does not let in, an unknown id and a malformed one all get the same 404, so the
answer never tells an outsider that a file exists. Downloads are metered as queries.

The bytes stream from the database one stored chunk at a time. A file is never shown as a
page of this origin: `Content-Disposition: attachment` (the name per RFC 6266 / RFC 5987),
`X-Content-Type-Options: nosniff`, a `Content-Security-Policy` `sandbox`, and the types a
browser would run (HTML, XML, SVG, scripts) are served as application/octet-stream.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from milestones import ids
from milestones.auth import TokenVerifier, Unauthenticated, parse_authorization
from milestones.domain.submissions import attachment_chunks, visible_attachment
from milestones.domain.users import user_for
from milestones.rate_limits import Budget, RateLimiter, identity
from milestones.web.graphql_http import JSON, refusal_body

OCTET_STREAM: Final = "application/octet-stream"
# Media types a browser would render or run as a document of this origin.
_ACTIVE_MARKERS: Final = ("html", "xml", "svg", "javascript", "ecmascript", "x-mixed-replace")


def served_content_type(stored: str) -> str:
    lowered = stored.lower()
    if any(marker in lowered for marker in _ACTIVE_MARKERS):
        return OCTET_STREAM
    return stored


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the exact one as `filename*` (UTF-8)."""
    fallback = "".join(
        char if " " <= char <= "~" and char not in '"\\;%' else "_" for char in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _error(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(refusal_body(message, code)),
        status_code=status,
        media_type=JSON,
        headers={"cache-control": "no-store", **(headers or {})},
    )


def attachment_routes(verifier: TokenVerifier, rate_limiter: RateLimiter | None) -> list[BaseRoute]:
    limiter = rate_limiter if rate_limiter is not None and rate_limiter.enabled else None

    async def download(request: Request) -> Response:
        try:
            verified = verifier.verify(parse_authorization(request.headers.get("authorization")))
        except Unauthenticated as error:
            return _error(
                401,
                str(error),
                "UNAUTHENTICATED",
                {"www-authenticate": 'Bearer realm="milestones"'},
            )
        viewer = await user_for(verified)
        if limiter is not None:
            refusal = await limiter.admit(identity(viewer.sub, None), [(Budget.QUERIES, 1)])
            if refusal is not None:
                return _error(
                    429,
                    refusal.message,
                    "RATE_LIMITED",
                    {"retry-after": str(refusal.retry_after)},
                )
        pk = ids.decode(request.path_params["attachment_id"], "Attachment")
        attachment = await visible_attachment(viewer, pk)
        if attachment is None:
            return _error(404, "Attachment not found.", "NOT_FOUND")
        return StreamingResponse(
            attachment_chunks(attachment),
            media_type=served_content_type(attachment.content_type),
            headers={
                "content-length": str(attachment.size),
                "content-disposition": content_disposition(attachment.filename),
                "x-content-type-options": "nosniff",
                "content-security-policy": "sandbox; default-src 'none'",
                "cache-control": "private, no-store",
                "etag": f'"{attachment.sha256}"',
            },
        )

    return [Route("/attachments/{attachment_id}", download, methods=["GET"])]
