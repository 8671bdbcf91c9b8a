"""`DATABASE_POOL_SIZE`: read from the environment, checked, and handed to Tortoise."""

from __future__ import annotations

import pydantic
import pytest

from milestones.config import Settings
from milestones.database import DEFAULT_POOL_SIZE, connection_config


def test_the_setting_reaches_postgres_pool_and_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().database_pool_size == DEFAULT_POOL_SIZE
    monkeypatch.setenv("DATABASE_POOL_SIZE", "20")
    assert Settings().database_pool_size == 20
    for wrong in ("0", "-1", "501", "many"):
        monkeypatch.setenv("DATABASE_POOL_SIZE", wrong)
        with pytest.raises(pydantic.ValidationError):
            Settings()
    config = connection_config("postgres://u@db:5432/m", 20)
    assert isinstance(config, dict) and config["credentials"]["maxsize"] == 20
    config = connection_config("postgres://u@db:5432/m?maxsize=4", 20)
    assert isinstance(config, dict) and int(config["credentials"]["maxsize"]) == 4
    assert connection_config("sqlite://:memory:", 20) == "sqlite://:memory:"
