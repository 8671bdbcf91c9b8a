"""Settings from the environment, one typed object."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from milestones.database import DEFAULT_POOL_SIZE
from milestones.domain.windows import Windows
from milestones.domain.windows import parse_duration as parse_window

DEFAULT_JWT_SECRET = "dev-secret-change-me-0123456789abcdef"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
MIN_PRODUCTION_SECRET_LENGTH = 32
MIN_IDEMPOTENCY_TTL = dt.timedelta(hours=24)

_PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


@dataclass(frozen=True, slots=True)
class RateLimit:
    """`count` per `period_seconds`: `<count>/<second|minute|hour>` in the environment."""

    count: int
    period_seconds: float

    @classmethod
    def parse(cls, value: object) -> RateLimit | None:
        if value is None or isinstance(value, RateLimit):
            return value
        text = str(value).strip().lower()
        if text in {"off", "none", ""}:
            return None  # no limit: for tests and for deployments that limit at the edge
        count, _, period = text.partition("/")
        if not count.strip().isdigit() or int(count) < 1 or period.strip() not in _PERIODS:
            raise ValueError(
                f"a rate limit looks like 600/minute (second, minute or hour): {value!r}"
            )
        return cls(int(count), _PERIODS[period.strip()])

    def __str__(self) -> str:
        unit = next(name for name, seconds in _PERIODS.items() if seconds == self.period_seconds)
        return f"{self.count}/{unit}"


def parse_duration(value: object) -> dt.timedelta:
    """`90s`, `2m`, `24h`, `7d` (or a number of seconds)."""
    if isinstance(value, dt.timedelta):
        return value
    if isinstance(value, int | float):
        return dt.timedelta(seconds=value)
    match = _DURATION.match(str(value))
    if match is None:
        raise ValueError(f"a duration looks like 90s, 2m, 24h or 7d: {value!r}")
    return dt.timedelta(seconds=float(match[1]) * _DURATION_UNITS[match[2]])


Limit = Annotated[RateLimit | None, BeforeValidator(RateLimit.parse)]
Duration = Annotated[dt.timedelta, BeforeValidator(parse_duration)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    database_url: str = "sqlite://milestones.sqlite3"
    # PostgreSQL: connections each process keeps at most (Tortoise's default is 5). Under 32
    # concurrent clients on 2 workers, 5 made requests queue for a connection and cost 8% more
    # CPU per action than 12 (bench/concurrency.py). instances x workers x this, plus a
    # listener and a pruning connection per process, must stay under max_connections.
    database_pool_size: int = Field(default=DEFAULT_POOL_SIZE, ge=1, le=500)
    broadcast_url: str = "memory://"
    jwt_secret: str = DEFAULT_JWT_SECRET
    smtp_url: str | None = None
    smtp_sender: str = "milestones@localhost"
    # Where people reach the app: the links in emails. Unset: the address `milestones serve`
    # listens on (it sets PUBLIC_URL for its workers), else DEFAULT_PUBLIC_URL.
    public_url: str | None = None
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
    # Once started, what was built at startup (schema, models, routes) is taken out of the
    # garbage collector's reach (`gc.freeze`), and the young generation is collected every
    # 10,000 allocations instead of 700 (docs/DESIGN.md, "Garbage collection").
    gc_tuning: bool = True
    # Caches are bounded by bytes (what a client sends decides an entry's size, not its count).
    # Contract-room responses kept per process (0 turns the cache off).
    room_cache_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    # Parsed and validated documents of signed-in callers.
    document_cache_bytes: int = Field(default=32 * 1024 * 1024, ge=0)
    # Tokens already verified (each is checked again for expiry on every use).
    token_cache_bytes: int = Field(default=4 * 1024 * 1024, ge=0)
    # A remembered token names its user without a read for this long on this instance (0: read
    # on every request). Only what the token decides is remembered (milestones.domain.users).
    user_refresh_seconds: float = Field(default=60.0, ge=0)
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
    # Each file of a submission (multipart `submitMilestone`); a file of exactly this size is
    # accepted. The body limit above still holds for the request's other parts.
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    max_subscriptions_per_connection: int = Field(default=20, ge=1)
    # Fair use (API.md): per user, per client address without a token; "off" turns one off.
    rate_limit_queries: Limit = RateLimit(600, 60.0)
    rate_limit_mutations: Limit = RateLimit(120, 60.0)
    # Mutations that notify someone else (every mutation but the viewer's own bookkeeping).
    rate_limit_notifying: Limit = RateLimit(30, 60.0)
    rate_limit_subscriptions: Limit = RateLimit(60, 60.0)
    # In-process counters (the embedded default): a byte budget, as clients rotate addresses.
    rate_limit_table_bytes: int = Field(default=8 * 1024 * 1024, ge=64 * 1024)
    # Shared counters on Redis live under this prefix.
    rate_limit_key_prefix: str = "milestones:rate:"
    # A WebSocket that keeps sending after this many refusals in a row is closed with 4429.
    rate_limit_socket_refusals: int = Field(default=10, ge=1)
    # Emails to one recipient within this window go out as one email listing them.
    email_coalesce_window: Duration = dt.timedelta(minutes=2)
    # A permanent failure (5xx, a message that cannot be built) parks the email after this many.
    email_max_attempts: int = Field(default=5, ge=1)
    # How long one instance holds an email it is sending; it is sent (or given up) before.
    email_lease_seconds: float = Field(default=120.0, ge=1.0)
    # Sent and parked emails are deleted after this long.
    email_retention: Duration = dt.timedelta(days=30)
    # Delivered and parked webhook deliveries are deleted after this long.
    webhook_retention: Duration = dt.timedelta(days=30)
    # Idempotency records live this long (24 h at least: API.md), then are deleted.
    idempotency_ttl: Duration = dt.timedelta(hours=24)
    # The pruning jobs run this often (on one instance at a time), this many rows a statement.
    prune_interval: Duration = dt.timedelta(minutes=10)
    prune_batch_size: int = Field(default=1000, ge=1)
    # When set, /metrics needs `Authorization: Bearer <token>`.
    metrics_token: SecretStr | None = None
    # GraphQL over server-sent events: a comment every so often keeps proxies from timing the
    # stream out; a stream ends after sse_max_seconds (the client resumes by Last-Event-ID);
    # output waiting for a slow reader beyond sse_max_queued_bytes drops it (it resumes too).
    sse_keepalive_seconds: float = Field(default=15.0, gt=0)
    sse_max_seconds: float = Field(default=3600.0, gt=0)
    sse_max_queued_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_event_streams_per_user: int = Field(default=20, ge=1)
    # On SIGTERM, requests still running after this long (event streams) are cut: their
    # clients resume elsewhere by Last-Event-ID.
    shutdown_grace_seconds: float = Field(default=5.0, gt=0)
    # Trusted documents: a JSON file {"<sha256 hex>": "<document>"}; with
    # trusted_documents_only, nothing else runs.
    persisted_documents: Path | None = None
    trusted_documents_only: bool = False
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
        parse_window(value)
        return value

    @property
    def windows(self) -> Windows:
        return Windows(
            review=parse_window(self.review_window),
            refund_response=parse_window(self.refund_response_window),
            dispute_response=parse_window(self.dispute_response_window),
            reminder_before=parse_window(self.reminder_before),
        )

    @property
    def public_base_url(self) -> str:
        return (self.public_url or DEFAULT_PUBLIC_URL).rstrip("/")

    @field_validator("public_url")
    @classmethod
    def _an_http_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", value):
            raise ValueError(f"PUBLIC_URL looks like https://milestones.example.com: {value!r}")
        return value

    @property
    def is_production(self) -> bool:
        return self.milestones_env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def check(self) -> None:
        """Refuse settings that are unsafe for the chosen environment."""
        if self.idempotency_ttl < MIN_IDEMPOTENCY_TTL:
            raise ValueError("IDEMPOTENCY_TTL must be at least 24h (API.md: a key lives 24 h)")
        if self.prune_interval <= dt.timedelta(0):
            raise ValueError("PRUNE_INTERVAL must be positive")
        if self.is_production and (
            self.jwt_secret == DEFAULT_JWT_SECRET
            or len(self.jwt_secret) < MIN_PRODUCTION_SECRET_LENGTH
        ):
            raise ValueError(
                "MILESTONES_ENV=production needs JWT_SECRET set to a random value of at least "
                f"{MIN_PRODUCTION_SECRET_LENGTH} characters"
            )
        if self.trusted_documents_only and self.persisted_documents is None:
            raise ValueError(
                "TRUSTED_DOCUMENTS_ONLY=true needs PERSISTED_DOCUMENTS naming the JSON file of "
                "trusted documents"
            )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
