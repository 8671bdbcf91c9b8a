"""One-click unsubscribe (RFC 8058) at /email/unsubscribe?user=<id>&signature=<hmac>.

No bearer token: the signed link is the proof (`milestones/emails/links.py`). A POST with the
form body `List-Unsubscribe=One-Click` (what a mail provider's button sends, and what the
confirmation page's button sends) turns email off for that user. A GET only shows that page:
link scanners and previews fetch links, and must never unsubscribe anyone. A link that does
not verify is a bare 404, the same for a forged signature and an unknown user.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from milestones.config import Settings
from milestones.emails.links import UNSUBSCRIBE_PATH, unsubscribe_key, verified_user
from milestones.models import User

# The one-click body is a few bytes; anything much larger is not one.
MAX_FORM_BYTES = 1024
_HEADERS = {
    "cache-control": "no-store",
    # The URL is the user's proof: never sent on to another site.
    "referrer-policy": "no-referrer",
    "x-robots-tag": "noindex",
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}
_page = jinja2.Environment(
    loader=jinja2.PackageLoader("milestones.emails", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
).get_template("unsubscribe.html")


def _not_found() -> Response:
    return PlainTextResponse("Not found.", status_code=404, headers=_HEADERS)


def unsubscribe_routes(settings: Settings) -> list[BaseRoute]:
    key = unsubscribe_key(settings.jwt_secret)

    async def unsubscribe(request: Request) -> Response:
        user_pk = verified_user(
            key, request.query_params.get("user"), request.query_params.get("signature")
        )
        if user_pk is None or not await User.filter(id=user_pk).exists():
            return _not_found()
        if request.method != "POST":
            return HTMLResponse(_page.render(done=False), headers=_HEADERS)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                return PlainTextResponse("Bad request.", status_code=400, headers=_HEADERS)
        form = parse_qs(body.decode("utf-8", "replace"))
        if form.get("List-Unsubscribe") != ["One-Click"]:
            return PlainTextResponse("Bad request.", status_code=400, headers=_HEADERS)
        await User.filter(id=user_pk).update(
            email_enabled=False, updated_at=dt.datetime.now(dt.UTC)
        )
        return HTMLResponse(_page.render(done=True), headers=_HEADERS)

    return [Route(UNSUBSCRIBE_PATH, unsubscribe, methods=["GET", "POST"])]
