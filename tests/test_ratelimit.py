"""The rate limit. Pure, over an injected clock: the burst rule's start
times and the pause after a 429. At the fake desk: no one-second window ever
sees more than the limit, whatever mix of calls 200 callers make; a 429's
Retry-After holds later requests (capped); a wait past a call's deadline is
refused with nothing sent."""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headoni_async import (
    AsyncDesk,
    InvalidArgument,
    InvalidArgumentType,
    RateLimit,
    RateLimited,
    RateLimitTimeout,
    RetryPolicy,
)
from headoni_async._ratelimit import Scheduler
from headoni_async.testing import FakeDesk, Fault


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _slots(limit: RateLimit, gaps: list[float]) -> list[float]:
    clock = Clock()
    scheduler = Scheduler(limit, clock=clock)
    slots = []
    for gap in gaps:
        clock.now += gap
        wait = scheduler.reserve()
        assert wait is not None and wait >= 0
        slots.append(clock.now + wait)
    return slots


_limits = st.builds(
    RateLimit,
    requests=st.integers(1, 50),
    per=st.sampled_from([0.1, 1.0, 2.5]),
    burst=st.none() | st.integers(1, 50),
)
_gaps = st.lists(st.one_of(st.just(0.0), st.floats(0, 0.5)), min_size=1, max_size=300)


@given(_limits, _gaps)
def test_the_burst_rule_spaces_the_rest(limit: RateLimit, gaps: list[float]) -> None:
    slots = _slots(limit, gaps)
    assert slots == sorted(slots)  # first come, first served
    if limit.burst is None:
        assert all(w == 0 for w in _waits(limit, gaps))  # only the window rule, enforced by slots
        return
    spacing = limit.per / limit.requests
    # GCRA: any k starts within t seconds of each other number at most burst + t / spacing.
    for i in range(len(slots)):
        for j in range(i + 1, min(len(slots), i + 3 * limit.burst + 3)):
            assert j - i + 1 <= limit.burst + (slots[j] - slots[i]) / spacing + 1e-6


def _waits(limit: RateLimit, gaps: list[float]) -> list[float]:
    clock = Clock()
    scheduler = Scheduler(limit, clock=clock)
    out = []
    for gap in gaps:
        clock.now += gap
        wait = scheduler.reserve()
        assert wait is not None
        out.append(wait)
    return out


def test_a_burst_of_two_then_one_per_interval() -> None:
    clock = Clock()
    scheduler = Scheduler(RateLimit(requests=10, burst=2), clock=clock)
    waits = [scheduler.reserve() for _ in range(5)]
    assert waits == pytest.approx([0, 0, 0.1, 0.2, 0.3])
    clock.now += 10  # idle: the burst is available again
    assert [scheduler.reserve(), scheduler.reserve()] == [0, 0]


def test_a_start_given_back_is_taken_by_the_next_reservation() -> None:
    # Callers cancelled while they wait for their start (a bot's 3-second
    # deadline) must not push later callers back: 50 cancelled callers of a
    # 10/s limit held the next one for 5 s.
    clock = Clock()
    scheduler = Scheduler(RateLimit(requests=10, burst=1), clock=clock)
    starts = [scheduler.reserve_start() for _ in range(50)]
    assert starts[1] == pytest.approx(clock.now + 0.1)
    for start in starts[1:]:
        assert start is not None
        scheduler.give_back(start)
    clock.now += 0.05
    assert scheduler.reserve() == pytest.approx(0.05)  # the second start of the schedule
    assert scheduler.reserve() == pytest.approx(0.15)  # then the third, not one after all fifty
    clock.now += 10  # given-back starts that passed are not reused
    assert scheduler.reserve() == 0
    assert scheduler.reserve() == pytest.approx(0.1)


