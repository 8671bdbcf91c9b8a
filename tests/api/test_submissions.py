"""Submissions with files: the GraphQL multipart request on /graphql (submitMilestone only),
`Milestone.submissions` and its outcomes, and `GET /attachments/<id>` for the parties."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from milestones.config import Settings
from milestones.domain import clock, deadlines
from milestones.models import Attachment, AttachmentChunk, Submission
from milestones.web.attachments import content_disposition
from tests.helpers import (
    JSON,
    Actor,
    Room,
    create_contract_with_milestones,
    global_id,
    graphql_error_codes,
    milestone_in,
    ok,
)

MAX = 4096  # MAX_UPLOAD_BYTES here: files at the limit stay small

SUBMIT = """
mutation Submit($input: SubmitMilestoneInput!) {
  submitMilestone(input: $input) {
    milestone { id status }
    userErrors { code message field }
  }
}
"""
SUBMISSIONS = """
query Submissions($id: ID!) {
  node(id: $id) {
    ... on Milestone {
      submissions {
        id message outcome responseMessage submittedAt respondedAt
        attachments { id filename contentType size sha256 url }
      }
    }
  }
}
"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_upload_bytes": MAX})


@pytest.fixture(autouse=True)
def wall_clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


File = tuple[str, bytes, str]


async def upload(
    actor: Actor,
    milestone_id: str,
    files: list[File],
    *,
    message: str | None = None,
    query: str = SUBMIT,
    headers: dict[str, str] | None = None,
    operations: JSON | None = None,
) -> httpx.Response:
    """POST a GraphQL multipart request (operations, map, then the files)."""
    if operations is None:
        input_: JSON = {"milestoneId": milestone_id, "attachments": [None] * len(files)}
        if message is not None:
            input_["message"] = message
        operations = {"query": query, "variables": {"input": input_}}
    mapping = {str(i): [f"variables.input.attachments.{i}"] for i in range(len(files))}
    sent = {"GraphQL-Preflight": "1"}
    if actor.token:
        sent["Authorization"] = f"Bearer {actor.token}"
    sent.update(headers or {})
    return await actor.http.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps(mapping)},
        files=[(str(i), file) for i, file in enumerate(files)],
        headers=sent,
    )


async def submissions(actor: Actor, milestone_id: str) -> list[JSON]:
    data = await actor.gql(SUBMISSIONS, {"id": milestone_id})
    found: list[JSON] = data["node"]["submissions"]
    return found


