"""Room versions read together (`VersionReads`, PostgreSQL): a request never takes the answer
of a read that started before it arrived; the requests that arrive during a read share the
next one, a pair asked for twice is read once, and a batch reads each pair exactly as the
single statement does."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tortoise import connections

from milestones import ids
from milestones.observability.metrics import REGISTRY
from milestones.web import room_cache
from milestones.web.room_cache import VersionReads
from tests.helpers import Actor, ApiClient, create_contract_with_milestones, ok
from tests.teams.parties import client_company


@pytest.fixture(autouse=True)
def _postgres_only(api: ApiClient) -> None:
    if connections.get("default").capabilities.dialect != "postgres":
        pytest.skip("SQLite reads each version alone; this runs in `make test-postgres`")


# The single read itself (one pair: the single prepared statement), whatever a test puts in
# the module's place.
_room_versions = room_cache.room_versions


async def room_version(contract_pk: int, sub: str) -> Any:
    async with connections.get("default").acquire_connection() as raw:
        return (await _room_versions([(contract_pk, sub)], raw=raw))[0]


def _pk(contract_id: str) -> int:
    pk = ids.decode(contract_id, "Contract")
    assert pk is not None
    return pk


async def _new_room(client: Actor, freelancer: Actor) -> int:
    """A contract of one milestone between the two: its primary key."""
    room = await create_contract_with_milestones(client, freelancer, ["10.00"])
    return _pk(room.contract_id)


class Gate:
    """Holds the first read's answer until `open()` (its statement has run); records what each
    read asked for."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered = asyncio.Event()
        self.opened = asyncio.Event()
        self.batches: list[list[tuple[int, str]]] = []
        many = room_cache.room_versions

        async def batch(pairs: list[tuple[int, str]], **options: Any) -> Any:
            answer = await many(pairs, **options)
            await self._hold(list(pairs))
            return answer

        monkeypatch.setattr(room_cache, "room_versions", batch)

    async def _hold(self, pairs: list[tuple[int, str]]) -> None:
        self.batches.append(pairs)
        if len(self.batches) == 1:
            self.entered.set()
            await self.opened.wait()


async def _started(reads: VersionReads, pk: int, sub: str, **kw: bool) -> asyncio.Task[Any]:
    task = asyncio.create_task(reads.read(pk, sub, **kw))
    await asyncio.sleep(0)  # it has joined the waiting batch
    return task


async def _held(gate: Gate, reads: VersionReads, pk: int, sub: str) -> asyncio.Task[Any]:
    """A read whose statement has run and whose answer the gate holds."""
    task = await _started(reads, pk, sub)
    await asyncio.wait_for(gate.entered.wait(), 5)
    return task


async def test_requests_during_a_read_wait_for_the_next_and_share_it(
    api: ApiClient, client: Actor, freelancer: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["10.00", "20.00"])
    pk, m1 = _pk(room.contract_id), room.milestone_ids[0]
    csub, fsub = str(client.sub), str(freelancer.sub)
    before = await room_version(pk, csub)
    assert before is not None
    gate = Gate(monkeypatch)
    reads = VersionReads()
    counted = _counted()

    first = await _held(gate, reads, pk, csub)
    # A change commits while that read is held: whoever asks from now on must see it.
    await ok(client, "editMilestone", {"milestoneId": m1, "title": "Renamed while reading"})
    later = [
        await _started(reads, pk, csub),
        await _started(reads, pk, csub),  # the same pair: read once
        await _started(reads, pk, fsub),
        await _started(reads, pk, "nobody-of-this-room"),
        await _started(reads, pk + 10_000, csub),  # no such room
    ]
    gate.opened.set()
    old = await asyncio.wait_for(first, 5)
    new_client, again, new_freelancer, outsider, missing = await asyncio.wait_for(
        asyncio.gather(*later), 5
    )

    assert old == before  # that read was the room before the change
    assert new_client is not None and new_client[0] > before[0]  # the event log moved on
    assert again == new_client
    assert new_client == await room_version(pk, csub)
    assert new_freelancer == await room_version(pk, fsub)
    assert outsider is not None and outsider[5] is None  # no such viewer: no access
    assert missing is None
    # Two statements: the held one, then one for the four distinct pairs asked meanwhile.
    assert gate.batches == [
        [(pk, csub)],
        [(pk, csub), (pk, fsub), (pk, "nobody-of-this-room"), (pk + 10_000, csub)],
    ]
    assert _counted() == (counted[0] + 2, counted[1] + 5)