async def test_cancelled_callers_do_not_hold_back_later_ones(fake: FakeDesk) -> None:
    number = next(fake.store.iter_tickets()).number
    limit = RateLimit(requests=20, per=0.5, burst=1)  # a start every 25 ms
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url, rate_limit=limit) as desk:
        calls = [asyncio.ensure_future(desk.get_ticket(number)) for _ in range(60)]
        await asyncio.sleep(0.01)
        for call in calls[1:]:  # one after another: each freed slot lets a waiter reserve
            call.cancel()
            await asyncio.sleep(0.002)
        await asyncio.gather(*calls, return_exceptions=True)
        async with asyncio.timeout(0.5):  # not the 1.5 s of starts the cancelled ones had reserved
            await desk.get_ticket(number)
    assert _busiest_window([r.received_at for r in fake.requests], 0.5) <= 20


def test_a_429_pause_holds_every_later_start_capped() -> None:
    clock = Clock()
    scheduler = Scheduler(RateLimit(requests=100, max_retry_after=30), clock=clock)
    assert scheduler.pause(2.0) == 2.0
    assert scheduler.paused_for() == 2.0
    assert scheduler.reserve() == 2.0
    clock.now += 1
    assert scheduler.reserve() == 1.0
    assert scheduler.pause(3600) == 30  # capped
    assert scheduler.reserve() == 30
    assert scheduler.pause(-5) == 0  # never shortens an earlier pause
    assert scheduler.reserve() == 30
    clock.now += 31
    assert scheduler.reserve() == 0 and scheduler.paused_for() == 0


def test_a_start_past_the_deadline_is_refused_and_not_taken() -> None:
    clock = Clock()
    scheduler = Scheduler(RateLimit(requests=1, burst=1), clock=clock)
    assert scheduler.reserve(latest=0.5) == 0
    assert scheduler.reserve(latest=0.5) is None  # the next start is a second away
    assert scheduler.reserve(latest=0.5) is None
    assert scheduler.reserve(latest=2) == pytest.approx(1.0)  # the refusals took nothing


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"requests": 0}, InvalidArgument),
        ({"requests": 1.5}, InvalidArgumentType),
        ({"requests": True}, InvalidArgumentType),
        ({"requests": 5, "per": 0}, InvalidArgument),
        ({"requests": 5, "per": float("inf")}, InvalidArgument),
        ({"requests": 5, "per": float("nan")}, InvalidArgument),
        ({"requests": 5, "burst": 0}, InvalidArgument),
        ({"requests": 5, "max_retry_after": -1}, InvalidArgument),
        ({"requests": 5, "per": "1"}, InvalidArgumentType),
    ],
)
def test_rate_limit_values_are_checked(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        RateLimit(**kwargs)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- at the fake desk


def _busiest_window(times: list[float], width: float = 1.0) -> int:
    """The most requests that arrived within any window of ``width`` seconds."""
    times = sorted(times)
    return max(bisect.bisect_left(times, t + width) - i for i, t in enumerate(times))


async def test_no_one_second_window_sees_more_than_n_under_200_callers(fake: FakeDesk) -> None:
    n = 150
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url, rate_limit=n) as desk:
        numbers = [t.number for t in fake.store.iter_tickets()][:20]

        async def lookup(i: int) -> object:
            return await desk.get_ticket(numbers[i % len(numbers)])

        async def stream(_: int) -> object:
            return [t async for t in desk.tickets(page_size=100)]  # 3 pages, the next prefetched

        async def bulk(_: int) -> object:
            return [t async for t in desk.get_tickets(numbers, concurrency=8)]

        async def create(i: int) -> object:
            return await desk.create_ticket(email=f"c{i}@example.com", subject="s", body="b")

        callers = [lookup] * 150 + [desk_call(desk.departments)] * 29 + [create] * 10 + [stream] * 10 + [bulk]
        assert len(callers) == 200
        await asyncio.gather(*(call(i) for i, call in enumerate(callers)))
    times = [r.received_at for r in fake.requests]
    assert len(times) == 150 + 29 + 10 + 30 + 20
    assert _busiest_window(times) <= n
    assert max(times) - min(times) >= 1.0  # the limiter did hold the rest back


