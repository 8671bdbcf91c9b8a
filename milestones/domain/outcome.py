"""What an action leaves behind: the objects it acted on, for the payload."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from milestones.models import ChangeRequest, Contract, Dispute, Milestone, RefundRequest, User

if TYPE_CHECKING:
    from milestones.domain.snapshots import Room


@dataclass(slots=True)
class Outcome:
    contract: Contract
    milestone: Milestone | None = None
    change_request: ChangeRequest | None = None
    refund_request: RefundRequest | None = None
    dispute: Dispute | None = None
    # An idempotent replay: the room as the first request left it, for every path of the
    # payload to answer from (the front primes its loaders with it).
    room: Room | None = None
    # Which change request and refund request are pending after the action (ids, None for
    # none), when it read them under its lock and changed neither: the payload need not ask.
    pending_requests: tuple[int | None, int | None] | None = None
    # Users rows the action read as it leaves them (the viewer, the people it notified).
    users: dict[int, User] = field(default_factory=dict)
