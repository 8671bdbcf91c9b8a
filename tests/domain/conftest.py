"""Domain actions called directly with typed commands: a migrated database, no HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from milestones.auth import Claims
from milestones.config import Settings
from milestones.domain import commands, contracts, milestones
from milestones.domain.errors import DomainError, ErrorCode
from milestones.domain.users import user_from_claims
from milestones.models import Contract, Milestone, User
from tests.conftest import is_postgres_url, postgres_unavailable, require_service


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[None]:
    from milestones.database import database, reset_tables

    url = settings.database_url
    require_service(postgres_unavailable(url) if is_postgres_url(url) else None)
    async with database(url):
        if is_postgres_url(url):  # SQLite: each test has its own copy
            await reset_tables()
        yield


@dataclass
class People:
    client: User
    freelancer: User
    outsider: User


@pytest.fixture
async def people(db: None) -> People:
    return People(
        client=await user_from_claims(Claims("client", "Cleo Client", "cleo@example.com")),
        freelancer=await user_from_claims(Claims("freelancer", "Fred", "fred@example.com")),
        outsider=await user_from_claims(Claims("outsider", "Olga", None)),
    )


@dataclass
class Room:
    contract: Contract
    milestones: list[Milestone]

    def milestone_id(self, index: int) -> int:
        return self.milestones[index].id


MakeRoom = Callable[..., Awaitable[Room]]


@pytest.fixture
def make_room(people: People) -> MakeRoom:
    async def make(*amounts: int) -> Room:
        offered = await contracts.create_contract(
            people.client,
            commands.CreateContract(title="Website", freelancer_id=people.freelancer.id),
        )
        created = await contracts.accept_contract(
            people.freelancer, commands.AcceptContract(contract_id=offered.contract.id)
        )
        added = []
        for number, cents in enumerate(amounts, start=1):
            outcome = await milestones.add_milestone(
                people.client,
                commands.AddMilestone(
                    contract_id=created.contract.id, title=f"M{number}", amount=cents
                ),
            )
            assert outcome.milestone is not None
            added.append(outcome.milestone)
        return Room(created.contract, added)

    return make


async def refused(action: Awaitable[object]) -> list[tuple[ErrorCode, str | None]]:
    """The (code, field) of each problem the action was refused with."""
    with pytest.raises(DomainError) as refusal:
        await action
    return [(problem.code, problem.field) for problem in refusal.value.problems]
