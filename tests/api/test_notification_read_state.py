"""Read state a client's cache can follow: `NotificationConnection.unreadCount` counts all of
the viewer's unread notifications whatever the page, and `markNotificationsRead` returns the
notifications it marked and the unread count after it."""

from __future__ import annotations

import asyncio

from tortoise.transactions import in_transaction

from bench.sql_log import statement_log
from milestones import ids
from milestones.domain.notifications import unread_count
from tests.conftest import ApiClient, is_postgres_url, test_database_url
from tests.helpers import (
    Actor,
    Room,
    create_contract_with_milestones,
    global_id,
    mutate,
    notification_nodes,
    notifications,
    ok,
)


async def _room_with_notifications(client: Actor, freelancer: Actor, added: int) -> Room:
    """The freelancer has `added` + 1 unread notifications (contract created, milestones added)."""
    room = await create_contract_with_milestones(client, freelancer, [])
    for number in range(added):
        await room.add(f"M{number}", "10.00")
    return room


async def test_unread_count_counts_all_unread_whatever_the_page(
    client: Actor, freelancer: Actor
) -> None:
    await _room_with_notifications(client, freelancer, 4)
    every = await notification_nodes(freelancer)
    assert len(every) == 5

    first_page = await notifications(freelancer, first=2)
    assert len(first_page["edges"]) == 2
    assert first_page["unreadCount"] == 5
    second_page = await notifications(
        freelancer, first=2, after=first_page["pageInfo"]["endCursor"]
    )
    assert second_page["unreadCount"] == 5
    assert (await notifications(freelancer, first=0))["unreadCount"] == 5
    assert (await notifications(freelancer, unread_only=True))["unreadCount"] == 5
    # Someone else's are not counted: the client has only the acceptance of the offer.
    assert (await notifications(client))["unreadCount"] == 1


async def test_mark_by_ids_returns_what_it_marked_and_the_unread_count_after(
    client: Actor, freelancer: Actor
) -> None:
    await _room_with_notifications(client, freelancer, 4)
    newest, second, third, *_ = await notification_nodes(freelancer)

    payload = await ok(freelancer, "markNotificationsRead", {"ids": [second["id"], newest["id"]]})

    assert payload["count"] == 2
    assert [n["id"] for n in payload["notifications"]] == [newest["id"], second["id"]]
    assert all(n["readAt"] for n in payload["notifications"])
    assert payload["unreadCount"] == 3
    # The payload agrees with a fresh read: a cache that applies it needs no refetch.
    listed = await notifications(freelancer, first=5)
    assert listed["unreadCount"] == payload["unreadCount"]
    read_at = {edge["node"]["id"]: edge["node"]["readAt"] for edge in listed["edges"]}
    assert {n["id"]: n["readAt"] for n in payload["notifications"]} == {
        newest["id"]: read_at[newest["id"]],
        second["id"]: read_at[second["id"]],
    }

    # One already read and one unread: only the unread one is marked and returned.
    again = await ok(freelancer, "markNotificationsRead", {"ids": [newest["id"], third["id"]]})
    assert again["count"] == 1
    assert [n["id"] for n in again["notifications"]] == [third["id"]]
    assert again["unreadCount"] == 2


async def test_mark_all_returns_every_one_it_marked_and_zero_unread(
    client: Actor, freelancer: Actor
) -> None:
    await _room_with_notifications(client, freelancer, 4)
    newest, *rest = await notification_nodes(freelancer)
    await ok(freelancer, "markNotificationsRead", {"ids": [newest["id"]]})

    payload = await ok(freelancer, "markNotificationsRead", {"all": True})

    assert payload["count"] == 4
    assert [n["id"] for n in payload["notifications"]] == [n["id"] for n in rest]
    assert payload["unreadCount"] == 0
    assert (await notifications(freelancer))["unreadCount"] == 0
    # Nothing left to mark: an empty list, not null.
    nothing = await ok(freelancer, "markNotificationsRead", {"all": True})
    assert (nothing["count"], nothing["notifications"], nothing["unreadCount"]) == (0, [], 0)
    # The other party's unread (the acceptance of the offer) are untouched.
    assert (await notifications(client))["unreadCount"] == 1


async def test_a_refused_mark_read_returns_no_list_and_no_count(
    client: Actor, freelancer: Actor
) -> None:
    await _room_with_notifications(client, freelancer, 1)
    (mine, *_) = await notification_nodes(freelancer)

    payload = await mutate(
        freelancer,
        "markNotificationsRead",
        {"ids": [mine["id"], global_id("Notification", 987654321)]},
    )

    assert [e["code"] for e in payload["userErrors"]] == ["NOT_FOUND"]
    assert (payload["count"], payload["notifications"], payload["unreadCount"]) == (
        None,
        None,
        None,
    )
    assert (await notifications(freelancer))["unreadCount"] == 2


async def test_unread_count_is_one_statement_whatever_the_number_of_notifications(
    api: ApiClient, client: Actor
) -> None:
    counts: dict[str, dict[int, int]] = {"list": {}, "list+unread": {}, "mark all": {}}
    for added in (2, 30):
        reader = api.actor(f"reader-{added}", name=f"Reader {added}")
        await _room_with_notifications(client, reader, added)
        await reader.gql("query { me { id } }")  # the viewer exists before counting
        with statement_log() as log:
            await reader.gql("query { notifications(first: 5) { edges { cursor } } }")
            counts["list"][added] = len(log.take())
            await reader.gql("query { notifications(first: 5) { edges { cursor } unreadCount } }")
            counts["list+unread"][added] = len(log.take())
            await ok(reader, "markNotificationsRead", {"all": True})
            counts["mark all"][added] = len(log.take())
    print(f"SQL statements (2 / 30 notifications): {counts}")
    for what, by_size in counts.items():
        assert len(set(by_size.values())) == 1, f"{what}: statements by size {by_size}"
    assert counts["list+unread"][2] == counts["list"][2] + 1


async def test_the_unread_count_reads_the_partial_unread_index(
    client: Actor, freelancer: Actor
) -> None:
    await _room_with_notifications(client, freelancer, 2)
    recipient = ids.decode(await freelancer.user_id(), "User")
    assert recipient is not None
    assert await unread_count(recipient) == 3
    count = (
        f"SELECT COUNT(*) FROM notifications WHERE recipient_id = {recipient} AND read_at IS NULL"
    )
    async with in_transaction() as connection:
        if is_postgres_url(test_database_url()):
            # A handful of rows: tell the planner that a sequential scan is not an option.
            await connection.execute_script("SET LOCAL enable_seqscan = off")
            plan = str(await connection.execute_query_dict("EXPLAIN " + count))
        else:
            plan = str(await connection.execute_query_dict("EXPLAIN QUERY PLAN " + count))
    assert "idx_notifications_unread_by_recipient" in plan, plan


async def test_concurrent_mark_reads_never_report_the_same_notification_twice(
    client: Actor, freelancer: Actor
) -> None:
    await _room_with_notifications(client, freelancer, 5)
    every = [n["id"] for n in await notification_nodes(freelancer)]

    payloads = await asyncio.gather(
        ok(freelancer, "markNotificationsRead", {"all": True}),
        ok(freelancer, "markNotificationsRead", {"ids": every[:3]}),
        ok(freelancer, "markNotificationsRead", {"all": True}),
    )

    reported = [n["id"] for payload in payloads for n in payload["notifications"]]
    assert sorted(reported) == sorted(every)
    assert sum(payload["count"] for payload in payloads) == len(every)
    assert (await notifications(freelancer))["unreadCount"] == 0
