"""Shared subscriptions: one GraphQL stream per distinct subscription, however many sockets
asked for it.

A contract room open in ten thousand tabs asks the same thing ten thousand times: the same
document, variables (but for the cursor) and viewer. Those subscriptions join one `Group`,
which runs the subscription once through strawberry (extensions, limits, error policy and
all), encodes each result once, and hands every member the same bytes behind its own
operation id. A subscription without `after` joins the live group and receives what it
delivers from then on; one with `after` resumes (below).

Sends start eagerly (`eager.start`): a socket with room in its buffer takes the frame within
the fan-out loop; one that has to wait gets a bounded backlog and its own task, and holds up
nobody. A socket whose backlog fills up stops taking frames from its groups; once it drains,
each of its subscriptions resumes after the last event it was sent (below), so a slow reader
loses nothing and costs at most the backlog in memory. Every
frame counts against one byte budget per socket (`WEBSOCKET_BACKLOG_BYTES`): a frame that can
be read again later (an event) waits in the database instead; one that cannot (the result of a
query or mutation sent over the socket) closes the socket with 4429, and the client resumes
by cursor.

A cursor is a position, not part of what is asked: `after` is left out of a group's kind.
Each group keeps its most recent results, encoded (`Recent`: at most RECENT_FRAMES of them, and
all groups of a process at most RECENT_BYTES). A subscriber that resumes (with `after`, an SSE
Last-Event-ID, or a socket back from falling behind) joins a running group of its kind whose
recent results reach back to its cursor: it is sent those after its cursor, then what the
group delivers, skipping nothing and nothing twice (a member is never handed a position at or
before the last one it was handed). No execution and no database read of its own: when an
instance dies and its clients come back to the others with their own cursors, the catch-up is
served from memory.

A subscriber further back than any group remembers gets a private replay, from the database.
It is not private for long: once it has fanned out up to the position another group of the
same kind has reached, the two deliver the same results from there on, and one takes the
other's members (`SharedSubscriptions.align`).

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
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    get_operation_ast,
)
from strawberry.schema import BaseSchema
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.utils.aio import aclosing

from milestones import ids
from milestones.live import eager
from milestones.observability.metrics import ACTIVE_SUBSCRIPTIONS, RESUMES
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
# What a group remembers for resuming subscribers: its newest results, at most this many and
# none larger than RECENT_FRAME_BYTES, and at most RECENT_BYTES for all groups of a process.
RECENT_FRAMES = 256
RECENT_FRAME_BYTES = 16 * 1024
RECENT_BYTES = 32 * 1024 * 1024
# The cursor of each resumable root field: a result's position is the seq in its cursor.
CURSOR_KINDS = {"notifications": "notification", "contractEvents": "event"}

GroupKey = tuple[str, str | None, bytes, int]


def _subscription(
    document: DocumentNode, operation_name: str | None
) -> tuple[OperationDefinitionNode, FieldNode | None] | None:
    """The subscription operation and its root field (None when the first selection is not a
    field); None when the document does not run a subscription."""
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is not OperationType.SUBSCRIPTION:
        return None
    selections = operation.selection_set.selections
    first = selections[0] if selections else None
    return operation, first if isinstance(first, FieldNode) else None


def subscription_field(document: DocumentNode, operation_name: str | None) -> str | None:
    """The root field a document subscribes to; None when it is not a subscription (those
    take strawberry's own path, which answers them as it always has)."""
    found = _subscription(document, operation_name)
    if found is None:
        return None
    return found[1].name.value if found[1] is not None else "subscription"


def after_variable(document: DocumentNode, operation_name: str | None) -> str | None:
    """The variable the subscription's root field takes its `after` from (None: no `after`,
    or a literal one, which stays part of what is asked)."""
    found = _subscription(document, operation_name)
    first = found[1] if found is not None else None
    if first is None or first.name.value not in CURSOR_KINDS:
        return None
    for argument in first.arguments or ():
        if argument.name.value == "after" and isinstance(argument.value, VariableNode):
            return argument.value.name.value
    return None


class Sink(Protocol):
    """The socket of a member (the transport)."""

    def deliver(self, member: Member, frame: str, position: int | None) -> None: ...

    def deliver_many(self, member: Member, frames: list[tuple[str, int | None]]) -> None:
        """`deliver` of each (frame, position) in turn, in one write where the transport can
        (a catch-up); a member that cannot take them all leaves its group, as with `deliver`."""
        ...

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
        "kind",
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
        self.kind: GroupKey | None = None  # what it subscribes to, and for whom
        # The seq of the last result handed to the socket: none at or before it is handed
        # to it again.
        self.position: int | None = None
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
        # Its newest results, encoded, for subscribers resuming after `floor` (None: after
        # where its stream started).
        self.recent: deque[tuple[int, str]] | None = None
        self.recent_bytes = 0
        self.floor: int | None = context.resume_after
        self.remembers = True  # false once a result came without a position

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

    @property
    def reach(self) -> int | None:
        """Everything this group delivers after this position is in its recent results or
        still to come (None: not known yet, or it does not remember)."""
        if not self.remembers:
            return None
        return self.floor if self.floor is not None else self.context.stream_start

    def reaches_back_to(self, position: int) -> bool:
        reach = self.reach
        return not self.finished and reach is not None and reach <= position

    def add(self, member: Member) -> None:
        member.group = self
        member.position = self.at
        self.members[member] = None
        ACTIVE_SUBSCRIPTIONS.labels(subscription=member.field).inc()

    def catch_up(self, member: Member, position: int) -> None:
        """Add a member that has seen everything up to `position` (`reaches_back_to` it):
        send it the recent results after that, then it takes what comes."""
        # Equal but for the cursor, which the group's replaces: one copy for all its sockets.
        member.request, member.kind = self.request, self.kind
        self.add(member)
        member.position = position
        prefix, suffix = member.prefix, member.suffix
        frames: list[tuple[str, int | None]] = [
            (prefix + text + suffix, at) for at, text in self.recent or () if at > position
        ]
        if frames:  # one write to the socket for all of them, where it can
            member.sink.deliver_many(member, frames)

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
        self._remember(position, text)
        for member in list(self.members):
            if member.position is None:  # joined before the stream had started
                member.position = self.context.stream_start
            elif position is not None and position <= member.position:
                continue  # it resumed after this one
            member.sink.deliver(member, member.prefix + text + member.suffix, position)
        if position is not None and not self.finished:
            self.delivered = position
            self.hub.align(self)

    def _remember(self, position: int | None, text: str) -> None:
        if not self.remembers:
            return
        if position is None:
            self.remembers = False
            self.forget_recent()
            return
        hub = self.hub
        if len(text) > RECENT_FRAME_BYTES or hub.recent_bytes + len(text) > RECENT_BYTES:
            self.forget_recent()  # a resume after this result still finds it
            self.floor = position
            return
        recent = self.recent
        if recent is None:
            recent = self.recent = deque()
        recent.append((position, text))
        self.recent_bytes += len(text)
        hub.recent_bytes += len(text)
        if len(recent) > RECENT_FRAMES:
            self.floor, dropped = recent.popleft()
            self.recent_bytes -= len(dropped)
            hub.recent_bytes -= len(dropped)

    def forget_recent(self) -> None:
        """Let go of the recent results (from `floor` on, only what is still to come)."""
        if self.recent:
            self.floor = self.recent[-1][0]
        self.hub.recent_bytes -= self.recent_bytes
        self.recent, self.recent_bytes = None, 0

    def take_recent(self, other: Group) -> None:
        """`other` ends level with this group: keep whichever recent results reach back
        further."""
        mine, theirs = self.reach, other.reach
        if theirs is not None and (mine is None or theirs < mine):
            self.forget_recent()
            self.recent, self.recent_bytes = other.recent, other.recent_bytes
            self.floor, self.remembers = theirs, True
            other.recent, other.recent_bytes = None, 0
        else:
            other.forget_recent()

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
        self.recent_bytes = 0  # what all groups remember (`Group.recent`)

    def subscribe(
        self,
        member: Member,
        context: Context,
        document: DocumentNode,
        resume_after: int | None = None,
    ) -> None:
        """A new subscription: resumed after `resume_after` (an SSE Last-Event-ID), else
        after its `after` cursor, else from now on."""
        viewer = context.viewer
        assert viewer is not None, "subscriptions start after authentication"
        request = member.request
        variables = request.variables or {}
        name = after_variable(document, request.operation_name)
        after = variables.get(name) if name is not None else None
        if after is not None:
            kind = CURSOR_KINDS[member.field]
            cursor = ids.decode_cursor(after, kind) if isinstance(after, str) else None
            if cursor is None:  # not a cursor: the execution answers it, whatever resumes it
                name, resume_after = None, None
            elif resume_after is None:
                resume_after = cursor
        if name is not None and name in variables:
            variables = {key: value for key, value in variables.items() if key != name}
        member.kind = (
            request.query,
            request.operation_name,
            orjson.dumps(variables, option=orjson.OPT_SORT_KEYS),
            viewer.id,
        )
        if resume_after is None:
            self._join(member, context)
        else:
            member.position = resume_after
            self.resume(member, context)

    def _join(self, member: Member, context: Context) -> None:
        key = member.kind
        assert key is not None
        group = self.groups.get(key)
        if group is None or not group.accepts_joiners:
            group = Group(self, key, member.request, _group_context(context), key)
            self.groups[key] = group
            group.add(member)
            group.start()
        else:
            # Equal: one copy of each for all the group's sockets.
            member.request, member.kind = group.request, group.kind
            group.add(member)

    def resume(self, member: Member, context: Context) -> None:
        """A member that fell behind, or a client back with its last position: it joins a
        group of its kind that remembers back to that position; else its own replay from
        there, until it reaches a group at the same position (`align`)."""
        kind, position = member.kind, member.position
        assert kind is not None and position is not None, "a resume follows a subscribe"
        for group in self.running.get(kind, ()):
            if group.reaches_back_to(position):
                RESUMES.labels("recent").inc()
                group.catch_up(member, position)
                return
        RESUMES.labels("replay").inc()
        context = _group_context(context, resume_after=position)
        group = Group(self, None, member.request, context, kind)
        group.add(member)
        member.position = position
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
            keep.take_recent(fold)
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
        group.forget_recent()
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
        send_many: Callable[[list[str]], bool] | None = None,
    ) -> None:
        self._send = send
        # Several frames in one write to the socket, at once; False where it cannot (then
        # they go one `send` each).
        self._send_many = send_many
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
            # Straight out where the socket is plainly open (no coroutine, no ASGI message);
            # else an ASGI send, which may have to wait.
            if self._send_many is not None and self._send_many([frame]):
                if member is not None:
                    member.position = position
                return True
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

    def push_many(self, frames: list[tuple[str, int | None]], member: Member) -> bool:
        """`push` of each (frame, position) of `member` in turn, False at the first the socket
        is too far behind to take; while it keeps up (nothing queued, and they fit the byte
        budget), all of them in one write (`send_many`): a resume's catch-up is dozens of
        frames, and each write is a system call."""
        if (
            self._send_many is not None
            and not self.closed
            and self.backlog is None
            and len(frames) > 1
            and sum(len(frame) for frame, _ in frames) <= self.max_bytes
        ):
            try:
                written = self._send_many([frame for frame, _ in frames])
            except Exception:  # the socket went away
                self.closed = True
                return True
            if written:
                member.position = frames[-1][1]
                return True
        for frame, position in frames:
            if not self.push(frame, member, position):
                return False
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
