"""Replay, then live: everything after the cursor from the database, then each new row as the
bus rings. Registering the listener before the first read leaves no gap at the seam."""

from __future__ import annotations

from collections.abc import AsyncIterator

from milestones.models import Contract, ContractEvent, Notification, User
from milestones.subscriptions.bus import WakeupBus

BATCH = 100
# A missed wake-up (broker down) costs at most this long: the database is polled anyway.
SAFETY_POLL_SECONDS = 15.0


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
                await listener.wait(SAFETY_POLL_SECONDS)


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
                await listener.wait(SAFETY_POLL_SECONDS)
