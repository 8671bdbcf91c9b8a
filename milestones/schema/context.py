"""What every resolver can reach: the viewer, per-request loaders, settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from strawberry.types import Info as StrawberryInfo

from milestones.config import Settings
from milestones.models import User
from milestones.resolvers.loaders import Loaders
from milestones.subscriptions.bus import WakeupBus


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

    def fresh_loaders(self) -> None:
        """After a mutation: nothing read before it may be served from cache."""
        self.loaders = Loaders()


Info = StrawberryInfo[Context, None]
