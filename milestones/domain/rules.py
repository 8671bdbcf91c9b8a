"""The workflow's rules, each in exactly one function.

Every rule is a pure function over state already loaded (the contract, the object acted on,
a `RoomState`): it answers why the action would be refused, or None, and changes nothing. An
action raises the answer (`refuse_if`); a "could the viewer do this?" flag asks the same
function without acting. Per action, `<action>_refusal` lists its state checks in the order
of the contract: the contract's state, then the milestone's, then what is pending, then the
rest.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from tortoise import connections
from tortoise.models import Model

from milestones.domain import escrow
from milestones.domain.access import VIEWER_ROLES, Role, locked_contract, team_roles_sql
from milestones.domain.errors import ErrorCode, Problem
from milestones.domain.escrow import LedgerSummary, held_column, held_summary_of
from milestones.models import ChangeRequest, Contract, Dispute, Milestone, RefundRequest, User
from milestones.models.enums import (
    FUNDED_STATUSES,
    OPEN_DISPUTE_STATUSES,
    ChangeRequestStatus,
    ContractStatus,
    DisputeStatus,
    MilestoneStatus,
    RefundRequestStatus,
)

ACTIVE_OR_SUBMITTED = (MilestoneStatus.ACTIVE, MilestoneStatus.SUBMITTED)


@dataclass(frozen=True, slots=True)
class RoomState:
    """What is pending or funded in a contract, read once under the action's lock."""

    contract: Contract
    pending_change_request_id: int | None
    pending_refund_request_id: int | None
    funded_milestone_id: int | None
    open_dispute_id: int | None = None
    # The contract's money as the action found it, when read with the rest (every milestone's).
    ledger: LedgerSummary | None = None


_ROOM_STATE_SQL = (
    "SELECT "
    "(SELECT id FROM change_requests WHERE contract_id = {p} AND status = '{cr}' LIMIT 1)"
    " AS room_change_request, "
    "(SELECT id FROM refund_requests WHERE contract_id = {p} AND status = '{rr}' LIMIT 1)"
    " AS room_refund_request, "
    "(SELECT id FROM milestones WHERE contract_id = {p} AND status IN ({funded}) "
    "AND deleted_at IS NULL LIMIT 1) AS room_funded, "
    "(SELECT id FROM disputes WHERE contract_id = {p} AND status IN ({disputes}) LIMIT 1)"
    " AS room_dispute"
)
_ROOM_STATE_COLUMNS = ("room_change_request", "room_refund_request", "room_funded", "room_dispute")


def _room_state_sql(placeholder: str) -> str:
    return _ROOM_STATE_SQL.format(
        p=placeholder,
        cr=ChangeRequestStatus.PENDING.value,
        rr=RefundRequestStatus.PENDING.value,
        funded=", ".join(f"'{status.value}'" for status in FUNDED_STATUSES),
        disputes=", ".join(f"'{status.value}'" for status in OPEN_DISPUTE_STATUSES),
    )


_POSTGRES_ROOM_STATE_SQL = _room_state_sql("$1")
_SQLITE_ROOM_STATE_SQL = _room_state_sql("?1")


async def load_room_state(contract: Contract) -> RoomState:
    """One statement: the pending change request, pending refund request, funded milestone
    and open dispute."""
    connection = connections.get("default")
    postgres = connection.capabilities.dialect == "postgres"
    sql = _POSTGRES_ROOM_STATE_SQL if postgres else _SQLITE_ROOM_STATE_SQL
    _, rows = await connection.execute_query(sql, [contract.id])
    change_request, refund_request, funded, dispute = tuple(rows[0])
    return RoomState(contract, change_request, refund_request, funded, dispute)


Owned = TypeVar("Owned", bound=Model)


@functools.cache
def _read_with_room_state_sql(
    table: str, milestone: bool, live: bool, money: bool, postgres: bool
) -> str:
    """`read_with_room_state`'s statement (a few models, each a few ways: kept)."""
    mark = "$1" if postgres else "?1"
    alive = " AND target.deleted_at IS NULL" if live else ""
    room = _room_columns_sql("target.contract_id", milestone, money, postgres)
    return f'SELECT {room}, target.* FROM "{table}" AS target WHERE target.id = {mark}{alive}'


def _room_columns_sql(contract: str, milestone: bool, money: bool, postgres: bool) -> str:
    """The room state of the contract `contract` (SQL) names, and its money when `money`, as
    columns of a statement that reads the object `target` (`_object_and_room` reads them)."""
    columns = _room_state_sql(contract).removeprefix("SELECT ")
    if not money:
        return columns
    held = held_column(contract, postgres, "target.id" if milestone else None)
    return f"{columns}, {held} AS room_ledger"


