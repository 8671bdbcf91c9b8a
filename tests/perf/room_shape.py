"""The contract room the benchmarks measure (`bench/room_query.graphql`), built through the API."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import JSON, Actor, Room, create_contract_with_milestones

ROOM_QUERY = (Path(__file__).resolve().parents[2] / "bench" / "room_query.graphql").read_text()


async def room_like_the_benchmark(client: Actor, freelancer: Actor, milestones: int) -> Room:
    """`milestones` milestones: the first paid, the second active, a change request pending."""
    room = await create_contract_with_milestones(
        client, freelancer, [f"{100 + 10 * n}.00" for n in range(milestones)]
    )
    await room.activate(0)
    await room.approve(0)
    await room.activate(1)
    await room.request_changes(
        [
            {"kind": "ADD", "title": "Hand-over session", "amount": "35.00"},
            {"kind": "EDIT", "milestoneId": room.milestone(min(9, milestones - 1)), "title": "Go"},
        ]
    )
    return room


async def read_room(actor: Actor, contract_id: str) -> JSON:
    """The room as `actor` sees it, through the benchmark's own document."""
    data = await actor.gql(ROOM_QUERY, {"id": contract_id})
    room: JSON | None = data["contract"]
    assert room is not None, f"{actor!r} cannot see contract {contract_id}"
    return room