async def download(actor: Actor, url: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {actor.token}"} if actor.token else {}
    return await actor.http.get(url, headers=headers)


async def active_room(client: Actor, freelancer: Actor, amounts: list[str] | None = None) -> Room:
    room = await create_contract_with_milestones(client, freelancer, amounts or ["100.00"])
    await room.activate(0)
    return room


async def stored_rows() -> tuple[int, int, int]:
    return (
        await Submission.all().count(),
        await Attachment.all().count(),
        await AttachmentChunk.all().count(),
    )


def payload_of(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]["submitMilestone"]


async def test_a_submission_keeps_its_message_and_files_for_the_parties(
    client: Actor, freelancer: Actor, outsider: Actor, anonymous: Actor
) -> None:
    room = await active_room(client, freelancer)
    report = b"%PDF-1.7 the report\n" * 50
    notes = bytes(range(256)) * 3

    payload = payload_of(
        await upload(
            freelancer,
            room.milestone(0),
            [("report.pdf", report, "application/pdf"), ("notes.bin", notes, "")],
            message="Done: see the report.",
        )
    )

    assert payload["userErrors"] == [] and payload["milestone"]["status"] == "SUBMITTED"
    (submission,) = await submissions(client, room.milestone(0))
    assert submission["message"] == "Done: see the report."
    assert submission["outcome"] == "PENDING" and submission["respondedAt"] is None
    first, second = submission["attachments"]
    assert (first["filename"], first["contentType"], first["size"]) == (
        "report.pdf",
        "application/pdf",
        len(report),
    )
    assert first["sha256"] == hashlib.sha256(report).hexdigest()
    assert second["sha256"] == hashlib.sha256(notes).hexdigest()
    assert second["contentType"] == "application/octet-stream"  # none given
    assert first["url"] == f"/attachments/{first['id']}"
    for party in (client, freelancer):
        response = await download(party, first["url"])
        assert response.status_code == 200
        assert response.content == report
        assert response.headers["content-type"] == "application/pdf"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-disposition"].startswith("attachment;")
    assert (await download(client, second["url"])).content == notes
    # Outsiders, unknown and malformed ids: the same 404; no token: 401.
    assert (await download(outsider, first["url"])).status_code == 404
    assert (
        await download(client, f"/attachments/{global_id('Attachment', 999999)}")
    ).status_code == 404
    assert (await download(client, "/attachments/not-an-id")).status_code == 404
    assert (await download(client, f"/attachments/{room.milestone(0)}")).status_code == 404
    unauthenticated = await download(anonymous, first["url"])
    assert unauthenticated.status_code == 401
    assert graphql_error_codes(unauthenticated.json()) == ["UNAUTHENTICATED"]
    # As nodes: for the parties only.
    node = "query($id: ID!) { node(id: $id) { ... on Attachment { sha256 } } }"
    assert (await client.gql(node, {"id": first["id"]}))["node"] == {"sha256": first["sha256"]}
    assert (await outsider.gql(node, {"id": first["id"]}))["node"] is None
    assert (await outsider.gql(SUBMISSIONS, {"id": room.milestone(0)}))["node"] is None


async def test_a_file_of_exactly_max_upload_bytes_is_accepted(
    client: Actor, freelancer: Actor
) -> None:
    room = await active_room(client, freelancer)
    exact = bytes(i % 251 for i in range(MAX))

    payload = payload_of(
        await upload(freelancer, room.milestone(0), [("exact.bin", exact, "application/zip")])
    )

    assert payload["userErrors"] == []
    (submission,) = await submissions(freelancer, room.milestone(0))
    (attachment,) = submission["attachments"]
    assert attachment["size"] == MAX
    assert attachment["sha256"] == hashlib.sha256(exact).hexdigest()
    assert (await download(client, attachment["url"])).content == exact


async def test_one_byte_over_max_upload_bytes_is_refused_and_nothing_is_written(
    client: Actor, freelancer: Actor
) -> None:
    room = await active_room(client, freelancer)
    before = await room.snapshot()

    response = await upload(
        freelancer,
        room.milestone(0),
        [("ok.txt", b"fine", "text/plain"), ("big.bin", b"x" * (MAX + 1), "application/zip")],
    )

    assert response.status_code == 413
    assert graphql_error_codes(response.json()) == ["FILE_TOO_LARGE"]
    assert "big.bin" in response.json()["errors"][0]["message"]
    assert await room.snapshot() == before
    assert milestone_in(await room.read(), room.milestone(0))["status"] == "ACTIVE"
    assert await stored_rows() == (0, 0, 0)


async def test_eleven_files_are_refused_on_attachments(client: Actor, freelancer: Actor) -> None:
    room = await active_room(client, freelancer)
    before = await room.snapshot()

    # Not read at all: even a file over the size limit among them does not matter.
    files: list[File] = [(f"f{i}.txt", b"x", "text/plain") for i in range(10)]
    response = await upload(
        freelancer, room.milestone(0), [*files, ("big.bin", b"x" * (MAX + 1), "text/plain")]
    )

    payload = payload_of(response)
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("VALIDATION", "attachments")
    ]
    assert await room.snapshot() == before
    assert await stored_rows() == (0, 0, 0)
    ten = payload_of(
        await upload(
            freelancer, room.milestone(0), [(f"f{i}.txt", b"x", "text/plain") for i in range(10)]
        )
    )
    assert ten["userErrors"] == []
    assert len((await submissions(client, room.milestone(0)))[0]["attachments"]) == 10


