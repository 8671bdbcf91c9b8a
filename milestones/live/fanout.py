"""Shared subscriptions: one GraphQL stream per distinct subscription, however many sockets
asked for it.

A contract room open in ten thousand tabs asks the same thing ten thousand times: the same
document, variables and viewer. Those subscriptions join one `Group`, which runs the
subscription once through strawberry (extensions, limits, error policy and all), encodes each
result once, and hands every member the same bytes behind its own operation id. A member that
joins a running group receives what the group delivers from then on: a subscription without
`after` starts when it joins. A replay (`after`) shares only with identical subscriptions that
arrive before its first result.

Sends start eagerly (`eager.start`): a socket with room in its buffer takes the frame within
the fan-out loop; one that has to wait gets a bounded backlog and its own task, and holds up
nobody. A socket whose backlog fills up stops taking frames from its groups; once it drains,
each of its subscriptions resumes from the database after the last event it was sent (a
private replay), so a slow reader loses nothing and costs at most the backlog in memory. Every
frame counts against one byte budget per socket (`WEBSOCKET_BACKLOG_BYTES`): a frame that can
be read again later (an event) waits in the database instead; one that cannot (the result of a
query or mutation sent over the socket) closes the socket with 4429, and the client resumes
by cursor.

A private replay (a socket that fell behind, an SSE client back with its Last-Event-ID) is
not private for long: once it has fanned out up to the position another group of the same kind
has reached, the two deliver the same results from there on, and one takes the other's
members (`SharedSubscriptions.align`). After a restart, the reconnections converge into one
execution per kind as they catch up.

Positions come from the resolvers (`Context.stream_position`: the seq of the row behind the
result being executed, see `resolvers/subscriptions.py`); a resumed stream starts after
`Context.resume_after`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import orjson
from graphql import DocumentNode, FieldNode, GraphQLError, OperationType, get_operation_ast
from strawberry.schema import BaseSchema
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.utils.aio import aclosing

from milestones.live import eager
from milestones.observability.metrics import ACTIVE_SUBSCRIPTIONS
from milestones.schema.context import Context
from milestones.schema.errors import (
    INTERNAL_SERVER_ERROR,
    SERVICE_UNAVAILABLE,
    AccessEnded,
    ServiceUnavailable,
    internal_error,
)
from milestones.schema.loaders import Loaders

logger = logging.getLogger(__name__)

# Frames a socket may have waiting before its subscriptions fall back to the database.
MAX_BACKLOG = 256

GroupKey = tuple[str, str | None, bytes, int]


def subscription_field(document: DocumentNode, operation_name: str | None) -> str | None:
    """The root field a document subscribes to; None when it is not a subscription (those
    take strawberry's own path, which answers them as it always has)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is not OperationType.SUBSCRIPTION:
        return None
    first = operation.selection_set.selections[0] if operation.selection_set.selections else None
    return first.name.value if isinstance(first, FieldNode) else "subscription"


class Sink(Protocol):
    """The socket of a member (the transport)."""

    def deliver(self, member: Member, frame: str, position: int | None) -> None: ...

    def operation_ended(self, member: Member, frame: str) -> None: ...


@dataclasses.dataclass(slots=True)
class Request:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None


class Member:
    """One subscription of one socket."""

    __slots__ = (
        "behind",
        "field",
        "group",
        "id",
        "position",
        "prefix",
        "request",
        "sink",
        "suffix",
    )

    task: asyncio.Task[None] | None = None  # what strawberry's handler expects of an operation

    def __init__(self, sink: Sink, operation_id: str, field: str, request: Request) -> None:
        self.sink = sink
        self.id = operation_id
        self.field = field
        self.request = request
        # A graphql-transport-ws `next` around the group's one encoding of each result (the
        # SSE transport frames it as an event instead).
        self.prefix = '{"id":' + orjson.dumps(operation_id).decode() + ',"type":"next","payload":'
        self.suffix = "}"
        self.group: Group | None = None
        self.position: int | None = None  # the seq of the last result handed to the socket
        self.behind = False


class Group:
    """One running subscription and the sockets it serves (`key` None: a private resume;
    `kind`: what it subscribes to and for whom, registered or not)."""

    def __init__(
        self,
        hub: SharedSubscriptions,
        key: GroupKey | None,
        request: Request,
        context: Context,
        kind: GroupKey,
    ) -> None:
        self.hub = hub
        self.key = key
        self.kind = kind
        self.request = request
        self.context = context
        self.members: dict[Member, None] = {}
        self.results = 0
        self.delivered: int | None = None  # the position of the last result fanned out
        self.finished = False
        self.task: asyncio.Task[None] | None = None

    @property
    def at(self) -> int | None:
        """Everything up to this position was fanned out; the next result comes after it."""
        return self.delivered if self.delivered is not None else self.context.stream_start

    @property
    def accepts_joiners(self) -> bool:
        # A replay has delivered history a newcomer would miss: it shares only before that.
        return not self.finished and (self.results == 0 or not self.context.stream_replays)

    def start(self) -> None:
        self.hub.running.setdefault(self.kind, {})[self] = None
        self.task = asyncio.create_task(self._run(), name="shared-subscription")

    def add(self, member: Member) -> None:
        member.group = self
        member.position = self.context.stream_position
        self.members[member] = None
        ACTIVE_SUBSCRIPTIONS.labels(subscription=member.field).inc()

    def remove(self, member: Member) -> None:
        if self.members.pop(member, 0) is None:
            member.group = None
            ACTIVE_SUBSCRIPTIONS.labels(subscription=member.field).dec()
        if not self.members and not self.finished:
            self.finished = True
            self.hub.forget(self)
            if self.task is not None and self.task is not asyncio.current_task():
                self.task.cancel()

    async def _run(self) -> None:
        request = self.request
        try:
            stream = await self.hub.schema.subscribe(
                request.query,
                variable_values=request.variables,
                context_value=self.context,
                operation_name=request.operation_name,
            )
            async with aclosing(stream):
                async for result in stream:
                    if self.results == 0 and isinstance(result, PreExecutionError):
                        self._end("error", errors=result.errors or [])
                        return
                    if not isinstance(result, ExecutionResult):
                        error = GraphQLError(
                            "Incremental delivery is not supported over graphql-transport-ws"
                        )
                        self._end("error", errors=[error])
                        return
                    if _ended_by_failure(result):
                        # The stream gave up (its database stayed away): an `error` with the
                        # code, so the client knows to resubscribe from its last cursor.
                        self._end("error", errors=result.errors or [])
                        return
                    self.results += 1
                    self._fan_out(result)
                    if self.finished:  # its last member left during the fan-out
                        return
            self._end("complete")
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("a shared subscription failed")
            self._end("error", errors=[internal_error(self.context.request_id)])
        finally:
            if not self.finished:
                self.finished = True
                self.hub.forget(self)

    def _fan_out(self, result: ExecutionResult) -> None:
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [error.formatted for error in result.errors]
        if result.extensions:
            payload["extensions"] = result.extensions
        text = orjson.dumps(payload).decode()
        position = self.context.stream_position
        for member in list(self.members):
            if member.position is None:  # joined before the stream had started
                member.position = self.context.stream_start
            member.sink.deliver(member, member.prefix + text + member.suffix, position)
        if position is not None and not self.finished:
            self.delivered = position
            self.hub.align(self)

    def _end(self, kind: str, errors: list[GraphQLError] | None = None) -> None:
        self.finished = True
        self.hub.forget(self)
        members, self.members = list(self.members), {}
        for member in members:
            member.group = None
            ACTIVE_SUBSCRIPTIONS.labels(subscription=member.field).dec()
            message: dict[str, Any] = {"id": member.id, "type": kind}
            if kind == "error":
                message["payload"] = [error.formatted for error in errors or []]
            member.sink.operation_ended(member, orjson.dumps(message).decode())


def _ended_by_failure(result: ExecutionResult) -> bool:
    """The source stream raised: strawberry yields its error as a last result, then stops."""
    return result.data is None and any(
        isinstance(error, ServiceUnavailable | AccessEnded)
        or isinstance(error.original_error, AccessEnded)
        or (
            (error.extensions or {}).get("code") in (INTERNAL_SERVER_ERROR, SERVICE_UNAVAILABLE)
            and error.path is None
        )
        for error in result.errors or ()
    )


class SharedSubscriptions:
    """The groups of one process, by what they subscribe to and for whom."""

    def __init__(self, schema: BaseSchema) -> None:
        self.schema = schema
        self.groups: dict[GroupKey, Group] = {}
        # Every running group by what it subscribes to, registered for joiners or not.
        self.running: dict[GroupKey, dict[Group, None]] = {}

    def join(self, member: Member, context: Context) -> None:
        request = member.request
        viewer = context.viewer
        assert viewer is not None, "subscriptions start after connection_init"
        variables = orjson.dumps(request.variables or {}, option=orjson.OPT_SORT_KEYS)
        key: GroupKey = (request.query, request.operation_name, variables, viewer.id)
        group = self.groups.get(key)
        if group is None or not group.accepts_joiners:
            group = self.groups[key] = Group(self, key, request, _group_context(context), key)
            group.add(member)
            group.start()
        else:
            member.request = group.request  # equal: one copy for all the group's sockets
            group.add(member)

    def resume(self, member: Member, context: Context) -> None:
        """A member that fell behind, or a client that reconnects with its last position: its
        own replay from there, until it reaches a group at the same position (`align`)."""
        viewer = context.viewer
        assert viewer is not None, "subscriptions start after authentication"
        request = member.request
        variables = orjson.dumps(request.variables or {}, option=orjson.OPT_SORT_KEYS)
        kind: GroupKey = (request.query, request.operation_name, variables, viewer.id)
        context = _group_context(context, resume_after=member.position)
        group = Group(self, None, request, context, kind)
        group.add(member)
        group.start()

    def align(self, group: Group) -> None:
        """`group` has just fanned out a result: another group of the same kind that has
        fanned out up to the same position will deliver exactly the same results from here
        on, so one of them takes the other's members and the other ends. Replays (a restart's
        reconnections, slow sockets) merge back into one execution this way."""
        position = group.delivered
        for other in list(self.running.get(group.kind, ())):
            if other is group or other.finished or other.at != position:
                continue
            # Keep the group that new subscribers find; else the one not fanning out now.
            if group.key is not None and self.groups.get(group.key) is group:
                keep, fold = group, other
            else:
                keep, fold = other, group
            for member in fold.members:
                member.group = keep
                keep.members[member] = None
            fold.members = {}
            fold.finished = True
            self.forget(fold)
            if fold.task is not None and fold.task is not asyncio.current_task():
                fold.task.cancel()
            if fold is group:
                return

    def forget(self, group: Group) -> None:
        if group.key is not None and self.groups.get(group.key) is group:
            del self.groups[group.key]
        running = self.running.get(group.kind)
        if running is not None and running.pop(group, 0) is None and not running:
            del self.running[group.kind]


def _group_context(context: Context, resume_after: int | None = None) -> Context:
    # The group outlives the socket that started it: nothing of that socket is kept.
    return Context(
        settings=context.settings,
        viewer=context.viewer,
        bus=context.bus,
        loaders=Loaders(),
        resume_after=resume_after,
    )


DEFAULT_BACKLOG_BYTES = 2 * 1024 * 1024


class Outbox:
    """Ordered frames for one socket: sent at once while the socket keeps up, queued (up to
    MAX_BACKLOG frames and `max_bytes` bytes, the frame being sent included) while one send
    waits. A frame that does not fit and cannot be read again later calls `on_overflow` (the
    transport closes the socket) and everything queued is dropped."""

    def __init__(
        self,
        send: Callable[[str], Coroutine[Any, Any, None]],
        on_drained: Callable[[], None],
        *,
        max_bytes: int = DEFAULT_BACKLOG_BYTES,
        on_overflow: Callable[[], None] = lambda: None,
    ) -> None:
        self._send = send
        self._on_drained = on_drained
        self._on_overflow = on_overflow
        self.max_bytes = max_bytes
        self.backlog: deque[tuple[str, Member | None, int | None]] | None = None
        self.queued_bytes = 0  # the backlog and the frame whose send is waiting
        self.flusher: asyncio.Future[None] | None = None
        self.closed = False

    def push(self, frame: str, member: Member | None, position: int | None) -> bool:
        """False when the socket is too far behind to take `frame` (it was not queued)."""
        if self.closed:
            return True
        if self.backlog is not None:
            full = self.queued_bytes + len(frame) > self.max_bytes
            if member is not None and (full or len(self.backlog) >= MAX_BACKLOG):
                return False
            if full:
                self.overflow()
                return True
            self.backlog.append((frame, member, position))
            self.queued_bytes += len(frame)
            return True
        try:
            pending = eager.start(self._send(frame))
        except Exception:  # the socket went away
            self.closed = True
            return True
        if member is not None:
            member.position = position
        if pending is not None:
            self.backlog = deque()
            self.queued_bytes = len(frame)
            self.flusher = asyncio.ensure_future(self._flush(pending, len(frame)))
        return True

    def overflow(self) -> None:
        """Too much for this socket: drop what waits, stop sending, let the transport close."""
        self.closed = True
        self.backlog = None
        self.queued_bytes = 0
        if self.flusher is not None and not self.flusher.done():
            self.flusher.cancel()
        self._on_overflow()

    async def _flush(self, pending: asyncio.Future[None], pending_bytes: int) -> None:
        try:
            await pending
            self.queued_bytes -= pending_bytes
            while self.backlog:
                frame, member, position = self.backlog.popleft()
                await self._send(frame)  # counted in queued_bytes until it is out
                self.queued_bytes -= len(frame)
                if member is not None:
                    member.position = position
        except asyncio.CancelledError:
            raise
        except Exception:
            self.closed = True
        finally:
            self.backlog = None
            self.queued_bytes = 0
        if not self.closed:
            self._on_drained()

    async def close(self) -> None:
        self.closed = True
        if self.flusher is not None and not self.flusher.done():
            self.flusher.cancel()
            with contextlib.suppress(BaseException):
                await self.flusher
