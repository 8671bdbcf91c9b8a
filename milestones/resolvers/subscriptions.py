"""Subscription root: the viewer's notifications and a contract's events, replay then live."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry
from graphql import GraphQLError

from milestones import ids
from milestones.domain.access import may_see, team_ids
from milestones.domain.teams import access_channel
from milestones.live import streams
from milestones.live.bus import WakeupBus
from milestones.models import Contract as ContractModel
from milestones.models import ContractEvent as ContractEventModel
from milestones.models import User as UserModel
from milestones.observability.metrics import observe_notification_delivery
from milestones.resolvers.viewer import require_viewer
from milestones.schema.arguments import ResumeAfter
from milestones.schema.context import Info
from milestones.schema.relay import after_position
from milestones.schema.types import ContractEvent, Notification


def _bus(info: Info) -> WakeupBus:
    bus = info.context.bus
    assert bus is not None, "the app's lifespan starts the bus"
    return bus


@strawberry.type(
    description="Live streams over WebSocket (graphql-transport-ws on /graphql, the token in "
    "`connection_init`). Each item has a `cursor`: resubscribe with the last one as `after` "
    "and nothing is missed or repeated, on any instance."
)
class Subscription:
    @strawberry.subscription(
        description="The viewer's notifications: with `after`, first everything after that "
        "cursor (oldest first), then live."
    )
    async def notifications(
        self, info: Info, after: ResumeAfter = None
    ) -> AsyncGenerator[Notification, None]:
        # Checks run before the stream exists, so a refusal is the operation's `error`
        # message rather than a `next` carrying errors.
        viewer = require_viewer(info)
        after_seq = _starting_after(info, after_position(after, "notification"))
        return _notifications(info, viewer.id, after_seq)

    @strawberry.subscription(
        description="A contract's events (parties only): with `after`, first everything after "
        "that cursor, then live."
    )
    async def contract_events(
        self,
        info: Info,
        contract_id: Annotated[
            strawberry.ID,
            strawberry.argument(
                description="The contract's ID; not a party: an `error` message with "
                "`extensions.code` NOT_FOUND."
            ),
        ],
        after: ResumeAfter = None,
    ) -> AsyncGenerator[ContractEvent, None]:
        viewer = require_viewer(info)
        pk = ids.decode(contract_id, "Contract")
        contract = await ContractModel.get_or_none(id=pk) if pk is not None else None
        if contract is None or not await may_see(viewer, contract):
            raise GraphQLError("Contract not found.", extensions={"code": "NOT_FOUND"})
        after_seq = _starting_after(info, after_position(after, "event"))
        guard = _room_guard(viewer, contract) if team_ids(contract) else None
        return _contract_events(info, contract.id, after_seq, contract.event_seq, guard)


def _starting_after(info: Info, after_seq: int | None) -> int | None:
    """A stream resumed by the transport starts where it left off, whatever it first asked."""
    context = info.context
    if context.resume_after is not None:
        after_seq = context.resume_after
    context.stream_replays = after_seq is not None
    return after_seq


def _starts_at(info: Info, seq: int) -> None:
    info.context.stream_start = info.context.stream_position = seq


async def _notifications(
    info: Info, viewer_pk: int, after_seq: int | None
) -> AsyncGenerator[Notification, None]:
    retry_seconds = info.context.settings.subscription_retry_seconds
    if after_seq is None:
        user = await streams.retrying(lambda: UserModel.get(id=viewer_pk), retry_seconds)
        after_seq = int(user.notification_seq)
    _starts_at(info, after_seq)
    async for row in streams.notifications(_bus(info), viewer_pk, after_seq, retry_seconds):
        info.context.fresh_loaders()
        info.context.stream_position = row.seq
        observe_notification_delivery(row.created_at)
        yield Notification.of(row)


def _room_guard(viewer: UserModel, contract: ContractModel) -> streams.Guard:
    """A team party's room: a member removed from the team loses it at once (the removal
    rings their access channel), as the next request of theirs would."""

    async def allowed() -> bool:
        current = await ContractModel.get_or_none(id=contract.id)
        return current is not None and await may_see(viewer, current)

    return streams.Guard(access_channel(viewer.id), allowed)


async def _contract_events(
    info: Info,
    contract_pk: int,
    after_seq: int | None,
    known_seq: int,
    guard: streams.Guard | None = None,
) -> AsyncGenerator[ContractEvent, None]:
    _starts_at(info, known_seq if after_seq is None else after_seq)
    async for row in streams.contract_events(
        _bus(info),
        contract_pk,
        after_seq,
        known_seq,
        info.context.settings.subscription_retry_seconds,
        guard,
    ):
        info.context.fresh_loaders()
        info.context.stream_position = row.seq
        yield _shared_event(row)


# Subscribers of one contract receive the same row objects (their feed is shared): build each
# row's GraphQL object once and keep it on the row. Not in a cache keyed by the row's id: a
# test database that starts its ids again could hand out a stale object.
def _shared_event(row: ContractEventModel) -> ContractEvent:
    event: ContractEvent | None = row.__dict__.get("_graphql_event")
    if event is None:
        event = row.__dict__["_graphql_event"] = ContractEvent.of(row)
    return event
