"""A contract room frozen as JSON: what an idempotent replay returns ("as it was")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from tortoise.models import Model

from milestones.domain import rules
from milestones.domain.escrow import Escrow, LedgerSummary, MilestoneMoney, ledger_summary
from milestones.models import ChangeRequest, Contract, Milestone, RefundRequest

M = TypeVar("M", bound=Model)


def _row(model: Model) -> dict[str, Any]:
    values = {name: getattr(model, name) for name in model._meta.fields_db_projection}
    loaded: dict[str, Any] = orjson.loads(orjson.dumps(values, default=str))
    return loaded


def _restore(model_class: type[M], data: dict[str, Any] | None) -> M | None:
    if data is None:
        return None
    fields = model_class._meta.fields_map
    return model_class(
        **{name: fields[name].to_python_value(value) for name, value in data.items()}
    )


@dataclass(frozen=True)
class RoomSnapshot:
    contract: Contract
    milestone: Milestone
    milestones: list[Milestone]
    summary: LedgerSummary
    pending_change_request: ChangeRequest | None
    pending_refund_request: RefundRequest | None

    @classmethod
    async def capture(cls, contract: Contract, milestone: Milestone) -> RoomSnapshot:
        return cls(
            contract=contract,
            milestone=milestone,
            milestones=list(
                await Milestone.filter(contract_id=contract.id, deleted_at=None).order_by(
                    "position"
                )
            ),
            summary=await ledger_summary(contract),
            pending_change_request=await rules.pending_change_request(contract),
            pending_refund_request=await rules.pending_refund_request(contract),
        )

    @classmethod
    async def json_of(cls, contract: Contract, milestone: Milestone) -> dict[str, Any]:
        return (await cls.capture(contract, milestone)).to_json()

    def to_json(self) -> dict[str, Any]:
        escrow = self.summary.escrow
        return {
            "contract": _row(self.contract),
            "milestone": _row(self.milestone),
            "milestones": [_row(m) for m in self.milestones],
            "escrow": [escrow.funded, escrow.released, escrow.refunded, escrow.available],
            "money": {
                str(pk): [m.funded, m.released, m.refunded]
                for pk, m in self.summary.by_milestone.items()
            },
            "pending_change_request": (
                _row(self.pending_change_request) if self.pending_change_request else None
            ),
            "pending_refund_request": (
                _row(self.pending_refund_request) if self.pending_refund_request else None
            ),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RoomSnapshot:
        funded, released, refunded, available = data["escrow"]
        contract = _restore(Contract, data["contract"])
        milestone = _restore(Milestone, data["milestone"])
        assert contract is not None and milestone is not None
        return cls(
            contract=contract,
            milestone=milestone,
            milestones=[m for m in (_restore(Milestone, row) for row in data["milestones"]) if m],
            summary=LedgerSummary(
                escrow=Escrow(funded, released, refunded, available),
                by_milestone={
                    int(pk): MilestoneMoney(*amounts) for pk, amounts in data["money"].items()
                },
            ),
            pending_change_request=_restore(ChangeRequest, data["pending_change_request"]),
            pending_refund_request=_restore(RefundRequest, data["pending_refund_request"]),
        )