async def _object_and_room(
    contract: Contract,
    model: type[Owned],
    pk: int,
    row: dict[str, Any],
    *,
    money: bool,
    verify: bool = True,
) -> tuple[Owned, RoomState]:
    """The object and the room state from a row of `_room_columns_sql`'s columns and the
    object's (`verify`: the money checked against the whole ledger, in the tests)."""
    about = [pk] if model is Milestone else []
    found = held_summary_of(contract, row.pop("room_ledger"), about) if money else None
    if found is not None and verify and escrow.verify_derived:
        await escrow.verify_summary(contract, found, about)
    change_request, refund_request, funded, dispute = (row.pop(c) for c in _ROOM_STATE_COLUMNS)
    state = RoomState(contract, change_request, refund_request, funded, dispute, ledger=found)
    return model._init_from_db(**row), state


async def read_with_room_state(
    contract: Contract, model: type[Owned], pk: int, *, live: bool, money: bool = False
) -> tuple[Owned | None, RoomState]:
    """The object `pk` names, read again under the contract's lock (None once gone; `live`:
    not deleted either), and the contract's room state (`load_room_state`), with its money
    when `money` (the contract's running sums, and the money of the funded milestone and of
    the object when it is a milestone: `escrow.held_column`): one statement."""
    connection = connections.get("default")
    postgres = connection.capabilities.dialect == "postgres"
    milestone = model is Milestone
    sql = _read_with_room_state_sql(model._meta.db_table, milestone, live, money, postgres)
    rows = await connection.execute_query_dict(sql, [pk])
    if not rows:
        return None, RoomState(contract, None, None, None)
    return await _object_and_room(contract, model, pk, dict(rows[0]), money=money)


@dataclass(frozen=True, slots=True)
class Located:
    """What `lock_with_room_state` found: the locked contract, the object and the room state
    as the statement's snapshot saw them, and whether that snapshot was current at the lock."""

    contract: Contract
    target: Model
    room: RoomState
    current: bool


@functools.cache
def _lock_with_room_state_sql(table: str, milestone: bool, live: bool, money: bool) -> str:
    """`lock_with_room_state`'s statement (PostgreSQL; a few models, each a few ways: kept)."""
    contract_columns = ", ".join(f'c."{column}"' for column in _contract_columns())
    alive = " AND target.deleted_at IS NULL" if live else ""
    room = _room_columns_sql("c.id", milestone, money, True)
    return (
        f"SELECT {contract_columns}, {team_roles_sql('c', '$1')}, "
        # The row as the statement's snapshot saw it is the row locked: no action committed
        # in between (each one that changes the room updates the contract's row).
        f"c.xmin = (SELECT seen.xmin FROM {Contract._meta.db_table} AS seen"
        f" WHERE seen.id = c.id) AS room_current, "
        f"{room}, target.* "
        f'FROM "{table}" AS target JOIN {Contract._meta.db_table} AS c'
        f" ON c.id = target.contract_id WHERE target.id = $2{alive} FOR UPDATE OF c"
    )


@functools.cache
def _contract_columns() -> tuple[str, ...]:
    return tuple(Contract._meta.fields_db_projection.values())


async def lock_with_room_state(
    viewer: User, model: type[Owned], pk: int, *, live: bool, money: bool
) -> Located | None:
    """PostgreSQL, one statement: the contract of the object `pk` names, locked, with the
    viewer's access (`access.locked_contract`), and the object with the room state (and the
    money) as `read_with_room_state` reads them; None when there is no such object (`live`:
    not deleted either).

    The lock is taken after the statement's snapshot: an action that held it meanwhile and
    committed changed what the snapshot saw. Every action that changes a room updates its
    contract's row (its event's seq, or `transaction.Action.mark_changed`), so the row's
    version tells: `Located.current` is False when the row locked is not the one the snapshot
    saw, and then the caller reads the object and the room again (`read_with_room_state`)."""
    milestone = model is Milestone
    sql = _lock_with_room_state_sql(model._meta.db_table, milestone, live, money)
    _, rows = await connections.get("default").execute_query(sql, [viewer.id, pk])
    if not rows:
        return None
    record = rows[0]
    names, values = list(record.keys()), tuple(record)
    split = len(_contract_columns()) + len(VIEWER_ROLES)
    contract = locked_contract(viewer, dict(zip(names[:split], values[:split], strict=True)))
    row = dict(zip(names[split:], values[split:], strict=True))
    current = bool(row.pop("room_current"))
    # (Stale, the caller reads them again, checked then.)
    target, state = await _object_and_room(contract, model, pk, row, money=money, verify=current)
    return Located(contract, target, state, current)


