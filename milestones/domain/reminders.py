"""Deadline reminders: `REMINDER_BEFORE` ahead of a deadline, whoever must act is told once.

A kind of reminder is a row in `REMINDERS`: which table holds the deadline, the column that
says when to remind (set with the deadline, None when the window is shorter than the lead),
which rows still wait for someone (an SQL condition over the row, alias `t`), which party must
act and the sentence. Another deadline (a dispute's `respondBy`) is one more `register(...)`.

Claiming is one transaction per batch: the due rows are selected `FOR UPDATE SKIP LOCKED` on
PostgreSQL (under the process lock on SQLite), their reminder column is cleared and the
notifications are written before commit, so however many instances look, each reminder goes
out exactly once. A row whose deadline already passed is claimed silently (no late reminder);
a row that no longer waits (approved, rejected, answered) never matches.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tortoise import connections

from milestones.domain import clock, events
from milestones.domain.access import Role
from milestones.domain.transaction import action
from milestones.domain.values import cents_to_decimal
from milestones.models import Contract, Milestone

# A review deadline waits while no refund request is pending and no dispute is open on the
# contract (they pause it), and only on a contract that has not ended.
REVIEW_NOT_PAUSED = [
    "NOT EXISTS (SELECT 1 FROM refund_requests AS p "
    "WHERE p.contract_id = t.contract_id AND p.status = 'PENDING')",
    "NOT EXISTS (SELECT 1 FROM disputes AS q "
    "WHERE q.contract_id = t.contract_id AND q.status IN ('AWAITING_CLIENT', 'IN_MEDIATION'))",
    "NOT EXISTS (SELECT 1 FROM contracts AS c WHERE c.id = t.contract_id AND c.status = 'ENDED')",
]


def review_waiting() -> str:
    return " AND ".join(["t.status = 'SUBMITTED'", "t.deleted_at IS NULL", *REVIEW_NOT_PAUSED])


@dataclass(frozen=True, slots=True)
class ReminderKind:
    name: str
    table: str
    remind_column: str  # when to remind; cleared once reminded
    deadline_column: str
    waiting: Callable[[], str]  # SQL: the row still waits for someone to act (alias `t`)
    party: Role  # who must act
    # `{where}` (“milestone” of “contract”, or “contract”), `{deadline}` and `{amount}`.
    sentence: str
    milestone_column: str | None = None  # the milestone it concerns
    refund_request_column: str | None = None
    dispute_column: str | None = None
    amount_column: str | None = None


REMINDERS: list[ReminderKind] = []


def register(kind: ReminderKind) -> None:
    REMINDERS.append(kind)


register(
    ReminderKind(
        name="review",
        table="milestones",
        remind_column="review_remind_at",
        deadline_column="review_deadline",
        waiting=review_waiting,
        party=Role.CLIENT,
        sentence="Reminder: approve or reject the work on {where} by {deadline}, or its money "
        "is released to the freelancer",
        milestone_column="id",
    )
)
register(
    ReminderKind(
        name="refund request",
        table="refund_requests",
        remind_column="remind_at",
        deadline_column="respond_by",
        waiting=lambda: "t.status = 'PENDING'",
        party=Role.FREELANCER,
        sentence="Reminder: answer the refund request of {amount} on {where} by {deadline}, or "
        "it is accepted",
        milestone_column="milestone_id",
        refund_request_column="id",
        amount_column="amount",
    )
)
register(
    ReminderKind(
        name="dispute",
        table="disputes",
        remind_column="remind_at",
        deadline_column="respond_by",
        waiting=lambda: "t.status = 'AWAITING_CLIENT'",
        party=Role.CLIENT,
        sentence="Reminder: answer the dispute over {amount} on {where} by {deadline}, or "
        "that amount is released to the freelancer",
        milestone_column="milestone_id",
        refund_request_column="refund_request_id",
        dispute_column="id",
        amount_column="amount",
    )
)


def when(value: Any) -> dt.datetime | None:
    """A timestamp as the driver returns it (SQLite: text) as an aware datetime."""
    if value is None:
        return None
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, dt.datetime)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def deadline_text(deadline: dt.datetime) -> str:
    return deadline.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def next_reminder_sql() -> list[str]:
    """One scalar subquery per kind: its earliest reminder still to send."""
    return [
        f"SELECT min(t.{kind.remind_column}) FROM {kind.table} AS t "
        f"WHERE t.{kind.remind_column} IS NOT NULL AND {kind.waiting()}"
        for kind in REMINDERS
    ]


def recipients(contract: Contract, party: Role) -> list[int]:
    person = contract.client_id if party is Role.CLIENT else contract.freelancer_id
    return [person] if person is not None else []


async def send_due_reminders(now: dt.datetime | None = None, limit: int = 100) -> int:
    """Claim and send the reminders that are due; how many rows were claimed."""
    moment = now or clock.now()
    claimed = 0
    for kind in REMINDERS:
        claimed += await _send(kind, moment, limit)
    return claimed


async def _send(kind: ReminderKind, moment: dt.datetime, limit: int) -> int:
    async with action() as transaction:
        connection = connections.get("default")
        postgres = transaction.postgres
        mark = "$1" if postgres else "?"
        columns = ", ".join(
            f"t.{column} AS {alias}" if column else f"NULL AS {alias}"
            for column, alias in (
                (kind.deadline_column, "deadline"),
                (kind.milestone_column, "milestone_id"),
                (kind.refund_request_column, "refund_request_id"),
                (kind.dispute_column, "dispute_id"),
                (kind.amount_column, "amount"),
            )
        )
        select = (
            f"SELECT t.id, t.contract_id, {columns} FROM {kind.table} AS t "
            f"WHERE t.{kind.remind_column} <= {mark} AND {kind.waiting()} "
            f"ORDER BY t.{kind.remind_column} LIMIT {int(limit)}"
            + (" FOR UPDATE OF t SKIP LOCKED" if postgres else "")
        )
        rows = await connection.execute_query_dict(select, [moment])
        if not rows:
            return 0
        ids = ", ".join(str(int(row["id"])) for row in rows)
        await connection.execute_query(
            f"UPDATE {kind.table} SET {kind.remind_column} = NULL WHERE id IN ({ids})"
        )
        due = [row for row in rows if (when(row["deadline"]) or moment) > moment]
        contracts = {
            contract.id: contract
            for contract in await Contract.filter(id__in={row["contract_id"] for row in due})
        }
        titles = dict(
            await Milestone.filter(
                id__in={row["milestone_id"] for row in due if row["milestone_id"]}
            ).values_list("id", "title")
        )
        for row in due:
            contract = contracts[row["contract_id"]]
            deadline = when(row["deadline"])
            assert deadline is not None
            message = (
                kind.sentence.format(
                    where=(
                        f"“{titles[row['milestone_id']]}” of “{contract.title}”"
                        if row["milestone_id"] in titles
                        else f"“{contract.title}”"
                    ),
                    deadline=deadline_text(deadline),
                    amount=_money(row["amount"], contract.currency),
                )
                + "."
            )
            await events.remind(
                transaction,
                contract,
                recipients(contract, kind.party),
                message,
                deadline,
                milestone_id=row["milestone_id"],
                refund_request_id=row["refund_request_id"],
                dispute_id=row["dispute_id"],
            )
        return len(rows)


def _money(amount: int | None, currency: str) -> str:
    return f"{cents_to_decimal(amount or 0)} {currency}"
