"""Every request has an id (the caller's X-Request-ID or a new one), echoed in the response and
written on its one JSON log line with the operation name and outcome."""

from __future__ import annotations

import json
import logging
import os
import re

import pytest

from milestones.observability.logs import JsonFormatter, current_request_id
from milestones.web.request_observer import _RequestIds
from tests.conftest import Actor, ApiClient


def request_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "milestones.requests"]


async def test_the_callers_request_id_is_echoed_and_logged_with_the_operation(
    api: ApiClient, client: Actor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="milestones.requests")
    response = await api.http.post(
        "/graphql",
        json={"query": "query WhoAmI { me { id } }"},
        headers={"Authorization": f"Bearer {client.token}", "X-Request-ID": "req-42.abc"},
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-42.abc"

    [record] = request_records(caplog)
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-42.abc"
    assert line["operation"] == "WhoAmI"
    assert line["outcome"] == "ok"
    assert line["status"] == 200
    assert line["path"] == "/graphql"
    assert isinstance(line["duration_ms"], float)
    assert line["level"] == "info"


@pytest.mark.parametrize("incoming", [None, "has spaces", "x" * 200])
async def test_a_missing_or_unsafe_request_id_is_replaced(
    api: ApiClient, incoming: str | None
) -> None:
    headers = {"X-Request-ID": incoming} if incoming is not None else {}
    response = await api.http.get("/healthz", headers=headers)
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_a_refusal_is_logged_as_a_user_error(
    api: ApiClient, anonymous: Actor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="milestones.requests")
    await anonymous.post("query Me { me { id } }")
    [record] = request_records(caplog)
    line = json.loads(JsonFormatter().format(record))
    assert (line["operation"], line["outcome"]) == ("Me", "user_error")


def test_json_lines_carry_the_current_request_id_and_extra_fields() -> None:
    record = logging.LogRecord(
        "milestones.test", logging.WARNING, __file__, 1, "hi %s", ("you",), None
    )
    record.fields = {"operation": "Room", "skipped": None}
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hi you"
    assert line["level"] == "warning"
    assert line["operation"] == "Room"
    assert "skipped" not in line
    assert current_request_id() is None
    assert "request_id" not in line


def test_new_request_ids_are_distinct_and_change_with_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = _RequestIds()
    here = {ids.new() for _ in range(1000)}
    assert len(here) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}", request_id) for request_id in here)
    assert len({request_id[:16] for request_id in here}) == 1
    monkeypatch.setattr(os, "getpid", lambda: -2)  # as in a forked worker
    forked = ids.new()
    assert forked not in here and forked[:16] != next(iter(here))[:16]
