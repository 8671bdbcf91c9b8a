"""Per-request DataLoaders: one query per kind of thing, whatever the shape of the query."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader
from tortoise.models import Model

from milestones.domain.escrow import LedgerSummary, ledger_rows, summarize
from milestones.models import (
    ChangeRequest,
    Contract,
    ContractEvent,
    Milestone,
    MilestoneChange,
    RefundRequest,
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


class Loaders:
    def __init__(self) -> None:
        self.user = DataLoader(_by_id(User))
        self.contract = DataLoader(_by_id(Contract))
        self.milestone = DataLoader(_by_id(Milestone))
        self.change_request = DataLoader(_by_id(ChangeRequest))
        self.refund_request = DataLoader(_by_id(RefundRequest))
        self.event = DataLoader(_by_id(ContractEvent))
        self.milestones_of_contract = DataLoader(_milestones_of_contracts)
        self.changes_of_request = DataLoader(_changes_of_requests)
        self.pending_change_request = DataLoader(_pending_change_requests)
        self.pending_refund_request = DataLoader(_pending_refund_requests)
        self.ledger = DataLoader(self._ledgers)

    async def _ledgers(self, keys: Sequence[int]) -> list[LedgerSummary]:
        rows = await ledger_rows(list(keys))
        milestone_lists = await self.milestones_of_contract.load_many(list(keys))
        return [
            summarize(rows.get(key, []), [m.id for m in milestones if m.status in FUNDED_STATUSES])
            for key, milestones in zip(keys, milestone_lists, strict=True)
        ]
