"""Prometheus metrics: the registry, every metric the server keeps, and the ``/metrics`` body.

- ``ACTIVE_SUBSCRIPTIONS``: the gauge the WebSocket transport keeps (one per subscribing
  operation); ``observe_notification_delivery``: the notification delivery lag.
- ``WEBHOOK_DELIVERIES``: webhook attempts by outcome (sent, failed, parked).
- ``metrics_response``: the ``/metrics`` body (reads the email outbox size at scrape time).
"""

from __future__ import annotations

import datetime as dt
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from starlette.requests import Request
from starlette.responses import Response

from milestones.observability.logs import request_logger

# `_created` series would double every counter's lines for a number nobody graphs.
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry(auto_describe=True)

GRAPHQL_OPERATIONS = Counter(
    "milestones_graphql_operations",
    "GraphQL operations by name, type and outcome (ok, user_error, error).",
    ["operation", "type", "outcome"],
    registry=REGISTRY,
)
GRAPHQL_DURATION = Histogram(
    "milestones_graphql_operation_duration_seconds",
    "Time to answer a query or mutation.",
    ["operation", "type"],
    registry=REGISTRY,
)
HTTP_REQUESTS = Counter(
    "milestones_http_requests",
    "HTTP requests by route, method and status code.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "milestones_http_request_duration_seconds",
    "HTTP request latency by route.",
    ["route"],
    registry=REGISTRY,
)
OPEN_WEBSOCKETS = Gauge(
    "milestones_open_websockets",
    "WebSocket connections currently open.",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
OPEN_EVENT_STREAMS = Gauge(
    "milestones_open_event_streams",
    "GraphQL over SSE responses currently open.",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
ACTIVE_SUBSCRIPTIONS = Gauge(
    "milestones_active_subscriptions",
    "GraphQL subscriptions currently running, by field.",
    ["subscription"],
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
SUBSCRIPTION_READS = Counter(
    "milestones_subscription_reads",
    "Database reads of subscription streams: `shared` (a channel's window: new rows, or "
    "reaching back for a resuming subscriber) and `replay` (one subscriber further back than "
    "the window holds).",
    ["source"],
    registry=REGISTRY,
)
RESUMES = Counter(
    "milestones_subscription_resumes",
    "Subscriptions resumed from a cursor (`after`, Last-Event-ID, a socket back from falling "
    "behind), by how: `recent` (joined a running stream that remembers back to the cursor) or "
    "`replay` (a replay of its own, from the database).",
    ["served"],
    registry=REGISTRY,
)

ROOM_VERSION_READS = Counter(
    "milestones_room_version_reads",
    "Statements reading cached contract rooms' versions (PostgreSQL: one reads every (room, "
    "viewer) pair asked for while the previous one ran).",
    registry=REGISTRY,
)
ROOM_VERSION_PAIRS = Counter(
    "milestones_room_version_pairs",
    "(room, viewer) pairs those statements read; a pair asked for by several requests at once "
    "is read once.",
    registry=REGISTRY,
)

NOTIFICATION_DELIVERY_LAG = Histogram(
    "milestones_notification_delivery_lag_seconds",
    "From a notification's creation to its push over a subscription (replays included).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
    registry=REGISTRY,
)
EMAIL_OUTBOX_SIZE = Gauge(
    "milestones_email_outbox_size",
    "Notification emails waiting to be sent (read from the database at scrape time).",
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
WEBSOCKETS_CLOSED = Counter(
    "milestones_websockets_closed",
    "WebSockets the server closed on purpose, by reason (backlog: too much unread; "
    "token_expired: its token's exp passed).",
    ["reason"],
    registry=REGISTRY,
)
BROKER_CONNECTED = Gauge(
    "milestones_broker_connected",
    "1 while the wake-up broker is connected, 0 while it is away (readiness does not depend "
    "on it: subscribers poll the database meanwhile).",
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
EMAIL_OUTBOX_FAILED = Gauge(
    "milestones_email_outbox_failed",
    "Notification emails parked after failing for a permanent reason (read at scrape time).",
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
WEBHOOK_DELIVERIES = Counter(
    "milestones_webhook_deliveries",
    "Webhook delivery attempts by outcome: sent (2xx), failed (will retry), parked (gave up).",
    ["outcome"],
    registry=REGISTRY,
)


async def _email_outbox_size() -> tuple[int, int]:
    """Emails waiting to be sent, and emails parked as failed."""
    from milestones.models import EmailOutbox

    waiting: int = await EmailOutbox.filter(sent_at=None, failed_at=None).count()
    failed: int = await EmailOutbox.filter(failed_at__isnull=False).count()
    return waiting, failed


async def metrics_response(request: Request) -> Response:
    """The Prometheus text format; with PROMETHEUS_MULTIPROC_DIR, every worker's numbers."""
    try:
        waiting, failed = await _email_outbox_size()
        EMAIL_OUTBOX_SIZE.set(waiting)
        EMAIL_OUTBOX_FAILED.set(failed)
    except Exception:  # a scrape reports what it can; readiness reports the database
        request_logger.warning("could not read the email outbox size", exc_info=True)
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def observe_notification_delivery(created_at: dt.datetime) -> None:
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=dt.UTC)
    lag = (dt.datetime.now(dt.UTC) - created_at).total_seconds()
    NOTIFICATION_DELIVERY_LAG.observe(max(lag, 0.0))
