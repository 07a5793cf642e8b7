"""Edges found by a third adversarial review: asyncio.timeout() and a desk
closed mid-prefetch keep the token out of tracebacks; a prefetch that gave up
waiting (pool, rate-limit pause) while the caller worked is not the caller's
failure; an ids iterator that raises fails at its place; a refused bulk fetch
logs no pool warning."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headoni_async import (
    AsyncDesk,
    DeskClosed,
    HeadoniError,
    InvalidArgument,
    InvalidArgumentType,
    RateLimit,
    RetryPolicy,
    Timeouts,
)
from headoni_async.testing import FakeDesk, Fault

from .conftest import FAST_RETRY
from .helpers import no_client_tasks_left, token_leaks

HERE = str(Path(__file__).parent)


def _open(fake: FakeDesk, **kw: Any) -> AsyncDesk:
    return AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url, retry=FAST_RETRY, **kw)


BAD_ARGS = [
    pytest.param({"ids": 1001}, InvalidArgumentType, id="ids-int"),
    pytest.param({"ids": "1001"}, InvalidArgumentType, id="ids-str"),
    pytest.param({"ids": b"1001"}, InvalidArgumentType, id="ids-bytes"),
    pytest.param({"ids": None}, InvalidArgumentType, id="ids-none"),
    pytest.param({"concurrency": 0}, InvalidArgument, id="conc-0"),
    pytest.param({"concurrency": -1}, InvalidArgument, id="conc--1"),
    pytest.param({"concurrency": True}, InvalidArgumentType, id="conc-True"),
    pytest.param({"concurrency": "3"}, InvalidArgumentType, id="conc-str"),
    pytest.param({"concurrency": 2.0}, InvalidArgumentType, id="conc-float"),
    pytest.param({"missing": "x"}, InvalidArgument, id="missing-x"),
    pytest.param({"missing": None}, InvalidArgument, id="missing-None"),
]


async def test_refused_arguments_log_no_pool_warning(
    fake: FakeDesk, caplog: pytest.LogCaptureFixture
) -> None:
    """A call refused for its arguments should not also warn about its concurrency (nit)."""
    caplog.set_level(logging.WARNING, logger="headoni_async")
    async with _open(fake, max_connections=2) as desk:
        with pytest.raises(InvalidArgument):
            await anext(aiter(desk.get_tickets([1001], concurrency=8, missing="x")))  # type: ignore[arg-type]
    assert "above the desk's pool" not in caplog.text


@pytest.mark.parametrize("concurrency", [1, 2, 8])
async def test_an_id_iterator_that_raises_midway_fails_at_its_place(fake: FakeDesk, concurrency: int) -> None:
    """The tickets before the failing read are handed out (as for a bad id),
    none fetched is thrown away, and nothing after it is requested."""

    def ids() -> Iterator[int]:
        yield from range(1001, 1006)
        raise ValueError("the id file has a bad line")

    got = []
    async with _open(fake) as desk:
        with pytest.raises(ValueError, match="bad line"):
            async for ticket in desk.get_tickets(ids(), concurrency=concurrency):
                got.append(ticket.number)
        await no_client_tasks_left()
    requested = fake.count("get_ticket")
    assert (got, requested) == ([1001, 1002, 1003, 1004, 1005], 5)


async def test_closing_the_desk_mid_window(fake: FakeDesk) -> None:
    fake.latency = 0.02
    token = fake.mint_token()
    desk = AsyncDesk("acme", token, base_url=fake.base_url, retry=FAST_RETRY)
    got = []
    with pytest.raises(DeskClosed) as info:
        async for t in desk.get_tickets(itertools.count(1001), concurrency=4):
            got.append(t.number)
            if len(got) == 2:
                await desk.close()
    # tickets already fetched when close() ran may still be handed out; then DeskClosed
    assert got == list(range(1001, 1001 + len(got))) and len(got) <= 2 + 8
    assert not token_leaks(info.value, token, skip=HERE)
    await no_client_tasks_left()


async def the_rest_of_two_pages(it: Any, got: list[Any]) -> None:
    """Take the rest of the first two pages of ten from ``it`` (``got`` holds
    page 1's first ticket), close it, and check that nothing is left running."""
    try:
        for _ in range(19):
            got.append(await anext(it))
    finally:
        await it.aclose()
    assert len(got) == 20
    await no_client_tasks_left()


@pytest.mark.parametrize("prefetch", [False, True])
async def test_a_prefetch_that_timed_out_in_the_pool_while_the_consumer_worked_is_not_its_failure(
    fake: FakeDesk, prefetch: bool
) -> None:
    """max_connections=1, pool timeout 0.2 s. Another user's slow call (1 s)
    takes the connection just as page 1 arrives; the consumer works on page 1
    for 1.5 s, by which time the pool is free. Without prefetch, page 2 is
    simply fetched then. With it, page 2's fetch waited in the pool while the
    consumer worked and timed out: that PoolTimeout must not be the consumer's
    failure (nothing was sent; the page is asked for again)."""
    fake.inject(Fault.latency(0.1), route="list_tickets", on=1)
    fake.inject(Fault.latency(1.0), route="get_ticket", on=1)
    async with _open(fake, max_connections=1, timeouts=Timeouts(pool=0.2)) as desk:
        it = aiter(desk.tickets(page_size=10, prefetch=prefetch))
        first = asyncio.ensure_future(anext(it))
        await asyncio.sleep(0.03)  # page 1's request is on the wire
        other = asyncio.ensure_future(desk.get_ticket(1200))  # queued for the connection
        got = [await first]
        await asyncio.sleep(1.5)  # the consumer works on page 1
        assert (await other).number == 1200
        await the_rest_of_two_pages(it, got)


@pytest.mark.parametrize("what", ["get_ticket", "get_tickets", "get_ticket_records", "stream"])
async def test_asyncio_timeout_around_a_call_keeps_the_token_out_of_its_traceback(
    fake: FakeDesk, what: str
) -> None:
    """asyncio.timeout() raises TimeoutError *from* the CancelledError that went
    through aiohttp's ClientSession._request, whose local ``headers`` holds the
    Authorization header: ``pytest -l`` / an error tracker with locals prints it."""
    fake.latency = 1.0
    token = fake.mint_token()
    async with AsyncDesk("acme", token, base_url=fake.base_url, retry=FAST_RETRY) as desk:
        with pytest.raises(TimeoutError) as info:
            async with asyncio.timeout(0.1):
                if what == "get_ticket":
                    await desk.get_ticket(1001)
                elif what == "stream":
                    [t async for t in desk.tickets(page_size=10)]
                else:
                    [t async for t in getattr(desk, what)([1001, 1002])]
        assert not token_leaks(info.value, token, skip=HERE)
        await no_client_tasks_left()


async def test_desk_closed_during_a_prefetch_keeps_the_token_out_of_its_chain(fake: FakeDesk) -> None:
    """A DeskClosed raised inside the ``except CancelledError`` (even ``from
    None``) keeps the prefetch's CancelledError as its ``__context__``, and with
    it aiohttp's frames (``headers``, token included)."""
    fake.latency = 0.05
    token = fake.mint_token()
    desk = AsyncDesk("acme", token, base_url=fake.base_url, retry=FAST_RETRY)
    it = aiter(desk.tickets(page_size=10))
    await anext(it)
    await asyncio.sleep(0.01)  # page 2's fetch is on the wire
    await desk.close()
    with pytest.raises(DeskClosed) as info:
        for _ in range(50):
            await anext(it)
    assert not token_leaks(info.value, token, skip=HERE)
    await no_client_tasks_left()


@pytest.mark.parametrize("prefetch", [False, True])
async def test_a_prefetch_held_by_a_429_pause_while_the_consumer_worked_is_not_its_failure(
    fake: FakeDesk, prefetch: bool
) -> None:
    """rate_limit set, retry deadline 1 s. Another call gets a 429 with
    Retry-After: 2 while page 1 is on the wire. The consumer works on page 1
    for 2.5 s, past the pause. Without prefetch, page 2 is fetched then. With
    it, page 2's fetch was refused at once (the pause passes its deadline):
    that RateLimitTimeout must not be the consumer's failure either."""
    fake.inject(Fault.latency(0.2), route="list_tickets", on=1)
    fake.inject(Fault.error(429, "rate_limited", retry_after="2"), route="get_ticket", on=1)
    retry = RetryPolicy(attempts=3, backoff_initial=0.001, backoff_max=0.002, deadline=1)
    async with _open(fake, rate_limit=RateLimit(requests=1000)) as desk:
        desk = desk.with_options(retry=retry)
        it = aiter(desk.tickets(page_size=10, prefetch=prefetch))
        first = asyncio.ensure_future(anext(it))
        await asyncio.sleep(0.05)  # page 1's request is on the wire
        with pytest.raises(HeadoniError):  # RateLimited: the desk pauses for 2 s
            await desk.get_ticket(1200)
        got = [await first]
        await asyncio.sleep(2.5)  # the consumer works on page 1, past the pause
        await the_rest_of_two_pages(it, got)
