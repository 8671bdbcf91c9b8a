"""Webhook tests: quick retries, a receiver on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from milestones.config import Settings
from tests.webhooks.receiver import Receiver


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Retries within a test's patience: 50 ms doubling, never more than 200 ms apart.
    return settings.model_copy(
        update={
            "webhook_retry_seconds": 0.05,
            "webhook_max_retry_seconds": 0.2,
            "webhook_timeout_seconds": 2.0,
        }
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver().running() as running:
        yield running
