"""Settings from the environment, one typed object."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from milestones.domain.windows import Windows, parse_duration

DEFAULT_JWT_SECRET = "dev-secret-change-me-0123456789abcdef"
MIN_PRODUCTION_SECRET_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    database_url: str = "sqlite://milestones.sqlite3"
    broadcast_url: str = "memory://"
    jwt_secret: str = DEFAULT_JWT_SECRET
    smtp_url: str | None = None
    smtp_sender: str = "milestones@localhost"
    # Notification emails: first retry after this long, then doubling (up to an hour).
    smtp_retry_seconds: float = Field(default=10.0, gt=0)
    # Webhooks: time limit per attempt; first retry after about WEBHOOK_RETRY_SECONDS, then
    # doubling up to WEBHOOK_MAX_RETRY_SECONDS, for WEBHOOK_RETRY_WINDOW_SECONDS (then parked).
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_retry_seconds: float = Field(default=5.0, gt=0)
    webhook_max_retry_seconds: float = Field(default=3600.0, gt=0)
    webhook_retry_window_seconds: float = Field(default=24 * 3600.0, gt=0)
    # Webhook attempts in flight at once per instance.
    webhook_concurrency: int = Field(default=8, ge=1, le=100)
    # Tracing: OpenTelemetry spans exported over OTLP/HTTP to this base URL (unset: off, and
    # nothing of OpenTelemetry is loaded). Needs the `otel` extra.
    otel_exporter_otlp_endpoint: str | None = None
    milestones_env: Literal["development", "production"] = "development"
    # Server logs: one JSON object per line, or plain text for a terminal.
    log_format: Literal["json", "text"] = "json"
    # Caches are bounded by bytes (what a client sends decides an entry's size, not its count).
    # Contract-room responses kept per process (0 turns the cache off).
    room_cache_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    # Parsed and validated documents of signed-in callers.
    document_cache_bytes: int = Field(default=32 * 1024 * 1024, ge=0)
    # Tokens already verified (each is checked again for expiry on every use).
    token_cache_bytes: int = Field(default=4 * 1024 * 1024, ge=0)
    # Frames waiting to be sent on one WebSocket; past it the socket is closed (4429) and the
    # client resumes by cursor.
    websocket_backlog_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    # A subscription retries a failing database read with backoff for this long before it
    # ends with an `error` (SERVICE_UNAVAILABLE).
    subscription_retry_seconds: float = Field(default=30.0, gt=0)
    # Subscriptions: how long a socket may wait before connection_init.
    connection_init_wait_timeout: float = Field(default=10.0, gt=0)
    # Limits on what one request may ask (refusals are GraphQL errors, 4xx where HTTP says so).
    max_query_depth: int = Field(default=10, ge=1)
    max_aliases: int = Field(default=15, ge=0)
    max_tokens: int = Field(default=2000, ge=1)
    max_body_bytes: int = Field(default=100 * 1024, ge=1)
    max_subscriptions_per_connection: int = Field(default=20, ge=1)
    # Fixed-price protection, as `<integer><s|m|h|d>`: the client's review of a submission, the
    # freelancer's answer to a refund request, the client's answer to a dispute, and how long
    # before each deadline whoever must act is reminded.
    review_window: str = "14d"
    refund_response_window: str = "7d"
    dispute_response_window: str = "5d"
    reminder_before: str = "2d"

    @field_validator(
        "review_window", "refund_response_window", "dispute_response_window", "reminder_before"
    )
    @classmethod
    def _a_duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def windows(self) -> Windows:
        return Windows(
            review=parse_duration(self.review_window),
            refund_response=parse_duration(self.refund_response_window),
            dispute_response=parse_duration(self.dispute_response_window),
            reminder_before=parse_duration(self.reminder_before),
        )

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
