"""Per-request DataLoaders: one query per kind of thing, whatever the shape of the query."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterable, Sequence
from functools import cached_property
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader
from tortoise.models import Model

from milestones.domain.escrow import LedgerSummary, ledger_rows, ledger_summaries, summarize
from milestones.domain.rules import RoomState, load_room_states
from milestones.domain.snapshots import Room
from milestones.models import (
    Attachment,
    ChangeRequest,
    Contract,
    ContractEvent,
    Milestone,
    MilestoneChange,
    RefundRequest,
    Submission,
    Team,
    TeamMember,
    User,
)
from milestones.models.enums import FUNDED_STATUSES, ChangeRequestStatus, RefundRequestStatus

M = TypeVar("M", bound=Model)
K = TypeVar("K")
V = TypeVar("V")


def _by_id(model: type[M]) -> Callable[[Sequence[int]], Coroutine[Any, Any, list[M | None]]]:
    async def load(keys: Sequence[int]) -> list[M | None]:
        found = {obj.pk: obj for obj in await model.filter(id__in=list(keys))}
        return [found.get(key) for key in keys]

    return load


async def _milestones_of_contracts(keys: Sequence[int]) -> list[list[Milestone]]:
    grouped: dict[int, list[Milestone]] = defaultdict(list)
    for milestone in await Milestone.filter(contract_id__in=list(keys), deleted_at=None).order_by(
        "position"
    ):
        grouped[milestone.contract_id].append(milestone)
    return [grouped[key] for key in keys]


async def _changes_of_requests(keys: Sequence[int]) -> list[list[MilestoneChange]]:
    grouped: dict[int, list[MilestoneChange]] = defaultdict(list)
    for change in await MilestoneChange.filter(change_request_id__in=list(keys)).order_by(
        "change_request_id", "index"
    ):
        grouped[change.change_request_id].append(change)
    return [grouped[key] for key in keys]


async def _pending_change_requests(keys: Sequence[int]) -> list[ChangeRequest | None]:
    found = {
        cr.contract_id: cr
        for cr in await ChangeRequest.filter(
            contract_id__in=list(keys), status=ChangeRequestStatus.PENDING
        )
    }
    return [found.get(key) for key in keys]


async def _pending_refund_requests(keys: Sequence[int]) -> list[RefundRequest | None]:
    found = {
        rr.contract_id: rr
        for rr in await RefundRequest.filter(
            contract_id__in=list(keys), status=RefundRequestStatus.PENDING
        )
    }
    return [found.get(key) for key in keys]


async def _members_of_teams(keys: Sequence[int]) -> list[list[TeamMember]]:
    grouped: dict[int, list[TeamMember]] = defaultdict(list)
    for member in await TeamMember.filter(team_id__in=list(keys)).order_by("id"):
        grouped[member.team_id].append(member)
    return [grouped[key] for key in keys]


async def _memberships_of_users(keys: Sequence[int]) -> list[dict[int, str]]:
    grouped: dict[int, dict[int, str]] = defaultdict(dict)
    for user_id, team_id, role in await TeamMember.filter(user_id__in=list(keys)).values_list(
        "user_id", "team_id", "role"
    ):
        grouped[user_id][team_id] = str(role)
    return [grouped[key] for key in keys]


async def _submissions_of_milestones(keys: Sequence[int]) -> list[list[Submission]]:
    grouped: dict[int, list[Submission]] = defaultdict(list)
    for submission in await Submission.filter(milestone_id__in=list(keys)).order_by(
        "milestone_id", "id"
    ):
        grouped[submission.milestone_id].append(submission)
    return [grouped[key] for key in keys]


async def _attachments_of_submissions(keys: Sequence[int]) -> list[list[Attachment]]:
    grouped: dict[int, list[Attachment]] = defaultdict(list)
    for attachment in await Attachment.filter(submission_id__in=list(keys)).order_by(
        "submission_id", "position"
    ):
        grouped[attachment.submission_id].append(attachment)
    return [grouped[key] for key in keys]


class Loaders:
    """Each loader is made on first use: a subscription resets its loaders for every event it
    delivers, and most deliveries touch none of them."""

    @cached_property
    def user(self) -> DataLoader[int, User | None]:
        return DataLoader(_by_id(User))

    @cached_property
    def team(self) -> DataLoader[int, Team | None]:
        return DataLoader(_by_id(Team))

    @cached_property
    def members_of_team(self) -> DataLoader[int, list[TeamMember]]:
        return DataLoader(_members_of_teams)

    @cached_property
    def memberships(self) -> DataLoader[int, dict[int, str]]:
        """A user's role by team id (the viewer's, for `access_in`): read once a request."""
        return DataLoader(_memberships_of_users)

    @cached_property
    def contract(self) -> DataLoader[int, Contract | None]:
        return DataLoader(_by_id(Contract))

    @cached_property
    def milestone(self) -> DataLoader[int, Milestone | None]:
        return DataLoader(_by_id(Milestone))

    @cached_property
    def change_request(self) -> DataLoader[int, ChangeRequest | None]:
        return DataLoader(_by_id(ChangeRequest))

    @cached_property
    def refund_request(self) -> DataLoader[int, RefundRequest | None]:
        return DataLoader(_by_id(RefundRequest))

    @cached_property
    def event(self) -> DataLoader[int, ContractEvent | None]:
        return DataLoader(_by_id(ContractEvent))

    @cached_property
    def milestones_of_contract(self) -> DataLoader[int, list[Milestone]]:
        return DataLoader(_milestones_of_contracts)

    @cached_property
    def changes_of_request(self) -> DataLoader[int, list[MilestoneChange]]:
        return DataLoader(_changes_of_requests)

    @cached_property
    def submissions_of_milestone(self) -> DataLoader[int, list[Submission]]:
        return DataLoader(_submissions_of_milestones)

    @cached_property
    def attachments_of_submission(self) -> DataLoader[int, list[Attachment]]:
        return DataLoader(_attachments_of_submissions)

    @cached_property
    def pending_change_request(self) -> DataLoader[int, ChangeRequest | None]:
        return DataLoader(_pending_change_requests)

    @cached_property
    def pending_refund_request(self) -> DataLoader[int, RefundRequest | None]:
        return DataLoader(_pending_refund_requests)

    @cached_property
    def room_state(self) -> DataLoader[int, RoomState]:
        """What is pending or funded in each contract, as the actions' rules read it: once per
        contract and request, however many flags ask."""
        return DataLoader(self._room_states)

    async def _room_states(self, keys: Sequence[int]) -> list[RoomState]:
        found = await self.contract.load_many(list(keys))
        contracts = [contract for contract in found if contract is not None]
        assert len(contracts) == len(keys), "a room's state is asked only of a shown contract"
        return await load_room_states(contracts)

    def prime_room(self, room: Room) -> None:
        """Answer from a frozen room (an idempotent replay): every path through the contract
        shows it as it was, whatever changed since."""
        contract_pk = room.contract.id
        self.contract.prime(contract_pk, room.contract, force=True)
        self.milestones_of_contract.prime(contract_pk, list(room.milestones), force=True)
        for milestone in (*room.milestones, *room.other_milestones):
            self.milestone.prime(milestone.id, milestone, force=True)
        self.ledger.prime(contract_pk, room.summary, force=True)
        self.pending_change_request.prime(contract_pk, room.pending_change_request, force=True)
        self.pending_refund_request.prime(contract_pk, room.pending_refund_request, force=True)
        for change_request in room.change_requests:
            self.change_request.prime(change_request.id, change_request, force=True)
        for refund_request in room.refund_requests:
            self.refund_request.prime(refund_request.id, refund_request, force=True)
        for change_request_pk, changes in room.changes.items():
            self.changes_of_request.prime(change_request_pk, list(changes), force=True)
        funded = next((m.id for m in room.milestones if m.status in FUNDED_STATUSES), None)
        state = RoomState(
            room.contract,
            room.pending_change_request.id if room.pending_change_request else None,
            room.pending_refund_request.id if room.pending_refund_request else None,
            funded,
        )
        self.room_state.prime(contract_pk, state, force=True)

    @cached_property
    def ledger(self) -> DataLoader[int, LedgerSummary]:
        return DataLoader(self._ledgers)

    @cached_property
    def checked_ledgers(self) -> dict[int, LedgerSummary]:
        """By contract: the focused summary a mutation checked after its last ledger entry,
        for its payload (`money`)."""
        return {}

    def checked_money(
        self, contract_pk: int, milestone_ids: Iterable[int] = ()
    ) -> LedgerSummary | None:
        """What the action checked, when that covers the milestones `milestone_ids`."""
        checked = self.checked_ledgers.get(contract_pk)
        if checked is not None and all(checked.covers(pk) for pk in milestone_ids):
            return checked
        return None

    async def money(self, contract_pk: int, milestone_ids: Iterable[int] = ()) -> LedgerSummary:
        """The contract's money, enough to show the milestones `milestone_ids`: what the action
        checked when that covers them (no statement), else the whole ledger (`ledger`)."""
        checked = self.checked_money(contract_pk, milestone_ids)
        return checked if checked is not None else await self.ledger.load(contract_pk)

    async def _ledgers(self, keys: Sequence[int]) -> list[LedgerSummary]:
        """One statement. A room loads its milestones anyway: their statuses say which are
        funded; otherwise (a mutation's payload) the same statement says it, rather than a
        second one or a read of every milestone of the contract."""
        milestones = self.__dict__.get("milestones_of_contract")
        if milestones is not None and all(milestones.cache_map.get(k) for k in keys):
            rows = await ledger_rows(list(keys))
            lists = await milestones.load_many(list(keys))
            return [
                summarize(rows.get(key, []), [m.id for m in found if m.status in FUNDED_STATUSES])
                for key, found in zip(keys, lists, strict=True)
            ]
        summaries = await ledger_summaries(list(keys))
        return [summaries[key] for key in keys]