def desk_call(method: Callable[[], Awaitable[object]]) -> Callable[[int], Awaitable[object]]:
    async def call(_: int) -> object:
        return await method()

    return call


# A wait past a day is no usable `retry_after` on the error, but it still
# holds the desk for the longest pause: the longer a server asks, never the less.
@pytest.mark.parametrize(("retry_after", "told"), [("5", 5.0), ("100000", None), ("9" * 30, None)])
async def test_a_429_retry_after_holds_later_requests_capped(
    fake: FakeDesk, retry_after: str, told: float | None
) -> None:
    number = next(fake.store.iter_tickets()).number
    limit = RateLimit(requests=1000, max_retry_after=0.3)
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url, rate_limit=limit) as desk:
        fake.inject(Fault.error(429, "rate_limited", retry_after=retry_after), route="get_ticket", on=1)
        with pytest.raises(RateLimited) as info:
            await desk.get_ticket(number)  # the 429 itself is raised, never retried
        assert info.value.retry_after == told
        await desk.departments()  # another route waits too
    first, second = (r.received_at for r in fake.requests)
    assert 0.3 <= second - first < 2  # held until the (capped) time, not for the 5 s asked
    assert fake.count("get_ticket") == 1


async def test_a_wait_past_the_call_deadline_is_refused_and_nothing_is_sent(fake: FakeDesk) -> None:
    number = next(fake.store.iter_tickets()).number
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url, rate_limit=RateLimit(requests=1000)) as desk:
        fake.inject(Fault.error(429, "rate_limited", retry_after="30"), route="get_ticket", on=1)
        with pytest.raises(RateLimited):
            await desk.get_ticket(number)
        hurried = desk.with_options(retry=RetryPolicy(deadline=1))
        with pytest.raises(RateLimitTimeout) as info:
            await hurried.create_ticket(email="a@example.com", subject="s", body="b")
        assert not info.value.may_have_reached_server
        assert "may or may not" not in str(info.value)
    assert fake.count() == 1  # the create was never sent


async def test_without_a_429_an_idle_limiter_does_not_delay(fake: FakeDesk) -> None:
    number = next(fake.store.iter_tickets()).number
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url, rate_limit=5) as desk:
        for _ in range(5):
            await desk.get_ticket(number)
    times = [r.received_at for r in fake.requests]
    assert max(times) - min(times) < 0.9  # five fit in the first window


def test_rate_limit_argument_is_checked() -> None:
    with pytest.raises(InvalidArgumentType):
        AsyncDesk("acme", "hd_x", rate_limit="10")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        AsyncDesk("acme", "hd_x", rate_limit=0)


async def test_cancelled_callers_leak_no_slot(fake: FakeDesk) -> None:
    # Cancelled while waiting for a slot, for a start or during the send: the
    # slots all come back, so later calls still get through at the limit.
    number = next(fake.store.iter_tickets()).number
    limit = RateLimit(requests=5, per=0.1, burst=2)
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url, rate_limit=limit) as desk:
        fake.inject(Fault.latency(0.02), route="get_ticket")
        calls = [asyncio.ensure_future(desk.get_ticket(number)) for _ in range(30)]
        await asyncio.sleep(0.03)
        for call in calls[::2]:
            call.cancel()
        done = await asyncio.gather(*calls, return_exceptions=True)
        cancelled = [d for d in done[::2] if isinstance(d, asyncio.CancelledError)]
        assert len(cancelled) >= 8  # most were still waiting (a few had finished)
        assert all(getattr(d, "number", None) == number for d in done[1::2])
        async with asyncio.timeout(5):  # would hang if a slot were lost
            for _ in range(3):
                await asyncio.gather(*(desk.get_ticket(number) for _ in range(5)))
    times = [r.received_at for r in fake.requests]
    assert _busiest_window(times, 0.1) <= 5
