"""A remembered token names its user without a read for `user_refresh_seconds`
(milestones.domain.users.user_for), and carries only what the token decides."""

from __future__ import annotations

import pytest
from tortoise import connections

from milestones.auth import TokenVerifier, issue_token
from milestones.domain import users
from milestones.domain.users import user_for
from milestones.models import User

SECRET = "known-users-test-secret-0123456789-abcdef"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(users.time, "monotonic", clock)
    return clock


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The subjects read from the users table, in order."""
    seen: list[str] = []
    original = users._by_sub

    async def counted(sub: str) -> User | None:
        seen.append(sub)
        return await original(sub)

    monkeypatch.setattr(users, "_by_sub", counted)
    return seen


async def _stored_name(sub: str) -> str | None:
    user = await User.get(sub=sub)
    return user.name


async def test_a_token_seen_again_within_the_window_costs_no_read(
    db: None, clock: Clock, reads: list[str]
) -> None:
    verifier = TokenVerifier(SECRET, user_refresh_seconds=60)
    token = issue_token(SECRET, "kim", name="Kim", email="kim@example.com")

    first = await user_for(verifier.verify(token))
    clock.now += 59
    second = await user_for(verifier.verify(token))

    assert reads == ["kim"]
    assert (second.id, second.sub, second.name, second.email, second.email_key) == (
        first.id,
        "kim",
        "Kim",
        "kim@example.com",
        "kim@example.com",
    )
    assert second is not first  # each request gets its own instance

    clock.now += 1
    await user_for(verifier.verify(token))
    assert reads == ["kim", "kim"]


async def test_a_viewer_carries_only_what_the_token_decides(db: None, clock: Clock) -> None:
    """What other requests change is never read off a viewer: it is not there, on a first
    sight or a remembered one alike."""
    verifier = TokenVerifier(SECRET, user_refresh_seconds=60)
    token = issue_token(SECRET, "lee", name="Lee")
    for _ in range(2):
        viewer = await user_for(verifier.verify(token))
        assert viewer.is_mediator is False
        for column in ("notification_seq", "email_enabled", "muted_email_kinds", "updated_at"):
            with pytest.raises(AttributeError):
                getattr(viewer, column)


async def test_after_the_window_the_token_writes_its_claims_again(db: None, clock: Clock) -> None:
    """Two tokens of one subject with other names: within the window an instance that already
    knows the older one leaves the newer name in place; after it, the claims are written again,
    as they were on every request before users were remembered."""
    verifier = TokenVerifier(SECRET, user_refresh_seconds=60)
    older = issue_token(SECRET, "max", name="Max")
    newer = issue_token(SECRET, "max", name="Max Power")

    await user_for(verifier.verify(older))
    await user_for(verifier.verify(newer))
    assert await _stored_name("max") == "Max Power"

    assert (await user_for(verifier.verify(older))).name == "Max"  # the token's own claims
    assert await _stored_name("max") == "Max Power"

    clock.now += 60
    await user_for(verifier.verify(older))
    assert await _stored_name("max") == "Max"


async def test_zero_seconds_reads_on_every_use(db: None, reads: list[str]) -> None:
    verifier = TokenVerifier(SECRET)  # the default: remember nothing
    token = issue_token(SECRET, "ned")
    for _ in range(3):
        await user_for(verifier.verify(token))
    assert reads == ["ned"] * 3


async def test_a_first_sight_still_creates_the_user_once(db: None, clock: Clock) -> None:
    verifier = TokenVerifier(SECRET, user_refresh_seconds=60)
    token = issue_token(SECRET, "ora", email="Ora@Example.com")
    viewer = await user_for(verifier.verify(token))
    again = await user_for(verifier.verify(token))
    rows = await connections.get("default").execute_query_dict(
        "SELECT id, email_key FROM users WHERE sub = 'ora'"
    )
    assert [(row["id"], row["email_key"]) for row in rows] == [(viewer.id, "ora@example.com")]
    assert again.id == viewer.id
