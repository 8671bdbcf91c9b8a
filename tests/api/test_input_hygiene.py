"""What a client types reaches the database only when it is what the contract says: ASCII money,
one-line titles, no NUL anywhere; every refusal is VALIDATION naming the field."""

from __future__ import annotations

import pytest

from tests.helpers import (
    Actor,
    create_contract_with_milestones,
    mutate,
    ok,
    refuse,
)

NOT_ASCII_AMOUNTS = (
    "\u0661\u0662",  # Arabic-Indic 12
    "\uff11\uff12",  # full-width 12
    "\u0967\u0968\u0969",  # Devanagari 123
    "\u0663.\u0665\u0660",  # Arabic-Indic 3.50
    "12\u00a0",
    " 12",
    "12 ",
    "1\u0660",
    "+12",
    "1e3",
    "",
)


@pytest.mark.parametrize("amount", NOT_ASCII_AMOUNTS)
async def test_amounts_are_ascii_digits_only(client: Actor, freelancer: Actor, amount: str) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await refuse(
        client,
        "addMilestone",
        {"contractId": room.contract_id, "title": "T", "amount": amount},
        "VALIDATION",
        field="amount",
        room=room,
    )
    await refuse(
        client,
        "editMilestone",
        {"milestoneId": room.milestone(0), "amount": amount},
        "VALIDATION",
        field="amount",
        room=room,
    )
    await refuse(
        freelancer,
        "requestMilestoneChanges",
        {
            "contractId": room.contract_id,
            "changes": [{"kind": "ADD", "title": "T", "amount": amount}],
        },
        "VALIDATION",
        field="changes.0.amount",
        room=room,
    )


@pytest.mark.parametrize("amount", ["\u0661\u0660", "\uff11\uff10", "10\u00a0"])
async def test_a_release_in_other_digits_releases_nothing(
    client: Actor, freelancer: Actor, amount: str
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await room.activate(0)
    await refuse(
        client,
        "approveMilestone",
        {"milestoneId": room.milestone(0), "endContract": False, "releaseAmount": amount},
        "VALIDATION",
        field="releaseAmount",
        room=room,
    )


@pytest.mark.parametrize(("amount", "shown"), [("12", "12.00"), (12, "12.00"), ("0.5", "0.50")])
async def test_ascii_amounts_as_strings_or_integers_are_accepted(
    client: Actor, freelancer: Actor, amount: object, shown: str
) -> None:
    room = await create_contract_with_milestones(client, freelancer, [])
    added = await room.add("T", amount)  # type: ignore[arg-type]
    assert added["milestone"]["amount"] == shown


ONE_LINE_BAD = ("a\x00b", "two\nlines", "tab\tin", "bell\x07", "del\x7f", "sep\u2028arator")


@pytest.mark.parametrize("title", ONE_LINE_BAD)
async def test_titles_are_one_line_without_control_characters(
    client: Actor, freelancer: Actor, title: str
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await refuse(
        client,
        "createContract",
        {"title": title, "freelancerId": await freelancer.user_id()},
        "VALIDATION",
        field="title",
    )
    await refuse(
        client,
        "addMilestone",
        {"contractId": room.contract_id, "title": title, "amount": "1"},
        "VALIDATION",
        field="title",
        room=room,
    )
    await refuse(
        client,
        "editMilestone",
        {"milestoneId": room.milestone(0), "title": title},
        "VALIDATION",
        field="title",
        room=room,
    )
    await refuse(
        freelancer,
        "requestMilestoneChanges",
        {
            "contractId": room.contract_id,
            "changes": [{"kind": "EDIT", "milestoneId": room.milestone(0), "title": title}],
        },
        "VALIDATION",
        field="changes.0.title",
        room=room,
    )


@pytest.mark.parametrize("text", ["nul\x00inside", "escape\x1b[31m", "\x00"])
async def test_descriptions_and_messages_refuse_nul_and_control_characters(
    client: Actor, freelancer: Actor, text: str
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    await refuse(
        client,
        "addMilestone",
        {"contractId": room.contract_id, "title": "T", "amount": "1", "description": text},
        "VALIDATION",
        field="description",
        room=room,
    )
    await room.activate(0)
    await refuse(
        freelancer,
        "submitMilestone",
        {"milestoneId": room.milestone(0), "message": text},
        "VALIDATION",
        field="message",
        room=room,
    )
    await refuse(
        client,
        "requestEscrowRefund",
        {"milestoneId": room.milestone(0), "message": text},
        "VALIDATION",
        field="message",
        room=room,
    )


async def test_multi_line_text_keeps_its_line_breaks(client: Actor, freelancer: Actor) -> None:
    room = await create_contract_with_milestones(client, freelancer, [])
    description = "First line\nSecond line\r\n\tindented"
    added = await room.add("T", "1", description=description)
    assert added["milestone"]["description"] == description


async def test_an_id_in_other_digits_names_nothing(client: Actor, freelancer: Actor) -> None:
    import base64

    room = await create_contract_with_milestones(client, freelancer, ["100.00"])
    pk = base64.b64decode(room.milestone(0)).decode().split(":")[1]
    arabic = "".join(chr(0x0660 + int(digit)) for digit in pk)
    other = base64.b64encode(f"Milestone:{arabic}".encode()).decode()
    payload = await mutate(client, "activateMilestone", {"milestoneId": other})
    assert [e["code"] for e in payload["userErrors"]] == ["NOT_FOUND"]
    assert (await ok(client, "activateMilestone", {"milestoneId": room.milestone(0)}))["milestone"]
