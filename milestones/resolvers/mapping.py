"""Domain outcomes to payloads, and domain errors to user errors: one mapping for all."""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import strawberry

from milestones import ids
from milestones.domain.errors import DomainError, Problem
from milestones.domain.escrow import checked_summary
from milestones.domain.outcome import Outcome
from milestones.models import Contract as ContractModel
from milestones.models import User
from milestones.resolvers.viewer import require_viewer
from milestones.schema.context import Info
from milestones.schema.payloads import UserError
from milestones.schema.types import Contract, viewer_access

Command = TypeVar("Command")
Result = TypeVar("Result")
P = TypeVar("P", bound="RefusablePayload")


class RefusablePayload(Protocol):
    def __init__(self, *, user_errors: list[UserError]) -> None: ...


_WORD_AFTER_UNDERSCORE = re.compile(r"_([a-z0-9])")


@functools.lru_cache(maxsize=256)
def input_path(command_path: str) -> str:
    """A problem's field, as the client wrote it: `changes.1.milestone_id` is
    `changes.1.milestoneId` (inputs are the commands' fields in camelCase)."""
    return _WORD_AFTER_UNDERSCORE.sub(lambda match: match.group(1).upper(), command_path)


def user_error(problem: Problem) -> UserError:
    field = input_path(problem.field) if problem.field is not None else None
    return UserError(code=problem.code, message=problem.message, field=field)


async def perform(
    info: Info,
    payload_type: type[P],
    run: Callable[[User, Command], Awaitable[Result]],
    command: Command,
    present: Callable[[Result, Info], Awaitable[P]],
) -> P:
    """Run a domain action for the viewer; its refusal as user errors, else the payload."""
    viewer = require_viewer(info)
    try:
        result = await run(viewer, command)
    except DomainError as error:
        return payload_type(user_errors=[user_error(problem) for problem in error.problems])
    info.context.fresh_loaders()
    if isinstance(result, Outcome) and result.room is not None:
        # A replay: every path of the payload answers from the room as it was then.
        info.context.loaders.prime_room(result.room)
    elif isinstance(result, Outcome):
        prime_from(info, result)
    return await present(result, info)


def prime_from(info: Info, outcome: Outcome) -> None:
    """What the action read under its lock and left as it was, for its payload: not asked
    again."""
    loaders, pk = info.context.loaders, outcome.contract.id
    summary = checked_summary(outcome.contract)
    if summary is not None:  # focused: `loaders.money` reads the rest if the payload asks
        loaders.checked_ledgers[pk] = summary
    for user in outcome.users.values():
        loaders.user.prime(user.id, user, force=True)
    if outcome.pending_requests is not None:
        change_request, refund_request = outcome.pending_requests
        if change_request is None:
            loaders.pending_change_request.prime(pk, None, force=True)
        if refund_request is None:
            loaders.pending_refund_request.prime(pk, None, force=True)


async def contract_type(info: Info, contract: ContractModel) -> Contract:
    viewer = require_viewer(info)
    return Contract.of(contract, viewer.id, await viewer_access(info, contract))


def global_id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(ids.encode(type_name, pk))
