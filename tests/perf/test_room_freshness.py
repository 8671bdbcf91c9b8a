"""A contract room is never served stale: a query sent after a mutation's response sees it,
in the same process and on another instance."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.helpers import JSON, Actor, Room, create_contract_with_milestones, ok
from tests.perf.room_shape import read_room
from tests.subscriptions.servers import Server, cluster

Expectation = Callable[[JSON], bool]


def titles(room: JSON) -> list[str]:
    return [m["title"] for m in room["milestones"]]


def milestone(room: JSON, milestone_id: str) -> JSON:
    return next(m for m in room["milestones"] if m["id"] == milestone_id)


class Witnesses:
    """Both parties read the room before (so anything cached is the old room) and after."""

    def __init__(self, room: Room, readers: list[Actor]) -> None:
        self.room = room
        self.readers = readers

    async def check(self, name: str, mutation: Awaitable[JSON], expect: Expectation) -> JSON:
        before = [await read_room(reader, self.room.contract_id) for reader in self.readers]
        payload = await mutation
        for reader, old in zip(self.readers, before, strict=True):
            new = await read_room(reader, self.room.contract_id)
            assert new != old, f"after {name}, {reader!r} was served the room as it was before"
            assert expect(new), f"after {name}, {reader!r} sees {new}"
        return payload


async def test_room_reflects_each_committed_mutation_in_the_next_query(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "200.00", "300.00"])
    m1, m2, m3 = room.milestone_ids
    seen = Witnesses(room, [client, freelancer])

    added = await seen.check(
        "addMilestone",
        room.add("Extra", "50.00"),
        lambda r: titles(r) == ["M1", "M2", "M3", "Extra"],
    )
    await seen.check(
        "editMilestone",
        ok(client, "editMilestone", {"milestoneId": m3, "title": "M3 revised"}),
        lambda r: milestone(r, m3)["title"] == "M3 revised",
    )
    await seen.check(
        "deleteMilestone",
        ok(client, "deleteMilestone", {"milestoneId": added["milestone"]["id"]}),
        lambda r: titles(r) == ["M1", "M2", "M3 revised"],
    )
    await seen.check(
        "activateMilestone",
        room.activate(0),
        lambda r: r["activeMilestone"]["id"] == m1 and r["escrow"]["held"] == "100.00",
    )
    await seen.check(
        "submitMilestone", room.submit(0), lambda r: r["activeMilestone"]["status"] == "SUBMITTED"
    )
    await seen.check(
        "rejectSubmission", room.reject(0), lambda r: r["activeMilestone"]["status"] == "ACTIVE"
    )
    await seen.check(
        "approveMilestone (partial release)",
        room.approve(0, release="60.00"),
        lambda r: (
            r["activeMilestone"] is None
            and milestone(r, m1)["releasedAmount"] == "60.00"
            and r["escrow"]["available"] == "40.00"
        ),
    )
    await seen.check(
        "activateMilestone (paid partly from available)",
        room.activate(1),
        lambda r: milestone(r, m2)["status"] == "ACTIVE" and r["escrow"]["available"] == "0.00",
    )
    refund = await room.request_refund(1)  # the room query does not show refund requests
    await seen.check(
        "respondToRefundRequest (accept)",
        room.respond_to_refund(refund["refundRequest"]["id"], "ACCEPT"),
        lambda r: (
            milestone(r, m2)["status"] == "REFUNDED" and r["escrow"]["totalRefunded"] == "200.00"
        ),
    )
    changes = await seen.check(
        "requestMilestoneChanges",
        room.request_changes(
            [
                {"kind": "ADD", "title": "Hand-over", "amount": "70.00"},
                {"kind": "EDIT", "milestoneId": m3, "title": "M3 final"},
            ]
        ),
        lambda r: (
            r["pendingChangeRequest"] is not None and len(r["pendingChangeRequest"]["changes"]) == 2
        ),
    )
    await seen.check(
        "respondToChangeRequest (accept)",
        room.respond_to_changes(changes["changeRequest"]["id"], "ACCEPT"),
        lambda r: (
            r["pendingChangeRequest"] is None and titles(r) == ["M1", "M2", "M3 final", "Hand-over"]
        ),
    )
    declined = await seen.check(
        "requestMilestoneChanges (again)",
        room.request_changes([{"kind": "DELETE", "milestoneId": m3}]),
        lambda r: r["pendingChangeRequest"] is not None,
    )
    await seen.check(
        "respondToChangeRequest (decline)",
        room.respond_to_changes(declined["changeRequest"]["id"], "DECLINE"),
        lambda r: r["pendingChangeRequest"] is None and "M3 final" in titles(r),
    )
    await seen.check("endContract", room.end(), lambda r: r["status"] == "ENDED")


def _as_seen_on(server: Server, actor: Actor) -> Actor:
    """The same person (same claims), talking to another instance."""
    name = "Cleo Client" if actor.sub == "client" else "Fred Freelancer"
    return server.actor(str(actor.sub), name=name)


@pytest.mark.postgres
async def test_room_is_fresh_on_another_instance_right_after_a_commit(
    postgres_url: str, tmp_path: Path
) -> None:
    # No broker between the instances: freshness may not wait for a wake-up to arrive.
    async with cluster(postgres_url, "memory://", tmp_path) as servers:
        a = await servers.start()
        b = await servers.start()
        client_a = a.actor("client", name="Cleo Client")
        freelancer_a = a.actor("freelancer", name="Fred Freelancer")
        room = await create_contract_with_milestones(
            client_a, freelancer_a, ["100.00", "200.00", "300.00"]
        )
        m1, _, m3 = room.milestone_ids
        on = {
            a: (client_a, freelancer_a),
            b: (_as_seen_on(b, client_a), _as_seen_on(b, freelancer_a)),
        }

        async def mutate_on_one_read_on_other(
            writer: Server,
            reader: Server,
            name: str,
            mutation: Callable[[Actor, Actor], Awaitable[JSON]],
            expect: Expectation,
        ) -> None:
            readers = on[reader]
            # Read first on the other instance: whatever it keeps is the room before the change.
            before = [await read_room(actor, room.contract_id) for actor in readers]
            await mutation(*on[writer])
            for actor, old in zip(readers, before, strict=True):
                new = await read_room(actor, room.contract_id)
                assert new != old, f"{name} on one instance; the other served the old room"
                assert expect(new), f"{name} on one instance; the other served {new}"

        for round_ in range(3):
            writer, reader = (a, b) if round_ % 2 == 0 else (b, a)
            title = f"M3 take {round_}"
            await mutate_on_one_read_on_other(
                writer,
                reader,
                f"editMilestone #{round_}",
                lambda c, f, title=title: ok(
                    c, "editMilestone", {"milestoneId": m3, "title": title}
                ),
                lambda r, title=title: milestone(r, m3)["title"] == title,
            )
        await mutate_on_one_read_on_other(
            a,
            b,
            "activateMilestone",
            lambda c, f: ok(c, "activateMilestone", {"milestoneId": m1}),
            lambda r: r["activeMilestone"] is not None and r["activeMilestone"]["id"] == m1,
        )
        await mutate_on_one_read_on_other(
            b,
            a,
            "submitMilestone",
            lambda c, f: ok(f, "submitMilestone", {"milestoneId": m1}),
            lambda r: r["activeMilestone"]["status"] == "SUBMITTED",
        )
        await mutate_on_one_read_on_other(
            a,
            b,
            "approveMilestone",
            lambda c, f: ok(c, "approveMilestone", {"milestoneId": m1, "endContract": False}),
            lambda r: r["activeMilestone"] is None and milestone(r, m1)["status"] == "RELEASED",
        )
        await mutate_on_one_read_on_other(
            b,
            a,
            "requestMilestoneChanges",
            lambda c, f: ok(
                f,
                "requestMilestoneChanges",
                {
                    "contractId": room.contract_id,
                    "changes": [{"kind": "DELETE", "milestoneId": m3}],
                },
            ),
            lambda r: r["pendingChangeRequest"] is not None,
        )
