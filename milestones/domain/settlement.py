"""Where a milestone's money ends up: its status moves, and held money is paid out or given
back, the active milestone's first, then the contract's `available` balance.

One place for "a milestone that gave back the rest of its money ends RELEASED if anything of it
was released, REFUNDED otherwise", shared by refunds, endings, disputes and the deadlines.
"""

from __future__ import annotations

from typing import Any

from tortoise import timezone

from milestones.domain import clock, escrow
from milestones.domain.bulk import Update, instance_update, run_updates
from milestones.domain.transaction import Action, send_or_carry
from milestones.models import Contract, Milestone
from milestones.models.enums import FUNDED_STATUSES, LedgerKind, MilestoneStatus


def status_change(milestone: Milestone, status: MilestoneStatus, **columns: Any) -> Update:
    """Move the milestone to `status` with `columns` (its times), on the object now; the
    UPDATE that writes it, to send (`run_updates`, or with an insert: `insert_many`)."""
    milestone.status = status
    for name, value in columns.items():
        setattr(milestone, name, value)
    milestone.version += 1
    milestone.updated_at = timezone.now()
    return instance_update(milestone, ["status", *columns, "version", "updated_at"])


async def set_status(
    milestone: Milestone, status: MilestoneStatus, *, carry: Action | None = None, **columns: Any
) -> None:
    """Move the milestone to `status`, writing `columns` (its times) with it. `carry`: on
    PostgreSQL, the action whose next event's statement writes it (`Action.carried`); the
    caller records that event next."""
    await send_or_carry([status_change(milestone, status, **columns)], carry)


def settled(milestone: Milestone, status: MilestoneStatus) -> Update:
    """RELEASED or REFUNDED: no review deadline any more (`status_change`)."""
    released_at = clock.now() if status is MilestoneStatus.RELEASED else None
    return status_change(
        milestone, status, released_at=released_at, review_deadline=None, review_remind_at=None
    )


async def settle(milestone: Milestone, status: MilestoneStatus) -> None:
    await run_updates([settled(milestone, status)])


async def move_held(
    contract: Contract, milestone: Milestone | None, *, release: int, refund: int
) -> None:
    """Pay `release` to the freelancer and give `refund` back to the client out of the money
    held: the milestone's funds first, then `available`. A funded milestone left holding
    nothing is settled (RELEASED if anything of it was ever released, else REFUNDED).
    The caller's rules keep `release + refund` within what is held; `assert_conserved`
    rolls the action back otherwise. Nothing to move: nothing is read or written."""
    if release == 0 and refund == 0:
        return
    money = escrow.MilestoneMoney()
    if milestone is not None:
        money = (await escrow.ledger_summary(contract, about=[milestone.id])).of(milestone.id)
    in_milestone = money.in_escrow
    from_milestone = min(release, in_milestone)
    refund_from_milestone = min(refund, in_milestone - from_milestone)
    pk = milestone.id if milestone is not None else None
    await escrow.append_entries(
        contract,
        [
            (LedgerKind.RELEASE, from_milestone, pk),
            (LedgerKind.RELEASE, release - from_milestone, None),
            (LedgerKind.REFUND, refund_from_milestone, pk),
            (LedgerKind.REFUND, refund - refund_from_milestone, None),
        ],
    )
    left = in_milestone - from_milestone - refund_from_milestone
    if milestone is not None and milestone.status in FUNDED_STATUSES and left == 0:
        released = money.released + from_milestone > 0
        await settle(milestone, MilestoneStatus.RELEASED if released else MilestoneStatus.REFUNDED)
    await escrow.assert_conserved(contract, milestone)
