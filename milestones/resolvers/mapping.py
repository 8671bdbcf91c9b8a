"""Domain outcomes to payloads, and domain errors to user errors: one mapping for all."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import strawberry
from strawberry import UNSET

from milestones import ids
from milestones.domain.errors import DomainError
from milestones.domain.snapshots import RoomSnapshot
from milestones.domain.values import OMITTED
from milestones.models import Contract as ContractModel
from milestones.models import Milestone as MilestoneModel
from milestones.models import User
from milestones.resolvers.viewer import require_viewer
from milestones.schema.context import Info
from milestones.schema.payloads import UserError
from milestones.schema.types import Contract, Milestone

Outcome = TypeVar("Outcome")
P = TypeVar("P", bound="RefusablePayload")


class RefusablePayload(Protocol):
    def __init__(self, *, user_errors: list[UserError]) -> None: ...


def given(value: object) -> object:
    """Strawberry's UNSET (field not sent) as the domain's OMITTED."""
    return OMITTED if value is UNSET else value


def optional(value: object) -> object:
    """A field where "not sent" and null mean the same: nothing."""
    return None if value is UNSET else value


async def perform(
    info: Info,
    payload_type: type[P],
    act: Callable[[User], Awaitable[Outcome]],
    present: Callable[[Outcome, Info], Awaitable[P]],
) -> P:
    viewer = require_viewer(info)
    try:
        outcome = await act(viewer)
    except DomainError as error:
        return payload_type(
            user_errors=[
                UserError(code=problem.code, message=problem.message, field=problem.field)
                for problem in error.problems
            ]
        )
    info.context.fresh_loaders()
    return await present(outcome, info)


async def contract_type(info: Info, contract: ContractModel) -> Contract:
    viewer = require_viewer(info)
    return Contract.of(contract, viewer.id)


async def milestone_type(info: Info, milestone: MilestoneModel) -> Milestone:
    ledger = await info.context.loaders.ledger.load(milestone.contract_id)
    return Milestone.of(milestone, ledger.of(milestone.id))


def replayed_types(room: RoomSnapshot, viewer: User) -> tuple[Milestone, Contract]:
    """The payload of the first request of an idempotency key, as it was then."""
    return (
        Milestone.of(room.milestone, room.summary.of(room.milestone.id)),
        Contract.of(room.contract, viewer.id, room=room),
    )


def global_id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(ids.encode(type_name, pk))