async def load_room_states(contracts: Sequence[Contract]) -> list[RoomState]:
    """`load_room_state` of many contracts in one statement (the same subqueries, per row of
    `contracts`), in the order given: what the viewer's flags of a page of rooms read."""
    if not contracts:
        return []
    connection = connections.get("default")
    postgres = connection.capabilities.dialect == "postgres"
    marks = [f"${n}" if postgres else "?" for n in range(1, len(contracts) + 1)]
    sql = f"{_room_state_sql('c.id')}, c.id FROM contracts c WHERE c.id IN ({', '.join(marks)})"
    _, rows = await connection.execute_query(sql, [contract.id for contract in contracts])
    found = {row[-1]: tuple(row)[:-1] for row in rows}
    return [RoomState(contract, *found[contract.id]) for contract in contracts]


# The single rules.


def first(*answers: Problem | None) -> Problem | None:
    """The first refusal of checks listed in the contract's order."""
    return next((answer for answer in answers if answer is not None), None)


def contract_open(contract: Contract) -> Problem | None:
    """An ended contract, or a declined (or withdrawn) offer, refuses every change."""
    if contract.status is ContractStatus.ENDED:
        return Problem(ErrorCode.CONTRACT_ENDED, "The contract has ended.")
    if contract.status is ContractStatus.DECLINED:
        return Problem(ErrorCode.CONTRACT_ENDED, "The offer was declined or withdrawn.")
    return None


def contract_accepted(contract: Contract) -> Problem | None:
    """Money and work wait for the freelancer party to accept the offer."""
    if contract.status is ContractStatus.OFFERED:
        return Problem(
            ErrorCode.CONTRACT_NOT_ACCEPTED,
            "The offer has not been accepted yet: the freelancer accepts or declines it first.",
        )
    return None


def contract_in_force(contract: Contract) -> Problem | None:
    """Open and accepted: the contract's two states, before any milestone's."""
    return first(contract_open(contract), contract_accepted(contract))


def offer_pending(contract: Contract) -> Problem | None:
    """An offer is answered once (accepted, declined, or withdrawn by the client)."""
    if contract.status is not ContractStatus.OFFERED:
        answered = {
            ContractStatus.ACTIVE: "was accepted",
            ContractStatus.ENDED: "was accepted (the contract has ended since)",
            ContractStatus.DECLINED: "was declined or withdrawn",
        }[contract.status]
        return Problem(ErrorCode.NOT_PENDING, f"The offer {answered}: it is no longer pending.")
    return None


def upcoming(milestone: Milestone, field: str | None = "milestone_id") -> Problem | None:
    """Only upcoming milestones can be edited, deleted or activated: active ones are frozen."""
    if milestone.status is not MilestoneStatus.UPCOMING:
        return Problem(
            ErrorCode.MILESTONE_NOT_UPCOMING,
            f"The milestone is {milestone.status.lower()}, not upcoming.",
            field,
        )
    return None


def in_status(
    milestone: Milestone, allowed: Iterable[MilestoneStatus], code: ErrorCode
) -> Problem | None:
    if milestone.status not in tuple(allowed):
        return Problem(code, f"The milestone is {milestone.status.lower()}.", "milestone_id")
    return None


def no_pending_change_request(room: RoomState) -> Problem | None:
    """While a change request is pending the client cannot add, edit, delete or activate."""
    if room.pending_change_request_id is not None:
        return Problem(
            ErrorCode.CHANGE_REQUEST_PENDING,
            "A change request is pending: accept or decline it first.",
        )
    return None


def no_pending_refund_request(room: RoomState) -> Problem | None:
    """While a refund request is pending the active milestone cannot move."""
    if room.pending_refund_request_id is not None:
        return Problem(
            ErrorCode.REFUND_REQUEST_PENDING,
            "A refund request is pending on the active milestone.",
        )
    return None


def no_funded_milestone(room: RoomState) -> Problem | None:
    """Only one milestone per contract is funded at a time."""
    if room.funded_milestone_id is not None:
        return Problem(
            ErrorCode.ANOTHER_MILESTONE_ACTIVE,
            "Another milestone is funded: release or refund it first.",
        )
    return None


