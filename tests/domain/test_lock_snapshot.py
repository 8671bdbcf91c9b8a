"""On PostgreSQL an action locks its contract and reads the object and the room in one
statement (`rules.lock_with_room_state`). The read sees the statement's snapshot, taken before
the lock is granted: when another action held the lock and committed meanwhile, the snapshot is
stale, and the action must read again. Here another transaction holds the lock, changes the
room and commits while the action waits for it; the action must act on the room as that commit
left it.

Every action that changes a room updates its contract's row (its event's seq, or
`Action.mark_changed`): that update is how the waiting action knows. The last tests check that
an action which records no event still makes it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from milestones.config import Settings
from milestones.domain import commands, milestones
from milestones.domain.access import Role
from milestones.domain.acting import Act, contract_action, the_milestone
from milestones.domain.errors import DomainError, ErrorCode
from milestones.domain.outcome import Outcome
from milestones.live.brokers import asyncpg_dsn
from milestones.models import Milestone
from milestones.models.enums import MilestoneStatus
from tests.conftest import is_postgres_url
from tests.domain.conftest import MakeRoom, People, Room


@pytest.fixture
async def holder(settings: Settings, db: None) -> AsyncIterator[asyncpg.Connection]:
    """Another connection to the test database: the other transaction."""
    if not is_postgres_url(settings.database_url):
        pytest.skip("PostgreSQL's row locks (SQLite runs one action at a time)")
    connection = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        yield connection
    finally:
        await connection.close()


async def _waiting_for_the_lock(
    holder: asyncpg.Connection, task: asyncio.Task[object], waiters: int = 1
) -> None:
    """Until `waiters` backends other than `holder`'s wait on a lock (the actions' statements,
    `task` the last one started)."""
    for _ in range(500):
        # (A transaction reads the activity view once unless told to read it again.)
        await holder.execute("SELECT pg_stat_clear_snapshot()")
        waiting = await holder.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database() AND pid <> pg_backend_pid()"
        )
        if waiting >= waiters:
            return
        assert not task.done(), f"the action did not wait: {task}"
        await asyncio.sleep(0.01)
    raise AssertionError(f"the action never waited for the contract's lock: {task}")


async def _holding_the_lock(holder: asyncpg.Connection, contract_id: int) -> None:
    await holder.execute("SELECT id FROM contracts WHERE id = $1 FOR UPDATE", contract_id)


def _activating(people: People, milestone_id: int) -> asyncio.Task[Outcome]:
    return asyncio.create_task(
        milestones.activate_milestone(
            people.client, commands.ActivateMilestone(milestone_id=milestone_id)
        )
    )


async def _refusal_after_a_change(
    holder: asyncpg.Connection, people: People, room: Room, change: str, changed: int, acted: int
) -> list[ErrorCode]:
    """Activating the milestone `acted` while `holder` holds the contract's lock and has run
    `change` on the milestone `changed` (and updated the contract's row, as every action that
    changes a room does), committed while the activation waits: the refusal's codes."""
    async with holder.transaction():
        await _holding_the_lock(holder, room.contract.id)
        await holder.execute(change, room.milestone_id(changed))
        await holder.execute(
            "UPDATE contracts SET event_seq = event_seq WHERE id = $1", room.contract.id
        )
        waiting = _activating(people, room.milestone_id(acted))
        await _waiting_for_the_lock(holder, waiting)
    with pytest.raises(DomainError) as refused:
        await waiting
    return [problem.code for problem in refused.value.problems]


async def test_a_milestone_funded_while_the_action_waited_refuses_it(
    make_room: MakeRoom, people: People, holder: asyncpg.Connection
) -> None:
    room = await make_room(500, 700)
    funded = "UPDATE milestones SET status = 'ACTIVE' WHERE id = $1"
    codes = await _refusal_after_a_change(holder, people, room, funded, changed=0, acted=1)
    assert codes == [ErrorCode.ANOTHER_MILESTONE_ACTIVE]
    second = await Milestone.get(id=room.milestone_id(1))
    assert second.status is MilestoneStatus.UPCOMING


async def test_a_milestone_deleted_while_the_action_waited_is_not_found(
    make_room: MakeRoom, people: People, holder: asyncpg.Connection
) -> None:
    room = await make_room(500)
    deleted = "UPDATE milestones SET deleted_at = now() WHERE id = $1"
    codes = await _refusal_after_a_change(holder, people, room, deleted, changed=0, acted=0)
    assert codes == [ErrorCode.NOT_FOUND]


async def test_an_action_that_waited_for_another_one_acts_on_what_it_left(
    make_room: MakeRoom, people: People, holder: asyncpg.Connection
) -> None:
    """Two real actions: the second waits for the first's lock, then is refused."""
    room = await make_room(500, 700)
    async with holder.transaction():
        await _holding_the_lock(holder, room.contract.id)
        first = _activating(people, room.milestone_id(0))
        await _waiting_for_the_lock(holder, first)
        second = _activating(people, room.milestone_id(1))
        await _waiting_for_the_lock(holder, second, waiters=2)
    results = await asyncio.gather(first, second, return_exceptions=True)
    funded = [r for r in results if isinstance(r, Outcome)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(funded) == 1 and len(refused) == 1, results
    assert [problem.code for problem in refused[0].problems] == [ErrorCode.ANOTHER_MILESTONE_ACTIVE]


@contract_action(the_milestone, role=Role.CLIENT, doing="mark milestones")
async def _mark_without_an_event(act: Act[commands.ActivateMilestone, Milestone]) -> Outcome:
    """A room change that records no event (no action does today; one may tomorrow)."""
    await Milestone.filter(id=act.target.id).update(status=MilestoneStatus.ACTIVE)
    return Outcome(act.contract, act.target)


async def test_an_action_that_records_no_event_still_updates_its_contracts_row(
    make_room: MakeRoom, people: People, holder: asyncpg.Connection
) -> None:
    marked = await make_room(500)
    version = "SELECT xmin::text FROM contracts WHERE id = $1"
    before = await holder.fetchval(version, marked.contract.id)
    await _mark_without_an_event(
        people.client, commands.ActivateMilestone(milestone_id=marked.milestone_id(0))
    )
    assert await holder.fetchval(version, marked.contract.id) != before
    # And so an action that waited for it sees its change.
    room = await make_room(500)
    async with holder.transaction():
        await _holding_the_lock(holder, room.contract.id)
        marking = asyncio.create_task(
            _mark_without_an_event(
                people.client, commands.ActivateMilestone(milestone_id=room.milestone_id(0))
            )
        )
        await _waiting_for_the_lock(holder, marking)
        waiting = _activating(people, room.milestone_id(0))
        await _waiting_for_the_lock(holder, waiting, waiters=2)
    await marking  # first in the lock's queue
    with pytest.raises(DomainError) as refused:
        await waiting
    assert [problem.code for problem in refused.value.problems] == [
        ErrorCode.MILESTONE_NOT_UPCOMING
    ]


async def test_an_action_that_recorded_an_event_sends_no_further_update(
    make_room: MakeRoom, people: People, holder: asyncpg.Connection
) -> None:
    from bench.sql_log import statement_log

    room = await make_room(500)
    with statement_log() as log:
        await milestones.activate_milestone(
            people.client, commands.ActivateMilestone(milestone_id=room.milestone_id(0))
        )
    sent = [statement.sql for statement in log.statements]
    # The event's statement updates the contract's row (its seq): no UPDATE of its own.
    assert not any(sql.lstrip().upper().startswith("UPDATE") for sql in sent), sent
    assert sum(" FOR UPDATE OF c" in sql for sql in sent) == 1, sent
