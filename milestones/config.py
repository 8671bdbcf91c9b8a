"""Settings from the environment, one typed object."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_JWT_SECRET = "dev-secret-change-me-0123456789abcdef"
MIN_PRODUCTION_SECRET_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    database_url: str = "sqlite://milestones.sqlite3"
    broadcast_url: str = "memory://"
    jwt_secret: str = DEFAULT_JWT_SECRET
    smtp_url: str | None = None
    smtp_sender: str = "milestones@localhost"
    milestones_env: Literal["development", "production"] = "development"
    # Subscriptions: how long a socket may wait before connection_init.
    connection_init_wait_timeout: float = Field(default=10.0, gt=0)

    @property
    def is_production(self) -> bool:
        return self.milestones_env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def check(self) -> None:
        """Refuse settings that are unsafe for the chosen environment."""
        if self.is_production and (
            self.jwt_secret == DEFAULT_JWT_SECRET
            or len(self.jwt_secret) < MIN_PRODUCTION_SECRET_LENGTH
        ):
            raise ValueError(
                "MILESTONES_ENV=production needs JWT_SECRET set to a random value of at least "
                f"{MIN_PRODUCTION_SECRET_LENGTH} characters"
            )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
