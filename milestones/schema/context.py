"""What every resolver can reach: the viewer, per-request loaders, settings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from strawberry.types import Info as StrawberryInfo

from milestones.config import Settings
from milestones.live.bus import WakeupBus
from milestones.models import User
from milestones.observability.logs import current_request_id
from milestones.rate_limits import Refusal
from milestones.schema.loaders import Loaders


@dataclass
class Context:
    settings: Settings
    viewer: User | None
    bus: WakeupBus | None = None
    auth_error: str | None = None
    request: Any = None
    response: Any = None
    loaders: Loaders = field(default_factory=Loaders)
    # graphql-transport-ws: the connection_init payload (it carries the token).
    connection_params: Any = None
    # graphql-transport-ws: when the socket's token expires (None: it does not).
    token_expires_at: float | None = None
    # Subscriptions served to many sockets at once (subscriptions/fanout.py): where a resumed
    # stream starts, whether the stream replays history, and the seq of the row behind the
    # result being executed (stream_start before the first).
    resume_after: int | None = None
    stream_replays: bool = False
    stream_start: int | None = None
    stream_position: int | None = None
    # Set when a rate limit refused the operation (the HTTP front answers 429).
    rate_limited: Refusal | None = None
    # Names this request in the logs and in a masked error (and the X-Request-ID header).
    request_id: str = field(default_factory=lambda: current_request_id() or uuid.uuid4().hex)

    def fresh_loaders(self) -> None:
        """After a mutation: nothing read before it may be served from cache."""
        self.loaders = Loaders()


Info = StrawberryInfo[Context, None]
