"""A hand-written, minimal asyncpg implementation of `activateMilestone` and `approveMilestone`
(a full release), for the mutations benchmark's second baseline.

It does what the project's two actions do to the database, with nothing else around them: one
transaction each; the viewer found by token subject; the contract locked (`FOR UPDATE`, found
through the milestone) and the milestone read under the lock; the same refusals checked (the
viewer is the client, the contract is active, the milestone's state, nothing else funded, no
pending change or refund request, no open dispute); the same ledger rows (deposit and
allocation; release), the milestone's new state, the contract's next event and the
freelancer's next notification (their sequence locked and bumped). Seven statements per action;
what it leaves out is what a GraphQL API adds on top: the payload read back, idempotency,
webhooks and email (none configured in the benchmark), wake-ups.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import asyncpg

VIEWER = "SELECT id FROM users WHERE sub = $1"
LOCK = (
    "SELECT id, client_id, freelancer_id, status FROM contracts WHERE id = "
    "(SELECT contract_id FROM milestones WHERE id = $1 AND deleted_at IS NULL) FOR UPDATE"
)
# The milestone under the lock, what refuses the action, and the money: one statement.
STATE = """
SELECT m.status, m.amount, m.title,
  EXISTS (SELECT 1 FROM milestones o WHERE o.contract_id = $2 AND o.id <> $1
          AND o.status IN ('ACTIVE', 'SUBMITTED') AND o.deleted_at IS NULL) AS other_funded,
  EXISTS (SELECT 1 FROM change_requests WHERE contract_id = $2 AND status = 'PENDING')
    OR EXISTS (SELECT 1 FROM refund_requests WHERE contract_id = $2 AND status = 'PENDING')
    OR EXISTS (SELECT 1 FROM disputes WHERE contract_id = $2
               AND status IN ('AWAITING_CLIENT', 'IN_MEDIATION'))
    AS blocked,
  COALESCE((SELECT SUM(CASE kind WHEN 'DEPOSIT' THEN amount WHEN 'ALLOCATE' THEN 0
                                  ELSE -amount END)
            FROM ledger_entries WHERE contract_id = $2 AND kind <> 'BONUS'), 0)
    - COALESCE((SELECT SUM(CASE WHEN l.kind = 'ALLOCATE' THEN l.amount ELSE -l.amount END)
                FROM ledger_entries l JOIN milestones f ON f.id = l.milestone_id
                WHERE l.contract_id = $2 AND f.status IN ('ACTIVE', 'SUBMITTED')
                  AND f.deleted_at IS NULL AND l.kind IN ('ALLOCATE', 'RELEASE', 'REFUND')), 0)
    AS available,
  COALESCE((SELECT SUM(CASE WHEN kind = 'ALLOCATE' THEN amount ELSE -amount END)
            FROM ledger_entries WHERE milestone_id = $1
              AND kind IN ('ALLOCATE', 'RELEASE', 'REFUND')), 0) AS held
FROM milestones m WHERE m.id = $1
"""
LEDGER = (
    "INSERT INTO ledger_entries (contract_id, milestone_id, kind, amount, created_at)"
    " SELECT $1, m, k, a, now() FROM unnest($2::int[], $3::text[], $4::bigint[]) AS e(m, k, a)"
    " WHERE a > 0"
)
MILESTONE = (
    "UPDATE milestones SET status = $2, activated_at = COALESCE($3, activated_at),"
    " released_at = COALESCE($4, released_at), review_deadline = NULL, review_remind_at = NULL,"
    " version = version + 1, updated_at = now() WHERE id = $1"
)
EVENT = (
    "WITH next AS (UPDATE contracts SET event_seq = event_seq + 1 WHERE id = $1"
    " RETURNING event_seq)"
    " INSERT INTO contract_events (contract_id, seq, kind, actor_id, milestone_id, amount,"
    " occurred_at) SELECT $1, event_seq, $2, $3, $4, $5, now() FROM next RETURNING id"
)
NOTIFICATION = (
    "WITH next AS (UPDATE users SET notification_seq = notification_seq + 1 WHERE id = $1"
    " RETURNING id, notification_seq)"
    " INSERT INTO notifications (recipient_id, seq, kind, message, actor_id, contract_id,"
    " event_id, milestone_id, amount, created_at)"
    " SELECT id, notification_seq, $2, $3, $4, $5, $6, $7, $8, now() FROM next"
)
# Each action sends each of the statements above once (BEGIN and COMMIT aside).
STATEMENTS = len((VIEWER, LOCK, STATE, LEDGER, MILESTONE, EVENT, NOTIFICATION))


class Refused(RuntimeError):
    """The action was refused: the benchmark's cycles never should be."""


@dataclass(frozen=True, slots=True)
class _Locked:
    viewer: int
    contract: asyncpg.Record
    state: asyncpg.Record


async def _lock(connection: asyncpg.Connection, sub: str, milestone: int) -> _Locked:
    viewer = await connection.fetchval(VIEWER, sub)
    contract = await connection.fetchrow(LOCK, milestone)
    if viewer is None or contract is None:
        raise Refused("NOT_FOUND")
    if contract["client_id"] != viewer:
        raise Refused("FORBIDDEN")
    if contract["status"] != "ACTIVE":
        raise Refused("CONTRACT_ENDED")
    state = await connection.fetchrow(STATE, milestone, contract["id"])
    if state["blocked"]:
        raise Refused("PENDING")
    return _Locked(viewer, contract, state)


async def _record(
    connection: asyncpg.Connection, locked: _Locked, milestone: int, kind: str, message: str
) -> None:
    contract, amount = locked.contract, locked.state["amount"]
    event = await connection.fetchval(EVENT, contract["id"], kind, locked.viewer, milestone, amount)
    await connection.execute(
        NOTIFICATION,
        contract["freelancer_id"],
        kind,
        message,
        locked.viewer,
        contract["id"],
        event,
        milestone,
        amount,
    )


async def activate(connection: asyncpg.Connection, sub: str, milestone: int) -> None:
    async with connection.transaction():
        locked = await _lock(connection, sub, milestone)
        state = locked.state
        if state["status"] != "UPCOMING" or state["other_funded"]:
            raise Refused("NOT_UPCOMING")
        deposit = max(0, state["amount"] - state["available"])
        await connection.execute(
            LEDGER,
            locked.contract["id"],
            [None, milestone],
            ["DEPOSIT", "ALLOCATE"],
            [deposit, state["amount"]],
        )
        await connection.execute(MILESTONE, milestone, "ACTIVE", _now(), None)
        await _record(
            connection, locked, milestone, "MILESTONE_ACTIVATED", f"Funded “{state['title']}”"
        )


async def approve(connection: asyncpg.Connection, sub: str, milestone: int) -> None:
    async with connection.transaction():
        locked = await _lock(connection, sub, milestone)
        state = locked.state
        if state["status"] not in ("ACTIVE", "SUBMITTED") or state["held"] <= 0:
            raise Refused("NOT_FUNDED")
        await connection.execute(
            LEDGER, locked.contract["id"], [milestone], ["RELEASE"], [state["held"]]
        )
        await connection.execute(MILESTONE, milestone, "RELEASED", None, _now())
        await _record(
            connection, locked, milestone, "MILESTONE_APPROVED", f"Released “{state['title']}”"
        )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def minimal_block(connection: asyncpg.Connection, sub: str, milestones: list[int]) -> float:
    """Seconds for an activate -> approve cycle over each of `milestones`, on `connection`."""
    started = time.perf_counter()
    for milestone in milestones:
        await activate(connection, sub, milestone)
        await approve(connection, sub, milestone)
    return time.perf_counter() - started
