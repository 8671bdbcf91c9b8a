"""Replay, then live: everything after the cursor from the database, then each new row as the
bus rings. Registering the listener before the first read leaves no gap at the seam: a commit
that the read misses rings the doorbell afterwards, and the next read picks it up. Rows are
read in batches, so a slow subscriber holds at most one batch, never a growing queue."""

from __future__ import annotations

from collections.abc import AsyncIterator

from milestones.models import Contract, ContractEvent, Notification, User
from milestones.subscriptions.bus import WakeupBus

BATCH = 100
# A missed wake-up costs at most this long: the database is polled anyway. While the broker
# is away, other instances' commits ring no bell at all, so poll more often.
SAFETY_POLL_SECONDS = 15.0
BROKER_DOWN_POLL_SECONDS = 2.0


def _poll_interval(bus: WakeupBus) -> float:
    return SAFETY_POLL_SECONDS if bus.connected or not bus.remote else BROKER_DOWN_POLL_SECONDS


async def contract_events(
    bus: WakeupBus, contract_pk: int, after_seq: int | None
) -> AsyncIterator[ContractEvent]:
    with bus.listen(f"contract:{contract_pk}") as listener:
        if after_seq is None:
            after_seq = (await Contract.get(id=contract_pk)).event_seq
        while True:
            rows = (
                await ContractEvent.filter(contract_id=contract_pk, seq__gt=after_seq)
                .order_by("seq")
                .limit(BATCH)
            )
            for row in rows:
                after_seq = row.seq
                yield row
            if len(rows) < BATCH:
                await listener.wait(_poll_interval(bus))


async def notifications(
    bus: WakeupBus, viewer_pk: int, after_seq: int | None
) -> AsyncIterator[Notification]:
    with bus.listen(f"user:{viewer_pk}") as listener:
        if after_seq is None:
            after_seq = (await User.get(id=viewer_pk)).notification_seq
        while True:
            rows = (
                await Notification.filter(recipient_id=viewer_pk, seq__gt=after_seq)
                .order_by("seq")
                .limit(BATCH)
            )
            for row in rows:
                after_seq = row.seq
                yield row
            if len(rows) < BATCH:
                await listener.wait(_poll_interval(bus))
