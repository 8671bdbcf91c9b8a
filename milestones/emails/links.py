"""The links an email carries: where to act on a notification, and how to stop the emails.

The page opens at `<PUBLIC_URL>/app/#contract=<id>` plus `&changeRequest=<id>`,
`&refundRequest=<id>` or `&dispute=<id>` (the API's global ids).

Unsubscribing needs no sign-in (RFC 8058 one-click: a mail provider POSTs to the link), so the
link carries its own proof: an HMAC of the user's id under a key derived from JWT_SECRET.
Anyone can read a link they were sent; nobody can make one for another user. It does not
expire (a link in an old email still works) and changing JWT_SECRET voids every link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from milestones import ids
from milestones.domain.email_items import EmailItem

UNSUBSCRIBE_PATH = "/email/unsubscribe"
# What the key is derived for: a token signed for anything else never verifies here.
_KEY_PURPOSE = b"milestones email unsubscribe v1"


def unsubscribe_key(jwt_secret: str) -> bytes:
    return hmac.new(jwt_secret.encode(), _KEY_PURPOSE, hashlib.sha256).digest()


def _signature(key: bytes, user_pk: int) -> str:
    digest = hmac.new(key, f"unsubscribe:user:{user_pk}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verified_user(key: bytes, user: object, signature: object) -> int | None:
    """The user's pk when `signature` was made for this `user` id with this key, else None."""
    pk = ids.decode(user, "User")
    if pk is None or not isinstance(signature, str) or len(signature) > 100:
        return None
    return pk if hmac.compare_digest(_signature(key, pk), signature) else None


@dataclass(frozen=True, slots=True)
class EmailLinks:
    public_url: str  # no trailing slash
    key: bytes

    @classmethod
    def of(cls, public_url: str, jwt_secret: str) -> EmailLinks:
        return cls(public_url.rstrip("/"), unsubscribe_key(jwt_secret))

    def unsubscribe(self, user_pk: int) -> str:
        query = urlencode(
            {"user": ids.encode("User", user_pk), "signature": _signature(self.key, user_pk)}
        )
        return f"{self.public_url}{UNSUBSCRIBE_PATH}?{query}"

    def act(self, item: EmailItem) -> str | None:
        """Where the page opens to act on the item (None: an item that names no contract)."""
        if item.contract_id is None:
            return None
        fragment = [("contract", ids.encode("Contract", item.contract_id))]
        if item.change_request_id is not None:
            fragment.append(("changeRequest", ids.encode("ChangeRequest", item.change_request_id)))
        elif item.refund_request_id is not None:
            fragment.append(("refundRequest", ids.encode("RefundRequest", item.refund_request_id)))
        elif item.dispute_id is not None:
            fragment.append(("dispute", ids.encode("Dispute", item.dispute_id)))
        return f"{self.public_url}/app/#{urlencode(fragment)}"

    @property
    def message_id_domain(self) -> str:
        """The right side of Message-IDs: PUBLIC_URL's host (letters, digits, dots, dashes)."""
        host = urlsplit(self.public_url).hostname or ""
        cleaned = "".join(
            char for char in host if char.isascii() and (char.isalnum() or char in ".-")
        )
        return cleaned.strip(".-") or "milestones.invalid"
