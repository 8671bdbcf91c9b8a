"""What notification emails say: one rendered sample per EventKind (and a coalesced email, and
one with a deadline), kept as text and HTML under tests/emails/samples/.

A change of wording shows as a diff of those files in review. After changing a template or a
sentence on purpose, regenerate them with

    UPDATE_EMAIL_SAMPLES=1 .venv/bin/python -m pytest tests/emails/test_rendering.py

and read the diff before committing it. A new EventKind without samples fails here until they
are generated.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from milestones.domain.email_items import ChangeLine, EmailItem
from milestones.domain.events import notification_message
from milestones.email_outbox import build_message
from milestones.emails.content import describe_change, render_email
from milestones.emails.links import EmailLinks
from milestones.models import Contract, EmailOutbox, Milestone, User
from milestones.models.enums import EventKind

SAMPLES = Path(__file__).parent / "samples"
UPDATE = os.environ.get("UPDATE_EMAIL_SAMPLES") == "1"
LINKS = EmailLinks.of("https://milestones.example.com", "a test secret")
UNSUBSCRIBE = LINKS.unsubscribe(2)

CONTRACT = Contract(id=7, title="Mobile app", currency="USD")
CONTRACT.client_id = 2  # the ORM is not set up here: set the ids by hand
CONTRACT.freelancer_id = 1
MILESTONE = Milestone(id=3, title="Prototype")
ACTOR = User(id=1, name="Fred Freelancer")
CHANGES = (
    ChangeLine(kind="ADD", title="Launch support", amount="750.00 USD", due_date="2027-01-15"),
    ChangeLine(
        kind="EDIT",
        milestone="Build",
        title="Build & test",
        amount="4200.00 USD",
        cleared=("due date",),
    ),
    ChangeLine(kind="DELETE", milestone="Wireframes"),
)
DEADLINE = dt.datetime(2026, 12, 8, 14, 30, tzinfo=dt.UTC)


def item_for(kind: EventKind) -> EmailItem:
    """What `record` stores for a notification of this kind, in a typical room."""
    if kind is EventKind.DEADLINE_REMINDER:  # its sentence names the deadline (reminders.py)
        sentence = (
            "Reminder: approve or reject the work on “Prototype” of “Mobile app” by "
            "8 Dec 2026, 14:30 UTC, or its money is released to the freelancer."
        )
    else:
        sentence = notification_message(kind, ACTOR, CONTRACT, MILESTONE, 75_000)
    change_request = kind.name.startswith("CHANGE_REQUEST_")
    refund = kind.name.startswith("REFUND_")
    dispute = kind.name.startswith("DISPUTE_")
    return EmailItem(
        kind=kind.value,
        sentence=sentence,
        contract_id=CONTRACT.id,
        contract_title=CONTRACT.title,
        note="Looks good.\nSee the <b>notes</b> & the link."
        if kind.value not in ("BONUS_PAID", "DEADLINE_REMINDER")
        else None,
        change_request_id=11 if change_request else None,
        refund_request_id=5 if refund else None,
        dispute_id=9 if dispute else None,
        deadline=DEADLINE if kind is EventKind.DEADLINE_REMINDER else None,
        changes=CHANGES if change_request else (),
    )


def samples() -> dict[str, list[EmailItem]]:
    cases = {kind.value: [item_for(kind)] for kind in EventKind}
    cases["coalesced"] = [
        item_for(EventKind.CHANGE_REQUEST_SUBMITTED),
        item_for(EventKind.CHANGE_REQUEST_WITHDRAWN),
        item_for(EventKind.MILESTONE_SUBMITTED),
    ]
    # A reminder names its deadline (Notification.deadline, when the notification has one).
    reminder_kind = getattr(EventKind, "DEADLINE_REMINDER", EventKind.MILESTONE_SUBMITTED)
    cases["with-deadline"] = [
        EmailItem(
            kind=reminder_kind.value,
            sentence="The review window of “Prototype” of “Mobile app” ends in 2 days.",
            contract_id=CONTRACT.id,
            contract_title=CONTRACT.title,
            deadline=DEADLINE,
        )
    ]
    return cases


@pytest.mark.parametrize("name", sorted(samples()))
def test_each_email_reads_as_its_reviewed_sample(name: str) -> None:
    rendered = render_email(samples()[name], LINKS, UNSUBSCRIBE)
    for suffix, text in (
        (".txt", f"Subject: {rendered.subject}\n\n{rendered.text}"),
        (".html", rendered.html),
    ):
        path = SAMPLES / f"{name}{suffix}"
        if UPDATE:
            path.write_text(text, encoding="utf-8")
            continue
        assert path.exists(), f"no sample {path.name}: run with UPDATE_EMAIL_SAMPLES=1, review"
        assert text == path.read_text(encoding="utf-8"), (
            f"{path.name} changed: if on purpose, regenerate with UPDATE_EMAIL_SAMPLES=1"
        )


def test_every_sample_file_belongs_to_a_case() -> None:
    """A kind renamed or removed leaves no stale sample behind."""
    names = set(samples())
    stale = [path.name for path in SAMPLES.iterdir() if path.stem not in names]
    assert stale == []


def test_an_email_has_the_sentence_note_changes_and_the_link_to_act() -> None:
    item = item_for(EventKind.CHANGE_REQUEST_SUBMITTED)
    rendered = render_email([item], LINKS, UNSUBSCRIBE)
    link = (
        "https://milestones.example.com/app/#contract=Q29udHJhY3Q6Nw%3D%3D"
        "&changeRequest=Q2hhbmdlUmVxdWVzdDoxMQ%3D%3D"
    )
    assert rendered.subject == item.sentence
    assert item.sentence in rendered.text
    assert "> Looks good.\n> See the <b>notes</b> & the link.\n" in rendered.text
    for line in CHANGES:
        assert f"* {describe_change(line)}\n" in rendered.text
    assert f"Review the change request: {link}\n" in rendered.text
    assert UNSUBSCRIBE in rendered.text
    # The HTML part escapes what people wrote, and links the same place.
    assert "See the &lt;b&gt;notes&lt;/b&gt; &amp; the link." in rendered.html
    assert "<b>notes</b>" not in rendered.html
    assert f'href="{link.replace("&", "&amp;")}"' in rendered.html


def test_each_change_is_one_line_saying_what_it_changes() -> None:
    assert [describe_change(line) for line in CHANGES] == [
        "Add “Launch support”: 750.00 USD, due 2027-01-15",
        "Edit “Build”: title “Build & test”, amount 4200.00 USD, due date cleared",
        "Delete “Wireframes”",
    ]


def test_links_name_the_refund_request_or_the_dispute() -> None:
    refund = item_for(EventKind.REFUND_REQUESTED)
    assert LINKS.act(refund) == (
        "https://milestones.example.com/app/#contract=Q29udHJhY3Q6Nw%3D%3D"
        "&refundRequest=UmVmdW5kUmVxdWVzdDo1"
    )
    dispute = EmailItem(kind="DISPUTE_OPENED", sentence="x", contract_id=7, dispute_id=2)
    assert LINKS.act(dispute) == (
        "https://milestones.example.com/app/#contract=Q29udHJhY3Q6Nw%3D%3D&dispute=RGlzcHV0ZToy"
    )


def test_a_coalesced_email_lists_each_notification_with_its_own_link() -> None:
    items = samples()["coalesced"]
    rendered = render_email(items, LINKS, UNSUBSCRIBE)
    assert rendered.subject == "3 new notifications"
    listed = [line[2:] for line in rendered.text.splitlines() if line.startswith("- ")]
    assert listed == [item.sentence for item in items]
    for item in items:
        url = LINKS.act(item)
        assert url is not None
        assert url in rendered.text
        assert url.replace("&", "&amp;") in rendered.html


def test_the_deadline_is_in_the_email() -> None:
    rendered = render_email(samples()["with-deadline"], LINKS, UNSUBSCRIBE)
    assert "Deadline: Tue 08 Dec 2026, 14:30 UTC" in rendered.text
    assert "Tue 08 Dec 2026, 14:30 UTC" in rendered.html


def test_items_survive_their_json_round_trip() -> None:
    for items in samples().values():
        for item in items:
            assert EmailItem.from_json(item.to_json()) == item


def test_a_title_or_name_cannot_add_a_header() -> None:
    hostile = "Logo\r\nBcc: victim@example.com\r\n\r\n<script>x</script>"
    item = EmailItem(
        kind="MILESTONE_ADDED", sentence=f"{hostile} added “{hostile}”.", contract_id=7
    )
    row = EmailOutbox(
        id=41,
        to_address="cleo@example.com",
        subject="x",
        body="x",
        details=item.to_json(),
    )
    row.notification_id = 9  # set by hand: the ORM may not be initialised here
    message = build_message("milestones@example.com", "cleo@example.com", [row], LINKS, 2)
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert parsed["Bcc"] is None
    assert "\n" not in str(parsed["Subject"]) and "Bcc: victim" in str(parsed["Subject"])
    html = parsed.get_body(("html",))
    assert html is not None and "<script>" not in html.get_content()
    assert re.fullmatch(r"<notification-9\.41@milestones\.example\.com>", parsed["Message-ID"])
