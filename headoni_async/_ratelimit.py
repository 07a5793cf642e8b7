"""The desk's own rate limit: at most ``requests`` requests reach the server
in any window of ``per`` seconds, at most ``burst`` of them back to back,
shared by every request of a desk.

Why the window holds at the server, not just in our bookkeeping: a send
holds one of ``requests`` slots from just before it starts until ``per``
seconds after its answer ended (or it failed). The server sees a request
between those two moments, so any ``requests + 1`` arrivals within ``per``
seconds would need ``requests + 1`` slots held at once. This holds however
late the event loop gets to a send, which a schedule of start times cannot
promise.

The burst rule and the pause after a 429 are a pure schedule over an
injected clock (``Scheduler``): each send reserves its start at once and in
order, so waiting callers are served first come, first served. A reserved
start is never given back: a caller cancelled while it waits leaves it
unused, which can only send less, never more.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import math
import time
from collections.abc import Awaitable, Callable

import attrs

from ._errors import InvalidArgument, InvalidArgumentType, RateLimitTimeout
from ._routes import Route

__all__ = ["Pacer", "RateLimit", "Release", "Scheduler"]

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
        requests: requests at most in any window of ``per`` seconds, as the
            server sees them.
        per: the window, in seconds (default 1).
        burst: requests at most started back to back; the rest start at
            least ``per / requests`` apart. ``None`` (the default) lets all
            ``requests`` of a window go at once.
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
    """The start times of one desk's sends under the burst rule and the
    pause after a 429. Pure over its clock."""

    def __init__(self, limit: RateLimit, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        # The burst rule as GCRA: the "theoretical arrival time" of the next
        # send; ``burst`` sends may start before it, at most.
        self._interval = limit.per / limit.requests
        self._tat = -math.inf
        self._paused_until = -math.inf
        self._given_back: list[float] = []  # a heap of reserved starts left unused

    def reserve(self, *, latest: float | None = None) -> float | None:
        """Reserve the next start; return how many seconds to wait for it.

        With ``latest`` (seconds from now), return ``None`` and reserve
        nothing when the start lies past it.
        """
        start = self.reserve_start(latest=latest)
        return None if start is None else start - self._clock()

    def reserve_start(self, *, latest: float | None = None) -> float | None:
        """``reserve()``, returning the start itself (on the clock), for ``give_back()``."""
        now = self._clock()
        start = max(now, self._paused_until)
        burst = self.limit.burst
        if burst is not None:
            given = self._given_back
            while given and given[0] < start:  # passed, or inside a pause: gone
                heapq.heappop(given)
            if given:  # a start of the schedule nobody used: take it before making a new one
                if latest is not None and given[0] - now > latest:
                    return None
                return heapq.heappop(given)
            start = max(start, self._tat - (burst - 1) * self._interval)
        if latest is not None and start - now > latest:
            return None
        if burst is not None:
            self._tat = max(self._tat, start) + self._interval
        return start

    def give_back(self, start: float) -> None:
        """A reserved ``start`` will not be used (its caller was cancelled):
        the next reservation may take it, so that cancelled callers never
        push later ones back. The starts handed out stay those of the burst
        rule's schedule."""
        if self.limit.burst is not None:
            heapq.heappush(self._given_back, start)

    def pause(self, seconds: float) -> float:
        """Hold every later start until ``seconds`` from now (a 429's
        ``Retry-After``), capped at ``max_retry_after``; returns the pause."""
        seconds = min(max(seconds, 0.0), self.limit.max_retry_after)
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        return seconds

    def paused_for(self) -> float:
        """Seconds left of the pause after a 429 (0 when none)."""
        return max(self._paused_until - self._clock(), 0.0)


Release = Callable[[], None]


class Pacer:
    """Makes each send of a desk wait for a slot of the window and its start
    (the transport's ``pace``); the release it returns frees the slot
    ``per`` seconds later.

    Finished slots cool down in a queue (their free times only grow) and one
    timer at a time hands them back, so an idle limiter costs a counter and a
    deque append per request, not a timer each.
    """

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limit = limit
        self.scheduler = Scheduler(limit, clock=clock)
        self._clock = clock
        self._sleep = sleep
        self._slots = asyncio.Semaphore(limit.requests)
        self._cooling: collections.deque[float] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None

    async def __call__(self, route: Route, remaining: float | None) -> Release:
        """Wait for a slot and a start; return the release to call once the
        answer ended (or the send failed).

        Raises ``RateLimitTimeout`` (holding nothing) when the wait would
        pass ``remaining`` seconds, the call's deadline.
        """
        scheduler, slots = self.scheduler, self._slots
        if remaining is not None and scheduler.paused_for() > remaining:
            raise _too_late(route, remaining)  # known at once: do not wait to say so
        if slots.locked():
            self._expire()
        if slots.locked():
            started = self._clock()
            try:
                async with asyncio.timeout(remaining):
                    await slots.acquire()
            except TimeoutError:
                raise _too_late(route, remaining) from None
            if remaining is not None:
                remaining -= self._clock() - started
        else:
            await slots.acquire()  # free: returns at once
        try:
            start = scheduler.reserve_start(latest=remaining)
            if start is None:
                raise _too_late(route, remaining)
            wait = start - self._clock()
            if wait > 0:
                try:
                    await self._sleep(wait)
                except BaseException:
                    scheduler.give_back(start)  # cancelled: another caller may start then
                    raise
        except BaseException:
            slots.release()  # nothing was sent
            raise
        return self._finished

    def _finished(self) -> None:
        self._cooling.append(self._clock() + self.limit.per)
        if self._timer is None:
            self._schedule()

    def _schedule(self) -> None:
        delay = max(self._cooling[0] - self._clock(), 0.0)
        self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._expire()
        if self._cooling:
            self._schedule()

    def _expire(self) -> None:
        now, cooling = self._clock(), self._cooling
        while cooling and cooling[0] <= now:
            cooling.popleft()
            self._slots.release()

    def pause(self, seconds: float) -> float:
        """Hold every later send for ``seconds`` (a 429's ``Retry-After``), capped."""
        return self.scheduler.pause(seconds)


def _too_late(route: Route, remaining: float | None) -> RateLimitTimeout:
    return RateLimitTimeout(
        f"the desk's rate limit would hold this request past the call's deadline "
        f"({max(remaining or 0.0, 0.0):.3f} s left); nothing was sent",
        method=route.method,
        path=route.template,
        may_have_reached_server=False,
    )
