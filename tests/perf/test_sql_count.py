"""SQL statements per contract-room query stay the same whatever the number of milestones."""

from __future__ import annotations

from bench.sql_log import statement_log
from tests.helpers import ME_QUERY, Actor
from tests.perf.room_shape import read_room, room_like_the_benchmark

SIZES = (5, 50)


async def test_room_query_statement_count_does_not_grow_with_milestones(
    client: Actor, freelancer: Actor
) -> None:
    rooms = {size: await room_like_the_benchmark(client, freelancer, size) for size in SIZES}
    await client.gql(ME_QUERY)  # the viewer exists before counting
    counts: dict[str, dict[int, int]] = {"first": {}, "repeated": {}}
    with statement_log() as log:
        for by_size in counts.values():
            for size, room in rooms.items():
                log.take()
                seen = await read_room(client, room.contract_id)
                by_size[size] = len(log.take())
                assert len(seen["milestones"]) == size
                assert seen["activeMilestone"] is not None
                assert seen["pendingChangeRequest"] is not None
    print(f"SQL statements per room query ({' / '.join(map(str, SIZES))} milestones): {counts}")
    for attempt, by_size in counts.items():
        assert len(set(by_size.values())) == 1, f"{attempt} query: statements by size {by_size}"
    assert counts["first"][SIZES[0]] > 0, "no statement counted: is the logger still Tortoise's?"
