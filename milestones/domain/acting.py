"""The steps every contract action shares, written once.

An action is a typed command plus one function decorated with `contract_action`, which runs,
in one transaction and in the contract's order of refusals:

1. lock the contract of the object the command names (NOT_FOUND for anyone not a party);
2. the viewer's role, and on a team side whether they act for it (FORBIDDEN);
3. the idempotency key (IDEMPOTENCY_CONFLICT, or the first result replayed: steps 4-6 skipped);
4. the command's problems and the action's own `validate` (VALIDATION, all at once);
5. the action's body: its state rules (`rules.*_refusal`, raised with `refuse_if`), the change,
   and `act.record(...)` for the event and the other party's notification;
6. the result kept for the key, when one was given.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, cast

from tortoise import connections

from milestones.domain import events, snapshots
from milestones.domain.access import (
    Access,
    Owned,
    Permit,
    Role,
    access_of,
    lock_contract,
    lock_contract_owning,
    may_see,
)
from milestones.domain.commands import Command
from milestones.domain.errors import DomainError, Problem, not_found, refuse_if
from milestones.domain.escrow import (
    LedgerSummary,
    MilestoneMoney,
    ledger_summary,
    remember_ledger,
)
from milestones.domain.idempotency import idempotent
from milestones.domain.outcome import Outcome
from milestones.domain.rules import (
    RoomState,
    load_room_state,
    lock_with_room_state,
    read_with_room_state,
)
from milestones.domain.transaction import Action, action
from milestones.models import ChangeRequest, Contract, Dispute, Milestone, RefundRequest, User
from milestones.models.enums import EventKind

C = TypeVar("C", bound=Command)
T = TypeVar("T")


@dataclass(slots=True)
class Act(Generic[C, T]):
    """One running action: who, what they asked, the locked contract and the object acted on."""

    viewer: User
    command: C
    contract: Contract
    target: T
    transaction: Action
    # The viewer's standing in the contract (`access.access_in`), as the role check found it.
    access: Access | None = None
    _room: RoomState | None = field(default=None, repr=False)
    _money: dict[int, MilestoneMoney] = field(default_factory=dict, repr=False)
    # What `validate` found and the body needs again (read once).
    scratch: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def role(self) -> Role | None:
        """The viewer's side (or MEDIATOR), as the role check found it."""
        return self.access.role if self.access is not None else None

    def ledger_before(self) -> LedgerSummary | None:
        """The contract's money as the action found it, when it was read with its object."""
        return self._room.ledger if self._room is not None else None

    async def room(self) -> RoomState:
        """What is pending or funded in the contract (read once, under the lock)."""
        if self._room is None:
            self._room = await load_room_state(self.contract)
        return self._room

    def leaves_requests(self, outcome: Outcome) -> Outcome:
        """`outcome`, saying which change and refund requests are pending: those the room
        state read under the lock, for an action that changed neither (its caller knows)."""
        if self._room is not None:
            room = self._room
            outcome.pending_requests = (
                room.pending_change_request_id,
                room.pending_refund_request_id,
            )
        return outcome

    async def money_of(self, milestone: Milestone) -> MilestoneMoney:
        """The milestone's money as the action found it (read once, before any change)."""
        ledger = self._room.ledger if self._room is not None else None
        if ledger is not None and ledger.covers(milestone.id):
            return ledger.of(milestone.id)  # read with the object, under the lock
        if milestone.id not in self._money:
            summary = await ledger_summary(self.contract, about=[milestone.id])
            self._money[milestone.id] = summary.of(milestone.id)
        return self._money[milestone.id]

    async def record(
        self,
        kind: EventKind,
        *,
        milestone: Milestone | None = None,
        change_request: ChangeRequest | None = None,
        refund_request: RefundRequest | None = None,
        dispute: Dispute | None = None,
        amount: int | None = None,
        note: str | None = None,
        also_notify: Iterable[int] = (),
    ) -> None:
        """Append the event and notify the other party (and email them, when configured)."""
        await events.record(
            self.transaction,
            self.contract,
            kind,
            self.viewer,
            milestone=milestone,
            change_request=change_request,
            refund_request=refund_request,
            dispute=dispute,
            amount=amount,
            note=note,
            also_notify=also_notify,
        )


class _ContractCommand(Protocol):
    @property
    def contract_id(self) -> int | None: ...


class _MilestoneCommand(Protocol):
    @property
    def milestone_id(self) -> int | None: ...


class _ChangeRequestCommand(Protocol):
    @property
    def change_request_id(self) -> int | None: ...


class _RefundRequestCommand(Protocol):
    @property
    def refund_request_id(self) -> int | None: ...


