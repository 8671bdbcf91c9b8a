"""Notifications: marking them read, and the email that carries an action's note."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from milestones.domain import commands, events, milestones, notifications
from milestones.domain.errors import ErrorCode
from milestones.models import EmailOutbox, Notification
from tests.domain.conftest import MakeRoom, People, refused


@pytest.fixture
def email_enabled() -> Iterator[None]:
    events.set_email_enabled(True)
    yield
    events.set_email_enabled(False)


async def test_marking_read_answers_someone_elses_notification_as_not_found(
    people: People, make_room: MakeRoom
) -> None:
    await make_room()
    [mine] = await Notification.filter(recipient_id=people.freelancer.id).order_by("seq")
    theirs = commands.MarkNotificationsRead(ids=(mine.id, None))
    assert await refused(notifications.mark_notifications_read(people.client, theirs)) == [
        (ErrorCode.NOT_FOUND, "ids.0"),
        (ErrorCode.NOT_FOUND, "ids.1"),
    ]
    own = commands.MarkNotificationsRead(ids=(mine.id,))
    marked = await notifications.mark_notifications_read(people.freelancer, own)
    assert [row.id for row in marked.notifications] == [mine.id]
    again = await notifications.mark_notifications_read(people.freelancer, own)
    assert (again.notifications, again.unread_count) == ([], 0)


async def test_the_email_carries_the_note(
    people: People, make_room: MakeRoom, email_enabled: None
) -> None:
    room = await make_room(100)
    await milestones.activate_milestone(
        people.client, commands.ActivateMilestone(milestone_id=room.milestone_id(0))
    )
    await milestones.submit_milestone(
        people.freelancer,
        commands.SubmitMilestone(milestone_id=room.milestone_id(0), message="See v2.\nThanks"),
    )
    email = await EmailOutbox.all().order_by("-id").first()
    assert email is not None and email.to_address == "cleo@example.com"
    assert "> See v2.\n> Thanks\n" in email.body
    assert "\n" not in email.subject
