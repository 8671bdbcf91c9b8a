"""Caches bounded by bytes: every cache of the process holds at most its budget (a setting),
whatever the clients send. Counting entries is not enough: one entry may be 100 KB.

An entry's size is given by whoever stores it (an estimate that errs on the large side); an
entry larger than the whole budget is not stored at all.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

# What an entry costs besides its own bytes: the dict slot, the key and value objects.
ENTRY_OVERHEAD = 200


class ByteBoundedLRU(Generic[K, V]):
    """Least recently used first out, once the stored sizes pass `budget` bytes."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.size = 0
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: K, value: V, size: int) -> None:
        size += ENTRY_OVERHEAD
        old = self._entries.pop(key, None)
        if old is not None:
            self.size -= old[1]
        if size > self.budget:
            return
        self._entries[key] = (value, size)
        self.size += size
        while self.size > self.budget:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.size -= dropped

    def clear(self) -> None:
        self._entries.clear()
        self.size = 0
