"""Every message a mutation takes is kept: as the note of its event and notification."""

from __future__ import annotations

from tests.helpers import Actor, create_contract_with_milestones, mutate, ok, pending_change_request

NOTES = """
query Notes($id: ID!) {
  contract(id: $id) { events(first: 100) { edges { node { kind note } } } }
}
"""
NOTIFICATION_NOTES = "{ notifications(first: 100) { edges { node { kind note } } } }"


async def _event_notes(actor: Actor, contract_id: str) -> dict[str, str | None]:
    data = await actor.gql(NOTES, {"id": contract_id})
    return {e["node"]["kind"]: e["node"]["note"] for e in data["contract"]["events"]["edges"]}


async def _notification_notes(actor: Actor) -> dict[str, str | None]:
    data = await actor.gql(NOTIFICATION_NOTES)
    return {e["node"]["kind"]: e["node"]["note"] for e in data["notifications"]["edges"]}


async def test_each_message_is_the_note_of_its_event_and_notification(
    client: Actor, freelancer: Actor
) -> None:
    room = await create_contract_with_milestones(client, freelancer, ["100.00", "50.00"])
    m0, m1 = room.milestone(0), room.milestone(1)
    await room.activate(0)
    await ok(freelancer, "submitMilestone", {"milestoneId": m0, "message": "Here it is.\nv1"})
    await ok(client, "rejectSubmission", {"milestoneId": m0, "message": "Needs tests."})
    await ok(
        client,
        "approveMilestone",
        {"milestoneId": m0, "endContract": False, "message": "Thanks!"},
    )
    await room.activate(1)
    refund = await ok(client, "requestEscrowRefund", {"milestoneId": m1, "message": "Stop."})
    await ok(
        freelancer,
        "respondToRefundRequest",
        {
            "refundRequestId": refund["refundRequest"]["id"],
            "decision": "DECLINE",
            "message": "Almost done.",
        },
    )
    change_request = await pending_change_request(room)  # message "Can we add this?"
    await room.respond_to_changes(change_request, "DECLINE", message="Not now.")
    await room.approve(1)
    await mutate(client, "endContract", {"contractId": room.contract_id, "message": "Bye."})

    expected = {
        "MILESTONE_SUBMITTED": "Here it is.\nv1",
        "SUBMISSION_REJECTED": "Needs tests.",
        "REFUND_REQUESTED": "Stop.",
        "REFUND_DECLINED": "Almost done.",
        "CHANGE_REQUEST_SUBMITTED": "Can we add this?",
        "CHANGE_REQUEST_DECLINED": "Not now.",
        "CONTRACT_ENDED": "Bye.",
        "MILESTONE_ACTIVATED": None,
    }
    notes = await _event_notes(client, room.contract_id)
    assert {kind: notes[kind] for kind in expected} == expected
    assert "Thanks!" in [
        e["node"]["note"]
        for e in (await client.gql(NOTES, {"id": room.contract_id}))["contract"]["events"]["edges"]
        if e["node"]["kind"] == "MILESTONE_APPROVED"
    ]
    to_client = await _notification_notes(client)
    to_freelancer = await _notification_notes(freelancer)
    assert to_client["MILESTONE_SUBMITTED"] == "Here it is.\nv1"
    assert to_freelancer["SUBMISSION_REJECTED"] == "Needs tests."
    assert to_freelancer["CONTRACT_ENDED"] == "Bye."
    assert to_client["REFUND_DECLINED"] == "Almost done."
