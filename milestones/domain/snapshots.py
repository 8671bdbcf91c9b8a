"""Plain, JSON-able pictures of a contract and milestone as they are now (idempotent replays)."""

from __future__ import annotations

from typing import Any

from milestones.domain.escrow import LedgerSummary
from milestones.models import Contract, Milestone


def contract_snapshot(contract: Contract, summary: LedgerSummary) -> dict[str, Any]:
    escrow = summary.escrow
    return {
        "id": contract.id,
        "title": contract.title,
        "currency": contract.currency,
        "status": str(contract.status),
        "client_id": contract.client_id,
        "freelancer_id": contract.freelancer_id,
        "event_seq": contract.event_seq,
        "created_at": contract.created_at.isoformat(),
        "ended_at": contract.ended_at.isoformat() if contract.ended_at else None,
        "escrow": {
            "funded": escrow.funded,
            "released": escrow.released,
            "refunded": escrow.refunded,
            "available": escrow.available,
        },
    }


def milestone_snapshot(milestone: Milestone, summary: LedgerSummary) -> dict[str, Any]:
    money = summary.of(milestone.id)
    return {
        "id": milestone.id,
        "contract_id": milestone.contract_id,
        "position": milestone.position,
        "title": milestone.title,
        "description": milestone.description,
        "due_date": milestone.due_date.isoformat() if milestone.due_date else None,
        "amount": milestone.amount,
        "status": str(milestone.status),
        "version": milestone.version,
        "created_at": milestone.created_at.isoformat(),
        "updated_at": milestone.updated_at.isoformat(),
        "funded": money.funded,
        "released": money.released,
        "refunded": money.refunded,
    }