def no_open_dispute(room: RoomState) -> Problem | None:
    """While a dispute is open its money is frozen: nothing moves it but the dispute."""
    if room.open_dispute_id is not None:
        return Problem(
            ErrorCode.DISPUTE_OPEN,
            "A dispute is open on this contract: its money moves only when it is resolved.",
        )
    return None


def pay_within_held(amount: int, held: int) -> Problem | None:
    """What the client pays when ending is at most what escrow holds (a VALIDATION problem)."""
    if amount > held:
        return Problem(
            ErrorCode.VALIDATION, "Pay amount must be at most the money held.", "pay_amount"
        )
    return None


def resolve_within_disputed(amount: int, disputed: int) -> Problem | None:
    """A mediator releases 0 to the disputed amount (a VALIDATION problem)."""
    if amount > disputed:
        return Problem(
            ErrorCode.VALIDATION,
            "Release amount must be at most the disputed amount.",
            "release_amount",
        )
    return None


def version_matches(milestone: Milestone, expected_version: int | None) -> Problem | None:
    if expected_version is not None and expected_version != milestone.version:
        return Problem(
            ErrorCode.VERSION_CONFLICT,
            f"The milestone is at version {milestone.version}, not {expected_version}.",
            "expected_version",
        )
    return None


def still_pending(request: ChangeRequest | RefundRequest) -> Problem | None:
    """A request is answered (or withdrawn) once; a disputed refund request waits for its
    dispute."""
    if request.status != "PENDING":
        what = "change request" if isinstance(request, ChangeRequest) else "refund request"
        return Problem(
            ErrorCode.NOT_PENDING,
            f"The {what} is {request.status.lower()}, no longer pending.",
        )
    return None


def release_within_funded(amount: int | None, funded: int) -> Problem | None:
    """A release is at most what the milestone holds in escrow (a VALIDATION problem)."""
    if amount is not None and amount > funded:
        return Problem(
            ErrorCode.VALIDATION,
            "Release amount must be at most the funded amount.",
            "release_amount",
        )
    return None


def changes_apply(changed: Iterable[tuple[int, Milestone]]) -> Problem | None:
    """Edits and deletes concern upcoming milestones only: (change index, its milestone)."""
    for index, milestone in changed:
        if milestone.status is not MilestoneStatus.UPCOMING:
            return Problem(
                ErrorCode.MILESTONE_NOT_UPCOMING,
                f"The milestone “{milestone.title}” is {milestone.status.lower()}: "
                "only upcoming milestones can change.",
                f"changes.{index}.milestone_id",
            )
    return None


# Each action's state checks, in the contract's order (its role is checked before these).


def add_milestone_refusal(room: RoomState) -> Problem | None:
    return first(contract_open(room.contract), no_pending_change_request(room))


def edit_milestone_refusal(
    room: RoomState, milestone: Milestone, expected_version: int | None = None
) -> Problem | None:
    return first(
        contract_open(room.contract),
        upcoming(milestone),
        no_pending_change_request(room),
        version_matches(milestone, expected_version),
    )


def delete_milestone_refusal(room: RoomState, milestone: Milestone) -> Problem | None:
    return first(contract_open(room.contract), upcoming(milestone), no_pending_change_request(room))


def activate_refusal(room: RoomState, milestone: Milestone) -> Problem | None:
    return first(
        contract_in_force(room.contract),
        upcoming(milestone),
        no_pending_change_request(room),
        no_funded_milestone(room),
    )


def submit_refusal(room: RoomState, milestone: Milestone) -> Problem | None:
    return first(
        contract_in_force(room.contract),
        in_status(milestone, [MilestoneStatus.ACTIVE], ErrorCode.MILESTONE_NOT_ACTIVE),
        no_pending_refund_request(room),
        no_open_dispute(room),
    )


def reject_submission_refusal(room: RoomState, milestone: Milestone) -> Problem | None:
    return first(
        contract_in_force(room.contract),
        in_status(milestone, [MilestoneStatus.SUBMITTED], ErrorCode.MILESTONE_NOT_SUBMITTED),
        no_pending_refund_request(room),
        no_open_dispute(room),
    )


def approve_refusal(room: RoomState, milestone: Milestone) -> Problem | None:
    return first(
        contract_in_force(room.contract),
        in_status(milestone, ACTIVE_OR_SUBMITTED, ErrorCode.MILESTONE_NOT_ACTIVE),
        no_pending_refund_request(room),
        no_open_dispute(room),
    )


def request_refund_refusal(room: RoomState, milestone: Milestone) -> Problem | None:
    return approve_refusal(room, milestone)