async def test_a_refused_submission_keeps_no_file(client: Actor, freelancer: Actor) -> None:
    room = await active_room(client, freelancer)

    # The client may not submit: FORBIDDEN, and the file is not stored.
    payload = payload_of(await upload(client, room.milestone(0), [("a.txt", b"abc", "text/plain")]))

    assert [e["code"] for e in payload["userErrors"]] == ["FORBIDDEN"]
    assert await stored_rows() == (0, 0, 0)


@pytest.mark.parametrize(
    "document",
    [
        "mutation($input: RejectSubmissionInput!) { rejectSubmission(input: $input) { "
        "userErrors { code } } }",
        "query { me { id } }",
        "mutation($input: SubmitMilestoneInput!) { submitMilestone(input: $input) { "
        "userErrors { code } } markNotificationsRead(input: {}) { count } }",
    ],
)
async def test_multipart_for_any_other_operation_is_refused(
    client: Actor, freelancer: Actor, document: str
) -> None:
    room = await active_room(client, freelancer)
    before = await room.snapshot()

    response = await upload(
        client, room.milestone(0), [("a.txt", b"abc", "text/plain")], query=document
    )

    assert response.status_code == 400
    assert "only for the submitMilestone mutation" in response.json()["errors"][0]["message"]
    assert await room.snapshot() == before
    assert await stored_rows() == (0, 0, 0)


async def test_multipart_needs_a_token_and_the_preflight_header(
    client: Actor, freelancer: Actor, anonymous: Actor
) -> None:
    room = await active_room(client, freelancer)
    files: list[File] = [("a.txt", b"abc", "text/plain")]

    unauthenticated = await upload(anonymous, room.milestone(0), files)
    no_preflight = await upload(
        freelancer, room.milestone(0), files, headers={"GraphQL-Preflight": ""}
    )

    assert unauthenticated.status_code == 401
    assert graphql_error_codes(unauthenticated.json()) == ["UNAUTHENTICATED"]
    assert no_preflight.status_code == 400
    assert "GraphQL-Preflight" in no_preflight.json()["errors"][0]["message"]
    assert await stored_rows() == (0, 0, 0)
    assert milestone_in(await room.read(), room.milestone(0))["status"] == "ACTIVE"


async def test_operations_and_map_count_against_the_body_limit(
    client: Actor, freelancer: Actor, settings: Settings
) -> None:
    room = await active_room(client, freelancer)
    operations = {
        "query": SUBMIT,
        "variables": {
            "input": {
                "milestoneId": room.milestone(0),
                "message": "x" * settings.max_body_bytes,
                "attachments": [None],
            }
        },
    }

    response = await upload(
        freelancer, room.milestone(0), [("a.txt", b"abc", "text/plain")], operations=operations
    )

    assert response.status_code == 413
    assert graphql_error_codes(response.json()) == ["BODY_TOO_LARGE"]
    assert await stored_rows() == (0, 0, 0)


async def test_files_only_travel_in_multipart_requests(client: Actor, freelancer: Actor) -> None:
    room = await active_room(client, freelancer)

    body = await freelancer.post(
        SUBMIT, {"input": {"milestoneId": room.milestone(0), "attachments": ["not a file"]}}
    )

    errors = body["data"]["submitMilestone"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [("VALIDATION", "attachments.0")]


async def test_active_content_is_served_as_a_download_under_its_exact_name(
    client: Actor, freelancer: Actor
) -> None:
    room = await active_room(client, freelancer)
    page = b"<html><script>alert(document.cookie)</script></html>"
    name = "résumé; final 100%.html"
    payload_of(await upload(freelancer, room.milestone(0), [(name, page, "text/html")]))
    (attachment,) = (await submissions(client, room.milestone(0)))[0]["attachments"]

    response = await download(client, attachment["url"])

    assert attachment["filename"] == name and attachment["contentType"] == "text/html"
    assert response.content == page
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]
    disposition = response.headers["content-disposition"]
    fallback = disposition.split('filename="', 1)[1].split('"', 1)[0]
    assert fallback.isascii() and '"' not in fallback and ";" not in fallback
    assert unquote(disposition.split("filename*=UTF-8''", 1)[1]) == name


