"""The desk's own rate limit: at most ``requests`` sends in any window of
``per`` seconds, at most ``burst`` of them back to back, shared by every
request of a desk. Pure scheduling over an injected clock; the desk awaits
the slot it is given.

Each send reserves the earliest slot that keeps both rules, at once and in
order (no await between looking and reserving), so concurrent callers are
served first come, first served and the rules hold however many wait. A
``429`` with ``Retry-After`` moves every later slot past the time it named
(capped). A reserved slot is never given back: a caller cancelled while it
waits leaves its slot unused, which can only send fewer requests, never more.
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from collections.abc import Awaitable, Callable
from typing import Final

import attrs

from ._errors import InvalidArgument, InvalidArgumentType, RateLimitTimeout
from ._routes import Route

__all__ = ["Pacer", "RateLimit", "Scheduler"]

# Loopback and the event loop add jitter between a slot and the request's
# arrival; the window is kept this much wider so the server, too, never sees
# more than ``requests`` in any ``per`` seconds.
_MARGIN: Final = 0.01


def _positive_number(_: object, attribute: attrs.Attribute[float], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgumentType(f"{attribute.name} must be a number")
    if not (0 < value < math.inf):
        raise InvalidArgument(f"{attribute.name} must be a positive, finite number, not {value!r}")


def _count(_: object, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentType(f"{attribute.name} must be an int")
    if value < 1:
        raise InvalidArgument(f"{attribute.name} must be at least 1, not {value}")


def _optional_count(instance: object, attribute: attrs.Attribute[int | None], value: object) -> None:
    if value is not None:
        _count(instance, attribute, value)  # type: ignore[arg-type]


@attrs.frozen(kw_only=True)
class RateLimit:
    """A desk's own rate limit (``AsyncDesk(rate_limit=...)``).

    Attributes:
        requests: sends at most in any window of ``per`` seconds.
        per: the window, in seconds (default 1).
        burst: sends at most back to back; the rest are spaced evenly at
            ``per / requests``. ``None`` (the default) lets all ``requests``
            of a window go at once.
        max_retry_after: the longest pause a ``429``'s ``Retry-After``
            imposes on later requests, in seconds.

    ``AsyncDesk(rate_limit=10)`` is ``RateLimit(requests=10)``.

    Raises:
        InvalidArgument, InvalidArgumentType: for a value out of range or of
            the wrong type.
    """

    requests: int = attrs.field(validator=_count)
    per: float = attrs.field(default=1.0, validator=_positive_number)
    burst: int | None = attrs.field(default=None, validator=_optional_count)
    max_retry_after: float = attrs.field(default=60.0, validator=_positive_number)


class Scheduler:
    """The slots of one desk's requests under a ``RateLimit``."""

    def __init__(self, limit: RateLimit, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._window = limit.per + _MARGIN
        self._slots: collections.deque[float] = collections.deque(maxlen=limit.requests)
        # Token bucket for the burst rule, as the time its next token is free
        # ("theoretical arrival time", as in GCRA).
        self._interval = limit.per / limit.requests
        self._tat = -math.inf
        self._paused_until = -math.inf

    def reserve(self, *, latest: float | None = None) -> float | None:
        """Reserve the next slot; return how many seconds to wait for it.

        With ``latest`` (seconds from now), return ``None`` and reserve
        nothing when the slot lies past it.
        """
        now = self._clock()
        slot = max(now, self._paused_until)
        if len(self._slots) == self.limit.requests:
            slot = max(slot, self._slots[0] + self._window)
        burst = self.limit.burst
        if burst is not None:
            slot = max(slot, self._tat - (burst - 1) * self._interval)
        wait = slot - now
        if latest is not None and wait > latest:
            return None
        self._slots.append(slot)
        if burst is not None:
            self._tat = max(self._tat, slot) + self._interval
        return wait

    def pause(self, seconds: float) -> float:
        """Hold every later slot until ``seconds`` from now (a 429's
        ``Retry-After``), capped at ``max_retry_after``; returns the pause."""
        seconds = min(max(seconds, 0.0), self.limit.max_retry_after)
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        return seconds


class Pacer:
    """Makes each send of a desk wait for its slot (the transport's ``pace``)."""

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.scheduler = Scheduler(limit, clock=clock)
        self._sleep = sleep

    async def __call__(self, route: Route, remaining: float | None) -> None:
        """Wait for the next slot. Raises ``RateLimitTimeout`` (and takes no
        slot) when it lies more than ``remaining`` seconds away."""
        wait = self.scheduler.reserve(latest=remaining)
        if wait is None:
            raise RateLimitTimeout(
                f"the desk's rate limit would hold this request past the call's deadline "
                f"({max(remaining or 0.0, 0.0):.3f} s left); nothing was sent",
                method=route.method,
                path=route.template,
                may_have_reached_server=False,
            )
        if wait > 0:
            await self._sleep(wait)

    def pause(self, seconds: float) -> float:
        """Hold every later send for ``seconds`` (a 429's ``Retry-After``), capped."""
        return self.scheduler.pause(seconds)
