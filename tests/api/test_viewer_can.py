"""`viewerCan` on contracts and milestones: what the viewer could do now, per role and state,
decided by the mutations' own rules; read once per contract and request; cached per viewer."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from bench.sql_log import statement_log
from tests.helpers import (
    JSON,
    ME_QUERY,
    Actor,
    Room,
    create_contract_with_milestones,
    ok,
    pending_change_request,
)

CONTRACT_FLAGS = (
    "addMilestone requestChanges respondToChangeRequest withdrawChangeRequest endContract "
    "sendBonus acceptContract openDispute"
)
MILESTONE_FLAGS = "edit delete activate submit approve rejectSubmission requestRefund openDispute"
VIEWER_CAN = f"""
query ViewerCan($id: ID!) {{
  contract(id: $id) {{
    viewerCan {{ {CONTRACT_FLAGS} }}
    milestones {{ id viewerCan {{ {MILESTONE_FLAGS} }} }}
  }}
}}
"""
WITHOUT_FLAGS = """
query ViewerCan($id: ID!) { contract(id: $id) { id milestones { id } } }
"""
MILESTONE_NODE = f"""
query Node($id: ID!) {{
  node(id: $id) {{ ... on Milestone {{ viewerCan {{ {MILESTONE_FLAGS} }} }} }}
}}
"""


def _true(flags: JSON) -> set[str]:
    return {name for name, value in flags.items() if value}


async def _flags(actor: Actor, room: Room) -> tuple[set[str], list[set[str]]]:
    contract = (await actor.gql(VIEWER_CAN, {"id": room.contract_id}))["contract"]
    return _true(contract["viewerCan"]), [_true(m["viewerCan"]) for m in contract["milestones"]]


async def test_flags_follow_role_and_state_through_the_workflow(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "50.00"])
    assert await _flags(client, room) == (
        {"addMilestone", "endContract", "sendBonus"},
        [{"edit", "delete", "activate"}, {"edit", "delete", "activate"}],
    )
    assert await _flags(freelancer, room) == ({"requestChanges", "endContract"}, [set(), set()])

    await room.activate(0)
    assert await _flags(client, room) == (
        {"addMilestone", "endContract", "sendBonus"},
        [{"approve", "requestRefund"}, {"edit", "delete"}],  # one funded at a time
    )
    # Nothing submitted yet: nothing to dispute.
    assert await _flags(freelancer, room) == (
        {"requestChanges", "endContract"},
        [{"submit"}, set()],
    )

    await room.submit(0)
    assert (await _flags(client, room))[1][0] == {"approve", "rejectSubmission", "requestRefund"}
    assert await _flags(freelancer, room) == (
        {"requestChanges", "endContract", "openDispute"},
        [{"openDispute"}, set()],
    )

    await pending_change_request(room)
    assert await _flags(client, room) == (
        {"respondToChangeRequest", "endContract", "sendBonus"},  # no adding meanwhile
        [{"approve", "rejectSubmission", "requestRefund"}, set()],
    )
    assert await _flags(freelancer, room) == (
        {"withdrawChangeRequest", "endContract", "openDispute"},
        [{"openDispute"}, set()],
    )

    refund = await room.request_refund(0)
    # Frozen while the refund is pending; the freelancer may dispute the refund request
    # itself, not the milestone.
    assert await _flags(client, room) == ({"respondToChangeRequest", "sendBonus"}, [set(), set()])
    assert await _flags(freelancer, room) == (
        {"withdrawChangeRequest", "openDispute"},
        [set(), set()],
    )
    await room.respond_to_refund(refund["refundRequest"]["id"], "ACCEPT")
    await room.end(freelancer)
    assert await _flags(client, room) == (set(), [set(), set()])
    assert await _flags(freelancer, room) == (set(), [set(), set()])


async def test_a_deleted_milestone_can_do_nothing(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await ok(client, "deleteMilestone", {"milestoneId": room.milestone(0)})
    for actor in (client, freelancer):
        node = (await actor.gql(MILESTONE_NODE, {"id": room.milestone(0)}))["node"]
        assert _true(node["viewerCan"]) == set()


async def test_the_room_cache_keeps_each_viewers_flags_apart(
    app: Starlette, client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    for _ in range(2):  # the second round is served from the room cache
        assert (await _flags(client, room))[1] == [{"edit", "delete", "activate"}]
        assert (await _flags(freelancer, room))[1] == [set()]
    assert app.state.room_cache.hits >= 2
    await room.activate(0)
    assert (await _flags(client, room))[1] == [{"approve", "requestRefund"}]
    assert (await _flags(freelancer, room))[1] == [{"submit"}]


async def test_a_replayed_payload_shows_the_flags_as_they_were(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    document = f"""
    mutation($input: ActivateMilestoneInput!) {{
      activateMilestone(input: $input) {{
        milestone {{ viewerCan {{ {MILESTONE_FLAGS} }} }}
        contract {{ viewerCan {{ {CONTRACT_FLAGS} }} }}
        userErrors {{ code }}
      }}
    }}
    """
    variables: dict[str, Any] = {
        "input": {"milestoneId": room.milestone(0), "idempotencyKey": "activate-1"}
    }
    first = (await client.gql(document, variables))["activateMilestone"]
    assert _true(first["milestone"]["viewerCan"]) == {"approve", "requestRefund"}
    await room.approve(0)  # the room moves on; the replay answers as it was
    again = (await client.gql(document, variables))["activateMilestone"]
    assert again == first


async def test_flags_add_no_statement_per_milestone(client: Actor, freelancer: Actor) -> None:
    sizes = (5, 50)
    rooms = {}
    for size in sizes:
        room = await create_contract_with_milestones(
            client, freelancer, [f"{10 + n}.00" for n in range(size)]
        )
        await room.activate(1)
        await pending_change_request(room)
        rooms[size] = room
    await client.gql(ME_QUERY)
    counts: dict[tuple[str, int], int] = {}
    with statement_log() as log:
        for size, room in rooms.items():
            log.take()
            await client.gql(WITHOUT_FLAGS, {"id": room.contract_id})
            counts["without", size] = len(log.take())
            contract_flags, milestone_flags = await _flags(client, room)
            counts["with", size] = len(log.take())
            assert len(milestone_flags) == size
            assert contract_flags == {"respondToChangeRequest", "endContract", "sendBonus"}
    print(f"SQL statements of a room of {sizes} milestones, without/with viewerCan: {counts}")
    for size in sizes:
        # The room's state once, the pending change request an answer would name and the
        # funded milestone a dispute would.
        assert counts["with", size] - counts["without", size] <= 3, counts
    assert counts["with", 5] == counts["with", 50], counts


async def test_a_page_of_contracts_reads_every_rooms_state_in_one_statement(
    client: Actor, freelancer: Actor
) -> None:
    quiet = await create_contract_with_milestones(client, freelancer, ["10.00"])
    busy = await create_contract_with_milestones(client, freelancer, ["10.00"])
    await pending_change_request(busy)
    ended = await create_contract_with_milestones(client, freelancer, ["10.00"])
    await ended.end()
    document = f"""
    query {{
      contracts(first: 10) {{ edges {{ node {{ id viewerCan {{ {CONTRACT_FLAGS} }} }} }} }}
    }}
    """
    await client.gql(ME_QUERY)
    with statement_log() as log:
        log.take()
        edges = (await client.gql(document))["contracts"]["edges"]
        statements = log.take()
    flags = {edge["node"]["id"]: _true(edge["node"]["viewerCan"]) for edge in edges}
    assert flags == {
        quiet.contract_id: {"addMilestone", "endContract", "sendBonus"},
        busy.contract_id: {"respondToChangeRequest", "endContract", "sendBonus"},
        ended.contract_id: set(),
    }
    room_state_reads = [s for s in statements if "refund_requests" in str(s)]
    assert len(room_state_reads) == 1, statements
