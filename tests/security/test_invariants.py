"""The invariant checker: quiet on a database the workflow built, loud on each kind of damage.

`milestones.invariants.check_invariants` is run in-process on the test's database after a
workflow that touches every kind of money movement; then the database is damaged one way at a
time (with SQL, as a bug or a bad migration would) and the breach must be named. The
`milestones check-invariants` command is run for real on a SQLite file: exit 0, then exit 1
with the breach printed.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from milestones.invariants import Breach, check_invariants
from tests.helpers import Room, create_contract_with_milestones, ok
from tests.security.servers import server_environment


async def _sql(statement: str) -> None:
    await connections.get("default").execute_query(statement)


async def _ended_and_open_rooms(client: Any, freelancer: Any) -> tuple[Room, Room]:
    """Every kind of money movement: deposits, allocations, full and partial releases, an
    accepted refund, the available balance paying for the next milestone, a refund of the
    available balance on ending, bonuses (with an approval and on their own); plus change
    requests, deletions and notifications."""
    ended = await create_contract_with_milestones(client, freelancer, ["100.00", "80.00", "50"])
    await ended.activate(0)
    await ended.approve(0, release="60.00", bonusAmount="5.00")  # 40.00 stays available
    await ended.activate(1)  # the available 40.00 pays first
    refund = await ended.request_refund(1)
    await ended.respond_to_refund(refund["refundRequest"]["id"], "ACCEPT")
    change = await ended.request_changes([{"kind": "DELETE", "milestoneId": ended.milestone(2)}])
    await ended.respond_to_changes(change["changeRequest"]["id"], "ACCEPT")
    await ended.end()
    open_room = await create_contract_with_milestones(client, freelancer, ["10.00", "20.00"])
    await open_room.activate(0)
    await open_room.submit(0)
    await open_room.approve(0, release="4.00")  # 6.00 available
    await open_room.activate(1)
    await ok(client, "sendBonus", {"contractId": open_room.contract_id, "amount": "2.50"})
    await open_room.request_changes([{"kind": "ADD", "title": "Extra", "amount": "1.00"}])
    return ended, open_room


async def test_a_database_built_by_the_workflow_has_no_breach(client: Any, freelancer: Any) -> None:
    await _ended_and_open_rooms(client, freelancer)
    report = await check_invariants()
    assert report.breaches == []
    assert report.counts["contracts"] == 2
    assert report.counts["ledger entries"] >= 10
    assert report.counts["events"] >= 20


# Each damage: SQL (with {contract}, {open} and {milestone} for ids) and the rule it breaks.
DAMAGE: list[tuple[str, str, str]] = [
    (
        "money released twice",
        "INSERT INTO ledger_entries (contract_id, milestone_id, kind, amount, created_at) "
        "VALUES ({open}, {active}, 'RELEASE', 3000, '2030-01-01')",
        "released + refunded <= funded",
    ),
    (
        "money refunded out of thin air",
        "INSERT INTO ledger_entries (contract_id, milestone_id, kind, amount, created_at) "
        "VALUES ({open}, NULL, 'REFUND', 100000, '2030-01-01')",
        "available >= 0",
    ),
    (
        "a zero amount",
        "UPDATE ledger_entries SET amount = 0 WHERE kind = 'DEPOSIT' AND contract_id = {open}",
        "positive amounts",
    ),
    (
        "a deposit booked on a milestone",
        "UPDATE ledger_entries SET milestone_id = {active} WHERE kind = 'DEPOSIT' "
        "AND contract_id = {open}",
        "deposits go to the contract",
    ),
    (
        "running sums out of step with the ledger",
        "UPDATE contracts SET ledger_released = ledger_released + 1 WHERE id = {open}",
        "running sums equal the ledger",
    ),
    (
        "a refunded milestone still holding money",
        "UPDATE milestones SET status = 'REFUNDED' WHERE id = {active}",
        "a refunded milestone holds nothing and released nothing",
    ),
    (
        "an active milestone that holds less than its amount",
        "UPDATE milestones SET amount = amount + 1 WHERE id = {active}",
        "a funded milestone holds its amount",
    ),
    (
        "an ended contract still holding money",
        "UPDATE contracts SET status = 'ENDED' WHERE id = {open}",
        "an ended contract is settled or asks its rest back",
    ),
    (
        "a gap in positions",
        "UPDATE milestones SET position = 9 WHERE contract_id = {open} AND position = 1",
        "contiguous positions",
    ),
    (
        "a lost event",
        "DELETE FROM contract_events WHERE contract_id = {open} AND seq = 2",
        "event seq is 1..n",
    ),
    (
        "an event sequence that ran ahead",
        "UPDATE contracts SET event_seq = event_seq + 1 WHERE id = {open}",
        "event seq is 1..n",
    ),
    (
        "a notification sequence that ran ahead",
        "UPDATE users SET notification_seq = notification_seq + 1",
        "notification seq is 1..n",
    ),
    (
        "a notification naming another contract than its event's",
        "UPDATE notifications SET contract_id = {contract} WHERE event_id IN "
        "(SELECT id FROM contract_events WHERE contract_id = {open})",
        "a notification's event, contract and actor exist and agree",
    ),
    (
        "a notification naming another actor than its event's",
        "UPDATE notifications SET actor_id = recipient_id WHERE event_id IS NOT NULL",
        "a notification's event, contract and actor exist and agree",
    ),
    (
        "a pending refund request for a settled milestone",
        "INSERT INTO refund_requests (contract_id, milestone_id, requested_by_id, status, amount, "
        "created_at) SELECT contract_id, id, 1, 'PENDING', amount, '2030-01-01' FROM milestones "
        "WHERE contract_id = {contract} AND status = 'RELEASED'",
        "a pending refund is for the funded milestone",
    ),
    (
        "an open dispute over money that is not held",
        "INSERT INTO disputes (contract_id, opened_by_id, amount, status, opened_at) "
        "VALUES ({contract}, 1, 500, 'AWAITING_CLIENT', '2030-01-01')",
        "an open dispute's money is held",
    ),
    (
        "a resolved dispute whose release and refund do not add up",
        "INSERT INTO disputes (contract_id, opened_by_id, amount, status, opened_at, "
        "resolution_kind, released_amount, refunded_amount) VALUES ({open}, 1, 1000, "
        "'RESOLVED', '2030-01-01', 'MEDIATOR_DECIDED', 100, 100)",
        "a resolved dispute's release + refund is its amount",
    ),
]


DAMAGE += [
    # The database refuses these itself (partial unique indexes): dropped for the occasion.
    (
        "two funded milestones",
        "DROP INDEX uniq_one_funded_milestone_per_contract;"
        "UPDATE milestones SET status = 'ACTIVE' WHERE contract_id = {open}",
        "one funded milestone",
    ),
    (
        "two pending change requests",
        "DROP INDEX uniq_one_pending_change_request_per_contract;"
        "INSERT INTO change_requests (contract_id, requested_by_id, status, created_at) "
        "SELECT contract_id, requested_by_id, status, created_at FROM change_requests "
        "WHERE contract_id = {open} AND status = 'PENDING'",
        "one pending change request",
    ),
]


class _Undo(Exception):
    """Rolls a damage back."""


async def test_each_kind_of_damage_is_named(client: Any, freelancer: Any) -> None:
    ended, open_room = await _ended_and_open_rooms(client, freelancer)
    ids = {
        "contract": _pk(ended.contract_id),
        "open": _pk(open_room.contract_id),
        "active": _pk(open_room.milestone(1)),
    }
    missed: dict[str, list[Breach]] = {}
    for name, damage, rule in DAMAGE:
        try:
            async with in_transaction():  # the checker reads inside it, then it is undone
                for statement in damage.split(";"):
                    await _sql(statement.format(**ids))
                report = await check_invariants()
                if rule not in {breach.rule for breach in report.breaches}:
                    missed[name] = report.breaches
                raise _Undo
        except _Undo:
            pass
    assert missed == {}, "damage not named (with what was found instead)"
    assert (await check_invariants()).breaches == [], "every damage was undone"


def _pk(global_id: str) -> int:
    import base64

    return int(base64.b64decode(global_id).decode().split(":")[1])


def test_breaches_read_as_sentences() -> None:
    breach = Breach("contract 3", "available >= 0", "available is -5")
    assert str(breach) == "contract 3: available >= 0: available is -5"


def _cli(database_url: str, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "milestones.cli", *command],
        env=server_environment(database_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _damage_file(path: Path, statement: str) -> None:
    with sqlite3.connect(path) as database:
        database.execute(statement)


@pytest.mark.parametrize(
    ("damage", "printed"),
    [
        (
            lambda path: _damage_file(path, "UPDATE ledger_entries SET amount = amount * 2"),
            "BREACH milestone 1: a funded milestone holds its amount",
        ),
        (
            lambda path: _damage_file(path, "DELETE FROM contract_events WHERE seq = 3"),
            "BREACH contract 1: event seq is 1..n",
        ),
    ],
    ids=["doubled ledger", "lost event"],
)
def test_the_command_exits_1_and_prints_each_breach(
    tmp_path: Path, damage: Callable[[Path], None], printed: str
) -> None:
    path = tmp_path / "demo.sqlite3"
    url = f"sqlite:///{path}"
    assert _cli(url, "demo").returncode == 0
    clean = _cli(url, "check-invariants")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "all invariants hold" in clean.stdout
    damage(path)
    damaged = _cli(url, "check-invariants")
    assert damaged.returncode == 1
    assert printed in damaged.stdout, damaged.stdout
    assert "invariant breaches" in damaged.stderr


async def test_a_notification_pointing_at_no_event_is_refused_or_named(
    client: Any, freelancer: Any
) -> None:
    """SQLite checks a notification's event key itself; PostgreSQL leaves it to the statement
    that writes both (migration 0017), and the checker names a dangling one."""
    await _ended_and_open_rooms(client, freelancer)
    dangling = "UPDATE notifications SET event_id = 999999999 WHERE event_id IS NOT NULL"
    postgres = connections.get("default").capabilities.dialect == "postgres"
    try:
        async with in_transaction():
            if not postgres:
                with pytest.raises(IntegrityError):
                    await _sql(dangling)
                raise _Undo
            await _sql(dangling)
            rules = {breach.rule for breach in (await check_invariants()).breaches}
            assert "a notification's event, contract and actor exist and agree" in rules
            raise _Undo
    except _Undo:
        pass
