"""A contract room frozen as JSON: what an idempotent replay answers from ("as it was").

It holds every row a payload can reach through the contract (the contract, its milestones,
escrow, pending requests and the changes of the change requests concerned), so nested paths
(`milestone.contract.escrow`) answer as the first response did, not only the top level.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from tortoise.models import Model

from milestones.domain.escrow import Escrow, LedgerSummary, MilestoneMoney, ledger_summary
from milestones.domain.outcome import Outcome
from milestones.models import (
    ChangeRequest,
    Contract,
    Dispute,
    Milestone,
    MilestoneChange,
    RefundRequest,
)
from milestones.models.enums import ChangeRequestStatus, RefundRequestStatus

M = TypeVar("M", bound=Model)


def freeze_row(model: Model) -> dict[str, Any]:
    values = {name: getattr(model, name) for name in model._meta.fields_db_projection}
    loaded: dict[str, Any] = orjson.loads(orjson.dumps(values, default=str))
    return loaded


def thaw_row(model_class: type[M], data: dict[str, Any]) -> M:
    fields = model_class._meta.fields_map
    return model_class(
        **{name: fields[name].to_python_value(value) for name, value in data.items()}
    )


def _maybe(model_class: type[M], data: dict[str, Any] | None) -> M | None:
    return thaw_row(model_class, data) if data is not None else None


@dataclass(frozen=True)
class Room:
    contract: Contract
    milestones: list[Milestone]  # the live ones, in position order
    summary: LedgerSummary
    pending_change_request: ChangeRequest | None
    pending_refund_request: RefundRequest | None
    # Rows by id the payload may point at (a deleted milestone, an answered request).
    other_milestones: list[Milestone] = field(default_factory=list)
    change_requests: list[ChangeRequest] = field(default_factory=list)
    refund_requests: list[RefundRequest] = field(default_factory=list)
    changes: dict[int, list[MilestoneChange]] = field(default_factory=dict)


async def capture(outcome: Outcome) -> dict[str, Any]:
    """The room after the action, and which of its objects the outcome names."""
    contract = outcome.contract
    milestones = list(
        await Milestone.filter(contract_id=contract.id, deleted_at=None).order_by("position")
    )
    summary = await ledger_summary(contract)
    pending_change = await ChangeRequest.get_or_none(
        contract_id=contract.id, status=ChangeRequestStatus.PENDING
    )
    pending_refund = await RefundRequest.get_or_none(
        contract_id=contract.id, status=RefundRequestStatus.PENDING
    )
    change_requests = {r.id: r for r in (pending_change, outcome.change_request) if r is not None}
    refund_requests = {r.id: r for r in (pending_refund, outcome.refund_request) if r is not None}
    changes: dict[int, list[MilestoneChange]] = defaultdict(list)
    if change_requests:
        for change in await MilestoneChange.filter(
            change_request_id__in=list(change_requests)
        ).order_by("change_request_id", "index"):
            changes[change.change_request_id].append(change)
    live = {m.id for m in milestones}
    acted_on = outcome.milestone
    return {
        "contract": freeze_row(contract),
        "milestones": [freeze_row(m) for m in milestones],
        "other_milestones": [freeze_row(acted_on)] if acted_on and acted_on.id not in live else [],
        "escrow": [
            summary.escrow.funded,
            summary.escrow.released,
            summary.escrow.refunded,
            summary.escrow.available,
            summary.escrow.bonus,
        ],
        "money": {
            str(pk): [m.funded, m.released, m.refunded] for pk, m in summary.by_milestone.items()
        },
        "pending_change_request": pending_change.id if pending_change else None,
        "pending_refund_request": pending_refund.id if pending_refund else None,
        "change_requests": [freeze_row(r) for r in change_requests.values()],
        "refund_requests": [freeze_row(r) for r in refund_requests.values()],
        "changes": {str(pk): [freeze_row(c) for c in rows] for pk, rows in changes.items()},
        "dispute": freeze_row(outcome.dispute) if outcome.dispute else None,
        "outcome": {
            "milestone": acted_on.id if acted_on else None,
            "change_request": outcome.change_request.id if outcome.change_request else None,
            "refund_request": outcome.refund_request.id if outcome.refund_request else None,
        },
    }


def restore(data: dict[str, Any]) -> Outcome:
    """The outcome of the first request, with its room for the payload to answer from."""
    # Snapshots kept before bonuses existed have four figures.
    funded, released, refunded, available, *bonus = data["escrow"]
    milestones = [thaw_row(Milestone, row) for row in data["milestones"]]
    others = [thaw_row(Milestone, row) for row in data["other_milestones"]]
    change_requests = {
        r.id: r for r in (thaw_row(ChangeRequest, row) for row in data["change_requests"])
    }
    refund_requests = {
        r.id: r for r in (thaw_row(RefundRequest, row) for row in data["refund_requests"])
    }
    room = Room(
        contract=thaw_row(Contract, data["contract"]),
        milestones=milestones,
        summary=LedgerSummary(
            escrow=Escrow(funded, released, refunded, available, *bonus),
            by_milestone={
                int(pk): MilestoneMoney(*amounts) for pk, amounts in data["money"].items()
            },
        ),
        pending_change_request=change_requests.get(data["pending_change_request"]),
        pending_refund_request=refund_requests.get(data["pending_refund_request"]),
        other_milestones=others,
        change_requests=list(change_requests.values()),
        refund_requests=list(refund_requests.values()),
        changes={
            int(pk): [thaw_row(MilestoneChange, row) for row in rows]
            for pk, rows in data["changes"].items()
        },
    )
    named = data["outcome"]
    by_id = {m.id: m for m in (*milestones, *others)}
    return Outcome(
        contract=room.contract,
        milestone=by_id.get(named["milestone"]) if named["milestone"] else None,
        change_request=change_requests.get(named["change_request"] or 0),
        refund_request=refund_requests.get(named["refund_request"] or 0),
        dispute=_maybe(Dispute, data.get("dispute")),
        room=room,
    )