def test_a_download_name_is_quoted_safely() -> None:
    disposition = content_disposition('a"b\\c;d.txt')
    assert disposition.startswith("attachment; filename=\"a_b_c_d.txt\"; filename*=UTF-8''")
    assert unquote(disposition.split("UTF-8''", 1)[1]) == 'a"b\\c;d.txt'


OUTCOMES = """
mutation Approve($input: ApproveMilestoneInput!) {
  approveMilestone(input: $input) { userErrors { code } }
}
"""


async def test_submissions_are_listed_oldest_first_with_their_outcomes(
    client: Actor, freelancer: Actor
) -> None:
    room = await active_room(client, freelancer, ["100.00", "50.00"])
    m0, m1 = room.milestone(0), room.milestone(1)
    await ok(freelancer, "submitMilestone", {"milestoneId": m0, "message": "First try."})
    await ok(client, "rejectSubmission", {"milestoneId": m0, "message": "Needs tests."})
    payload_of(await upload(freelancer, m0, [("tests.py", b"assert True\n", "text/x-python")]))
    await ok(
        client, "approveMilestone", {"milestoneId": m0, "endContract": False, "message": "Thanks!"}
    )
    await room.activate(1)
    await ok(freelancer, "submitMilestone", {"milestoneId": m1})
    clock.advance(dt.timedelta(days=15))
    assert await deadlines.act_on_due() == 1

    first, second = await submissions(client, m0)
    (third,) = await submissions(freelancer, m1)

    assert (first["message"], first["outcome"], first["responseMessage"]) == (
        "First try.",
        "REJECTED",
        "Needs tests.",
    )
    assert first["attachments"] == [] and first["respondedAt"] is not None
    assert (second["message"], second["outcome"], second["responseMessage"]) == (
        None,
        "APPROVED",
        "Thanks!",
    )
    assert [a["filename"] for a in second["attachments"]] == ["tests.py"]
    assert first["submittedAt"] < second["submittedAt"]
    assert (third["outcome"], third["responseMessage"]) == ("AUTO_RELEASED", None)
    assert third["respondedAt"] is not None


def _multipart(*parts: tuple[str, str | None, bytes]) -> bytes:
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--x\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"
    return body + b"--x--\r\n"


_OPERATIONS = json.dumps(
    {"query": SUBMIT, "variables": {"input": {"milestoneId": "x", "attachments": [None]}}}
).encode()
_MAP = b'{"0": ["variables.input.attachments.0"]}'


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"--x--\r\n", id="no parts"),
        pytest.param(_multipart(("operations", None, _OPERATIONS)), id="no map"),
        pytest.param(
            _multipart(("map", None, _MAP), ("operations", None, _OPERATIONS)), id="order"
        ),
        pytest.param(_multipart(("operations", None, b"{"), ("map", None, _MAP)), id="not json"),
        pytest.param(_multipart(("operations", None, b"[]"), ("map", None, _MAP)), id="batch"),
        pytest.param(
            _multipart(("operations", None, _OPERATIONS), ("map", None, b'{"0": "x"}')),
            id="bad map",
        ),
        pytest.param(
            _multipart(
                ("operations", None, _OPERATIONS),
                ("map", None, b'{"0": ["variables.input.milestoneId"]}'),
                ("0", "a.txt", b"abc"),
            ),
            id="map to a non-null",
        ),
        pytest.param(
            _multipart(("operations", None, _OPERATIONS), ("map", None, _MAP), ("1", "a", b"")),
            id="part not in map",
        ),
        pytest.param(
            _multipart(("operations", None, _OPERATIONS), ("map", None, _MAP)), id="file missing"
        ),
        pytest.param(b"garbage", id="not multipart at all"),
    ],
)
async def test_malformed_multipart_bodies_get_a_400(freelancer: Actor, body: bytes) -> None:
    response = await freelancer.http.post(
        "/graphql",
        content=body,
        headers={
            "authorization": f"Bearer {freelancer.token}",
            "graphql-preflight": "1",
            "content-type": "multipart/form-data; boundary=x",
        },
    )

    assert response.status_code == 400, response.text
    assert len(response.json()["errors"]) == 1
    assert await stored_rows() == (0, 0, 0)