async def _located(
    viewer: User,
    model: type[Owned],
    label: str,
    pk: int | None,
    field: str,
    *,
    live: bool = False,
    money: bool = True,
) -> tuple[Contract, Owned, RoomState]:
    """The contract locked, with the object and the room state (and the contract's money,
    unless `money` is False) as they are under the lock: on PostgreSQL one statement, and a
    second one only when an action committed between its snapshot and its lock
    (`rules.lock_with_room_state`); on SQLite, where one action runs at a time, the lock's
    statement and then the object's."""
    if pk is None:
        raise not_found(label, field)
    if connections.get("default").capabilities.dialect == "postgres":
        located = await lock_with_room_state(viewer, model, pk, live=live, money=money)
        if located is None:
            raise not_found(label, field)
        contract = located.contract
        if not await may_see(viewer, contract):
            raise not_found("Contract", field)
        target: Owned | None = cast(Owned, located.target)
        room = located.room
        if not located.current:  # the snapshot missed an action's change: read them again
            target, room = await read_with_room_state(contract, model, pk, live=live, money=money)
    else:
        contract = await lock_contract_owning(viewer, model, label, pk, field, live=live)
        target, room = await read_with_room_state(contract, model, pk, live=live, money=money)
    if target is None:  # removed meanwhile
        raise not_found(label, field)
    if room.ledger is not None:  # read under the lock, before the action appends anything
        remember_ledger(contract, room.ledger)
    return contract, target, room


async def the_contract(
    viewer: User, command: _ContractCommand
) -> tuple[Contract, Contract, RoomState | None]:
    contract = await lock_contract(viewer, command.contract_id, "contract_id")
    return contract, contract, None


async def the_milestone(
    viewer: User, command: _MilestoneCommand
) -> tuple[Contract, Milestone, RoomState]:
    return await _located(
        viewer, Milestone, "Milestone", command.milestone_id, "milestone_id", live=True
    )


async def the_change_request(
    viewer: User, command: _ChangeRequestCommand
) -> tuple[Contract, ChangeRequest, RoomState]:
    return await _located(
        viewer,
        ChangeRequest,
        "Change request",
        command.change_request_id,
        "change_request_id",
        money=False,  # a change request moves no money
    )


async def the_refund_request(
    viewer: User, command: _RefundRequestCommand
) -> tuple[Contract, RefundRequest, RoomState]:
    return await _located(
        viewer, RefundRequest, "Refund request", command.refund_request_id, "refund_request_id"
    )


class _DisputeCommand(Protocol):
    @property
    def dispute_id(self) -> int | None: ...


async def the_dispute(
    viewer: User, command: _DisputeCommand
) -> tuple[Contract, Dispute, RoomState]:
    return await _located(viewer, Dispute, "Dispute", command.dispute_id, "dispute_id")


Body = Callable[[Act[C, T]], Awaitable[Outcome]]
Validate = Callable[[Act[C, T]], Awaitable[Iterable[Problem]]]
# Takes the command; typed loosely so that a locator serves every command with its id field.
# Gives the locked contract, the object, and the room state when it read it with the object.
Locate = Callable[[User, Any], Awaitable[tuple[Contract, T, RoomState | None]]]


@dataclass(frozen=True, slots=True)
class ContractAction(Generic[C]):
    """An action, called as `await action(viewer, command)`; `permit` says who may take it
    (the viewer's flags ask it too, with the same state rule the body raises)."""

    permit: Permit
    run: Callable[[User, C], Awaitable[Outcome]]

    async def __call__(self, viewer: User, command: C) -> Outcome:
        return await self.run(viewer, command)


def contract_action(
    locate: Locate[T],
    *,
    role: Role | None,
    doing: str,
    validate: Validate[C, T] | None = None,
    members: bool = False,
) -> Callable[[Body[C, T]], ContractAction[C]]:
    """Make `body` an action run by `viewer` with `command` (see the module's steps);
    `members`: a team side's MEMBERs may take it too, not only its OWNERs and ADMINs."""
    permit = Permit(role, doing, members)

    def decorate(body: Body[C, T]) -> ContractAction[C]:
        @functools.wraps(body)
        async def run(viewer: User, command: C) -> Outcome:
            async with action() as transaction:
                contract, target, room = await locate(viewer, command)
                access = await access_of(viewer, contract)
                refuse_if(permit.refusal(access))
                act = Act(viewer, command, contract, target, transaction, access, room)
                async with idempotent(viewer, command, contract_locked=True) as keyed:
                    if keyed.replayed is not None:
                        return snapshots.restore(keyed.replayed)
                    problems = [*command.problems]
                    if validate is not None:
                        problems.extend(await validate(act))
                    if problems:
                        raise DomainError(*problems)
                    outcome = await body(act)
                    await transaction.mark_changed(contract)
                    if keyed.wanted:
                        keyed.keep(await snapshots.capture(outcome))
            outcome.users.update(transaction.users)
            outcome.users.setdefault(viewer.id, viewer)
            return outcome

        return ContractAction(permit, run)

    return decorate
