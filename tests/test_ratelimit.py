"""The rate limit's scheduler, pure over an injected clock: no window of
``per`` seconds ever holds more than ``requests`` slots, the burst rule holds,
a 429's pause moves every later slot, and a slot past a caller's deadline is
refused without being taken."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headoni_async import InvalidArgument, InvalidArgumentType, RateLimit
from headoni_async._ratelimit import Scheduler


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
def test_no_window_ever_holds_more_than_the_limit(limit: RateLimit, gaps: list[float]) -> None:
    slots = _slots(limit, gaps)
    assert slots == sorted(slots)  # first come, first served
    n = limit.requests
    for i in range(len(slots) - n):
        assert slots[i + n] - slots[i] >= limit.per  # n+1 slots never fit in one window


@given(_limits, _gaps)
def test_the_burst_rule_spaces_the_rest(limit: RateLimit, gaps: list[float]) -> None:
    slots = _slots(limit, gaps)
    if limit.burst is None:
        return
    spacing = limit.per / limit.requests
    b = limit.burst
    for i in range(len(slots) - b):
        assert slots[i + b] - slots[i] >= b * spacing - 1e-9


def test_an_idle_limiter_does_not_wait_and_a_full_window_does() -> None:
    clock = Clock()
    scheduler = Scheduler(RateLimit(requests=3), clock=clock)
    assert [scheduler.reserve() for _ in range(3)] == [0, 0, 0]
    wait = scheduler.reserve()
    assert wait is not None and 1.0 <= wait <= 1.02
    clock.now += 5
    assert scheduler.reserve() == 0


def test_a_429_pause_holds_every_later_slot_capped() -> None:
    clock = Clock()
    scheduler = Scheduler(RateLimit(requests=100, max_retry_after=30), clock=clock)
    assert scheduler.pause(2.0) == 2.0
    assert scheduler.reserve() == 2.0
    clock.now += 1
    assert scheduler.reserve() == 1.0
    assert scheduler.pause(3600) == 30  # capped
    assert scheduler.reserve() == 30
    assert scheduler.pause(-5) == 0  # never shortens an earlier pause
    assert scheduler.reserve() == 30


def test_a_slot_past_the_deadline_is_refused_and_not_taken() -> None:
    clock = Clock()
    scheduler = Scheduler(RateLimit(requests=1), clock=clock)
    assert scheduler.reserve(latest=0.5) == 0
    assert scheduler.reserve(latest=0.5) is None  # the next slot is a second away
    assert scheduler.reserve(latest=0.5) is None
    wait = scheduler.reserve(latest=2)
    assert wait is not None and 1.0 <= wait <= 1.02  # the refusals took nothing


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