async def test_a_batch_reads_team_rooms_and_people_rooms_as_the_single_statement_does(
    api: ApiClient, client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["10.00"])
    company = await client_company(api, freelancer)
    pairs = [
        (_pk(room.contract_id), str(client.sub)),
        (_pk(room.contract_id), str(freelancer.sub)),
        (_pk(company.room.contract_id), str(company.admin.sub)),
        (_pk(company.room.contract_id), str(company.member.sub)),
        (_pk(company.room.contract_id), str(freelancer.sub)),
        (_pk(company.room.contract_id), str(client.sub)),  # an outsider to the team's room
    ]
    alone = [await room_version(*pair) for pair in pairs]
    assert alone[2] is not None and alone[2][6] == "ADMIN"
    async with connections.get("default").acquire_connection() as raw:
        assert await room_cache.room_versions(pairs, raw=raw) == alone
        assert await room_cache.room_versions(pairs[:2], people=True, raw=raw) == alone[:2]
        assert await room_cache.room_versions(pairs[2:3], raw=raw) == alone[2:3]
    # And through the reader, all at once.
    reads = VersionReads()
    counted = _counted()
    together = await asyncio.gather(*(reads.read(*pair) for pair in pairs))
    assert list(together) == alone
    assert _counted()[0] == counted[0] + 1


async def test_a_failed_read_fails_its_waiters_only_and_the_next_read_works(
    api: ApiClient, client: Actor, freelancer: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    pk = await _new_room(client, freelancer)
    real = room_cache.room_versions
    failures = [ConnectionResetError("the database went away")]

    async def flaky(pairs: list[tuple[int, str]], **options: Any) -> Any:
        if failures:
            raise failures.pop()
        return await real(pairs, **options)

    monkeypatch.setattr(room_cache, "room_versions", flaky)
    reads = VersionReads()
    outcomes = await asyncio.gather(
        reads.read(pk, str(client.sub)),
        reads.read(pk, str(freelancer.sub)),
        return_exceptions=True,
    )
    assert [type(outcome) for outcome in outcomes] == [ConnectionResetError] * 2
    recovered = await asyncio.gather(
        reads.read(pk, str(client.sub)), reads.read(pk, str(freelancer.sub))
    )
    assert list(recovered) == [
        await room_version(pk, str(client.sub)),
        await room_version(pk, str(freelancer.sub)),
    ]


async def test_a_caller_that_gives_up_leaves_the_read_to_the_others(
    api: ApiClient, client: Actor, freelancer: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    pk, sub = await _new_room(client, freelancer), str(client.sub)
    gate = Gate(monkeypatch)
    reads = VersionReads()
    quitter = await _started(reads, pk, sub)
    stayer = await _started(reads, pk, sub)
    await asyncio.wait_for(gate.entered.wait(), 5)
    quitter.cancel()
    gate.opened.set()
    assert await asyncio.wait_for(stayer, 5) == await room_version(pk, sub)
    with pytest.raises(asyncio.CancelledError):
        await quitter


async def test_a_batch_holds_at_most_max_pairs_and_the_rest_follow(
    api: ApiClient, client: Actor, freelancer: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    pk = await _new_room(client, freelancer)
    gate = Gate(monkeypatch)
    reads = VersionReads(max_pairs=2)
    counted = _counted()
    held = await _held(gate, reads, pk, "held")
    rest = [await _started(reads, pk, f"viewer-{n}") for n in range(5)]
    gate.opened.set()
    await asyncio.wait_for(asyncio.gather(held, *rest), 5)
    assert [len(batch) for batch in gate.batches] == [1, 2, 2, 1]
    assert [pair for batch in gate.batches[1:] for pair in batch] == [
        (pk, f"viewer-{n}") for n in range(5)
    ]
    assert _counted() == (counted[0] + 4, counted[1] + 6)  # /metrics: statements, pairs


def _counted() -> tuple[float, float]:
    return (
        REGISTRY.get_sample_value("milestones_room_version_reads_total") or 0.0,
        REGISTRY.get_sample_value("milestones_room_version_pairs_total") or 0.0,
    )


async def test_a_reader_cancelled_at_shutdown_leaves_nobody_waiting_forever(
    api: ApiClient, client: Actor, freelancer: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    pk = await _new_room(client, freelancer)
    gate = Gate(monkeypatch)
    reads = VersionReads()
    in_flight = await _held(gate, reads, pk, str(client.sub))
    queued = await _started(reads, pk, str(freelancer.sub))
    reader = reads._reading[False]
    assert reader is not None
    reader.cancel()
    for waiter in (in_flight, queued):
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(waiter, 5)
    assert reads._reading[False] is None and reads._waiting[False] == {}
    # And the next request reads again.
    gate.opened.set()
    assert await reads.read(pk, str(client.sub)) == await room_version(pk, str(client.sub))
