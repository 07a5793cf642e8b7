"""A small time-bounded cache for answers that rarely change (departments,
ticket types), with one fetch at a time per key."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

__all__ = ["TTLCache"]


class TTLCache:
    """Keeps each key's answer for ``ttl`` seconds from when it arrived.

    ``ttl`` 0 keeps nothing. Concurrent callers of a key that is not cached
    wait for one fetch instead of each sending their own; a failed fetch is
    not cached (the next caller tries again). ``clock`` is injectable for tests.
    """

    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._locks: dict[Hashable, asyncio.Lock] = {}

    def clear(self) -> None:
        """Forget every answer."""
        self._entries.clear()

    def _fresh(self, key: Hashable) -> tuple[bool, Any]:
        entry = self._entries.get(key)
        if entry is not None and self._clock() - entry[0] < self.ttl:
            return True, entry[1]
        return False, None

    async def get(self, key: Hashable, fetch: Callable[[], Awaitable[Any]]) -> Any:
        """The cached answer for ``key``, or ``await fetch()`` (then cached)."""
        if self.ttl <= 0:
            return await fetch()
        hit, value = self._fresh(key)
        if hit:
            return value
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            hit, value = self._fresh(key)  # another caller may have fetched it meanwhile
            if hit:
                return value
            value = await fetch()
            self._entries[key] = (self._clock(), value)
            return value
