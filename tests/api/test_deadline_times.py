"""The times of fixed-price protection: when a milestone was activated, submitted and released,
its review deadline, and a refund request's answer-by time (windows from the environment)."""

from __future__ import annotations

import datetime as dt

import pytest

from milestones.config import Settings
from milestones.domain.windows import Windows, parse_duration
from tests.helpers import Actor, create_contract_with_milestones, milestone_in


def at(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


async def test_submitting_sets_the_review_deadline_and_rejecting_clears_it(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    activated = (await room.activate(0))["milestone"]
    assert activated["activatedAt"] is not None
    assert activated["submittedAt"] is None and activated["reviewDeadline"] is None

    submitted = (await room.submit(0))["milestone"]

    assert at(submitted["reviewDeadline"]) - at(submitted["submittedAt"]) == dt.timedelta(days=14)
    rejected = (await room.reject(0))["milestone"]
    assert rejected["reviewDeadline"] is None
    assert rejected["submittedAt"] == submitted["submittedAt"]  # the last submission's time
    resubmitted = (await room.submit(0))["milestone"]
    assert at(resubmitted["reviewDeadline"]) > at(submitted["reviewDeadline"])


async def test_approving_sets_released_at_and_ends_the_review(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    await room.submit(0)

    await room.approve(0)

    milestone = milestone_in(await room.read(), room.milestone(0))
    assert milestone["releasedAt"] is not None
    assert milestone["reviewDeadline"] is None


async def test_a_refund_request_is_answered_by_its_window(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    await room.submit(0)

    payload = await room.request_refund(0)

    refund = payload["refundRequest"]
    assert at(refund["respondBy"]) - at(refund["createdAt"]) == pytest.approx(
        dt.timedelta(days=7), abs=dt.timedelta(seconds=1)
    )
    # The review deadline stays set: a pending refund request pauses it, it does not end it.
    assert payload["milestone"]["reviewDeadline"] is not None


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("24h", 86400), ("14d", 14 * 86400)]
)
def test_durations_read_as_the_contract_says(text: str, seconds: int) -> None:
    assert parse_duration(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "0s", "14", "1w", "-1d", "1.5h", "d", "1 d"])
def test_other_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_windows_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEW_WINDOW", "2s")
    monkeypatch.setenv("REMINDER_BEFORE", "1s")
    windows = Settings().windows
    assert windows.review == dt.timedelta(seconds=2)
    assert windows.refund_response == dt.timedelta(days=7)
    monkeypatch.setenv("DISPUTE_RESPONSE_WINDOW", "5 days")
    with pytest.raises(ValueError, match="not a duration"):
        Settings()


def test_a_window_shorter_than_the_reminder_lead_gets_no_reminder() -> None:
    windows = Windows(review=dt.timedelta(hours=1), reminder_before=dt.timedelta(days=2))
    deadline = dt.datetime(2030, 1, 10, tzinfo=dt.UTC)
    assert windows.remind_at(deadline, windows.review) is None
    assert windows.remind_at(deadline, dt.timedelta(days=14)) == dt.datetime(
        2030, 1, 8, tzinfo=dt.UTC
    )
