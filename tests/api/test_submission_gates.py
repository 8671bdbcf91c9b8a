"""A multipart submission passes the gates every request passes: trusted documents and the
rate limits (a refusal stores nothing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from milestones.config import RateLimit, Settings
from milestones.web.trusted_documents import document_id
from tests.api.test_submissions import SUBMIT, active_room, payload_of, stored_rows, upload
from tests.helpers import Actor, global_id, graphql_error_codes

FILES = [("a.txt", b"abc", "text/plain")]


@pytest.fixture
def settings(settings: Settings, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    if "rate_limits" in request.node.name:
        notifying = RateLimit.parse("3/minute")
        return settings.model_copy(update={"rate_limit_notifying": notifying})
    path = tmp_path / "persisted-documents.json"
    path.write_text(json.dumps({document_id(SUBMIT): SUBMIT}))
    return settings.model_copy(update={"persisted_documents": path, "trusted_documents_only": True})


async def test_trusted_documents_only_holds_for_multipart_requests(freelancer: Actor) -> None:
    # No room can be built with every other document refused: an unknown milestone shows
    # whether the upload's operation ran (NOT_FOUND) or was refused before it (400).
    milestone_id = global_id("Milestone", 999999)
    variables = {"input": {"milestoneId": milestone_id, "attachments": [None]}}

    refused = await upload(freelancer, milestone_id, FILES, query=SUBMIT + " ")
    by_id = await upload(
        freelancer,
        milestone_id,
        FILES,
        operations={"documentId": document_id(SUBMIT), "variables": variables},
    )

    assert refused.status_code == 400
    assert graphql_error_codes(refused.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert [e["code"] for e in payload_of(by_id)["userErrors"]] == ["NOT_FOUND"]
    assert await stored_rows() == (0, 0, 0)


async def test_rate_limits_hold_for_multipart_requests(client: Actor, freelancer: Actor) -> None:
    room = await active_room(client, freelancer)  # the client's 3 notifying mutations
    first = payload_of(await upload(freelancer, room.milestone(0), FILES))
    for _ in range(2):  # MILESTONE_NOT_ACTIVE, still metered
        await upload(freelancer, room.milestone(0), FILES)

    refused = await upload(freelancer, room.milestone(0), FILES)

    assert first["userErrors"] == []
    assert refused.status_code == 429 and refused.headers["retry-after"]
    assert graphql_error_codes(refused.json()) == ["RATE_LIMITED"]
    assert await stored_rows() == (1, 1, 1)
