"""The room cache reads a room's version without the team parts once it knows the room is
between two people (a contract's sides are fixed when it is made): the same version, less
work; a room with a team side is always read whole."""

from __future__ import annotations

from typing import Any

import pytest

from milestones import ids
from milestones.web import room_cache
from tests.helpers import Actor, ApiClient, create_contract_with_milestones
from tests.perf.room_shape import read_room
from tests.teams.parties import client_company


def _pk(contract_id: str) -> int:
    pk = ids.decode(contract_id, "Contract")
    assert pk is not None
    return pk


async def test_both_statements_give_a_two_people_room_the_same_version(
    api: ApiClient, client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["10.00"])
    company = await client_company(api, freelancer)
    for viewer, contract_id in ((client, room.contract_id), (freelancer, room.contract_id)):
        whole = await room_cache.room_version(_pk(contract_id), str(viewer.sub))
        lean = await room_cache.room_version(_pk(contract_id), str(viewer.sub), people=True)
        assert whole is not None and room_cache._between_people(whole)
        assert lean == whole
    teamed = await room_cache.room_version(_pk(company.room.contract_id), str(company.admin.sub))
    assert teamed is not None and not room_cache._between_people(teamed)
    assert teamed[6] == "ADMIN"  # the viewer's role in the client team: only the whole read has it


async def test_a_kept_two_people_room_is_read_lean_and_a_team_room_whole(
    api: ApiClient, client: Actor, freelancer: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["10.00"])
    company = await client_company(api, freelancer)
    reads: list[tuple[int, bool]] = []
    real = room_cache.VersionReads.read

    async def recorded(
        self: room_cache.VersionReads, contract_pk: int, sub: str, *, people: bool = False
    ) -> Any:
        reads.append((contract_pk, people))
        return await real(self, contract_pk, sub, people=people)

    monkeypatch.setattr(room_cache.VersionReads, "read", recorded)
    for _ in range(3):
        await read_room(client, room.contract_id)
        await read_room(company.admin, company.room.contract_id)
    people, teamed = _pk(room.contract_id), _pk(company.room.contract_id)
    assert [lean for pk, lean in reads if pk == people] == [False, True, True]
    assert [lean for pk, lean in reads if pk == teamed] == [False, False, False]
    # And a profile change still shows at once through the lean read.
    renamed = api.actor(str(freelancer.sub), name="Fred Renamed")
    await renamed.user_id()
    shown = await read_room(client, room.contract_id)
    assert shown["freelancer"]["name"] == "Fred Renamed"