def end_contract_refusal(room: RoomState, role: Role | None = Role.CLIENT) -> Problem | None:
    """Ending settles the money held (paid, refunded, or asked back): not while a refund
    request or a dispute already decides it (whatever `payAmount`). On an offer, the client
    withdraws it; the freelancer answers an offer with accept or decline, not by ending it."""
    if room.contract.status is ContractStatus.OFFERED and role is not Role.CLIENT:
        return contract_accepted(room.contract)
    return first(
        contract_open(room.contract), no_pending_refund_request(room), no_open_dispute(room)
    )


def _not_disputable(message: str, field: str | None = None) -> Problem:
    return Problem(ErrorCode.NOT_DISPUTABLE, message, field)


def open_dispute_refusal(
    room: RoomState,
    *,
    refund_request: RefundRequest | None = None,
    milestone: Milestone | None = None,
) -> Problem | None:
    """The freelancer disputes a pending refund request (instead of declining it), or the
    active milestone once it was submitted at least once (the client withholds payment).
    One open dispute per contract; anything else is not disputable."""
    if room.open_dispute_id is not None:
        return no_open_dispute(room)
    if refund_request is not None:
        if refund_request.status is not RefundRequestStatus.PENDING:
            return _not_disputable(
                f"The refund request is {refund_request.status.lower()}, no longer pending.",
                "refund_request_id",
            )
        return None
    if milestone is None:
        return _not_disputable("Name a pending refund request or the active milestone.")
    if room.contract.status is not ContractStatus.ACTIVE:
        return _not_disputable("The contract has ended.", "milestone_id")
    if milestone.status not in ACTIVE_OR_SUBMITTED:
        return _not_disputable(
            f"The milestone is {milestone.status.lower()}: only the active milestone can be "
            "disputed.",
            "milestone_id",
        )
    if milestone.submitted_at is None:
        return _not_disputable(
            "Submit work on the milestone before disputing its payment.", "milestone_id"
        )
    if room.pending_refund_request_id is not None:
        return _not_disputable(
            "A refund request is pending: dispute the refund request instead.", "milestone_id"
        )
    return None


def respond_to_dispute_refusal(dispute: Dispute) -> Problem | None:
    """The client answers a dispute once, while it waits for them."""
    if dispute.status is not DisputeStatus.AWAITING_CLIENT:
        return Problem(
            ErrorCode.NOT_PENDING,
            f"The dispute is {dispute.status.lower().replace('_', ' ')}, no longer awaiting "
            "the client.",
        )
    return None


def resolve_dispute_refusal(dispute: Dispute) -> Problem | None:
    """A mediator decides a dispute in mediation, once."""
    if dispute.status is not DisputeStatus.IN_MEDIATION:
        return Problem(
            ErrorCode.NOT_PENDING,
            f"The dispute is {dispute.status.lower().replace('_', ' ')}, not in mediation.",
        )
    return None


def send_bonus_refusal(room: RoomState) -> Problem | None:
    return contract_in_force(room.contract)


def accept_contract_refusal(contract: Contract) -> Problem | None:
    """The freelancer party accepting the offer (their role is checked before)."""
    return offer_pending(contract)


def decline_contract_refusal(contract: Contract) -> Problem | None:
    """The freelancer party declining the offer (their role is checked before)."""
    return offer_pending(contract)


def request_changes_refusal(
    room: RoomState, changed: Iterable[tuple[int, Milestone]] = ()
) -> Problem | None:
    return first(
        contract_in_force(room.contract), changes_apply(changed), no_pending_change_request(room)
    )


def answer_refusal(contract: Contract, request: ChangeRequest | RefundRequest) -> Problem | None:
    """Responding to, or withdrawing, a change or refund request. A refund request pending
    on an ended contract (the rest of its escrow) is still answered: it moves that money."""
    if isinstance(request, RefundRequest) and request.status is RefundRequestStatus.PENDING:
        return None
    return first(contract_in_force(contract), still_pending(request))


def decline_refund_refusal(contract: Contract, request: RefundRequest) -> Problem | None:
    """The escrow refund of an ended contract is accepted, left to expire or disputed:
    declining it would leave the money held for ever (a VALIDATION problem)."""
    if contract.status is ContractStatus.ENDED and request.status is RefundRequestStatus.PENDING:
        return Problem(
            ErrorCode.VALIDATION,
            "The contract ended: accept the refund, or open a dispute on it.",
            "decision",
        )
    return None


def is_funded(milestone: Milestone) -> bool:
    return milestone.status in FUNDED_STATUSES
