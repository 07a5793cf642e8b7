"""Per-call options (with_options), the pool timeout that tells the truth, and
a bulk fetch that says when it asks for more than the pool holds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from headoni_async import (
    AsyncDesk,
    ConnectError,
    DeskClosed,
    InvalidArgument,
    InvalidArgumentType,
    NetworkError,
    PoolTimeout,
    RateLimit,
    RateLimited,
    ReadTimeout,
    RetryPolicy,
    Timeouts,
)
from headoni_async.testing import FakeDesk, Fault

from .conftest import CANARY, FAST_RETRY

# ----------------------------------------------------------------------------- with_options


async def test_a_view_uses_its_own_timeouts_and_retry(desk: AsyncDesk, fake: FakeDesk) -> None:
    number = next(fake.store.iter_tickets()).number
    fast = desk.with_options(timeouts=Timeouts(total=0.1), retry=RetryPolicy(attempts=1))
    fake.inject(Fault.latency(0.4), route="get_ticket", on=1)
    with pytest.raises(ReadTimeout):
        await fast.get_ticket(number)
    fake.inject(Fault.latency(0.2), route="get_ticket", on=2)
    assert (await desk.get_ticket(number)).number == number  # the desk keeps its own
    fake.inject(Fault.reset(), route="get_ticket", on=3)
    with pytest.raises(NetworkError):
        await fast.get_ticket(number)  # one attempt: not retried
    fake.inject(Fault.reset(), route="get_ticket", on=4)
    assert (await desk.get_ticket(number)).number == number  # retried by the desk's policy
    assert fake.count("get_ticket") == 5


async def test_a_view_shares_the_pool_and_the_lifecycle(desk: AsyncDesk, fake: FakeDesk) -> None:
    number = next(fake.store.iter_tickets()).number
    view = desk.with_options(headers={"X-Request-Source": "bot"})
    for client in (desk, view, desk, view.with_options(retry=FAST_RETRY)):
        await client.get_ticket(number)
    assert fake.connections_seen == 1  # one keep-alive connection for all of them
    async with view:  # a view has nothing to close
        await view.departments()
    assert not desk.closed and not view.closed
    await desk.get_ticket(number)
    await desk.close()
    assert view.closed and "with_options view" in repr(view)
    with pytest.raises(DeskClosed):
        await view.get_ticket(number)


@pytest.fixture
async def echo() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A server that records every request's headers and answers a department list."""
    seen: list[dict[str, str]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"departments": []})

    app = web.Application()
    app.router.add_get("/api/v1/departments", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/api/v1", seen
    finally:
        await runner.cleanup()


async def test_extra_headers_reach_the_server_and_never_replace_ours(
    echo: tuple[str, list[dict[str, str]]],
) -> None:
    base_url, seen = echo
    async with AsyncDesk("acme", CANARY, base_url=base_url) as desk:
        view = desk.with_options(headers={"X-Trace": "abc", "User-Agent": "my-bot/1.0"})
        await view.with_options(headers={"X-Tenant": "t1"}).departments()
        await desk.departments()
    with_extras, plain = seen
    assert with_extras["X-Trace"] == "abc" and with_extras["X-Tenant"] == "t1"
    assert with_extras["User-Agent"] == "my-bot/1.0"
    assert with_extras["Authorization"] == f"Bearer {CANARY}"
    assert "X-Trace" not in plain and plain["User-Agent"].startswith("headoni-async/")


@pytest.mark.parametrize(
    "name", ["Authorization", "authorization", "HOST", "Content-Type", "content-length", "Transfer-Encoding", "Connection", "Cookie"]
)
def test_reserved_headers_are_refused(name: str) -> None:
    desk = AsyncDesk("acme", CANARY)
    with pytest.raises(InvalidArgument, match="may not be overridden"):
        desk.with_options(headers={name: "Bearer hd_other"})


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({"X-A": "a\r\nAuthorization: Bearer hd_evil"}, InvalidArgument),
        ({"X-A": "a\nb"}, InvalidArgument),
        ({"X-A": "a\x00"}, InvalidArgument),
        ({"X-A": "caf\u00e9"}, InvalidArgument),
        ({"X A": "a"}, InvalidArgument),
        ({"": "a"}, InvalidArgument),
        ({"X-A": 1}, InvalidArgumentType),
        ([("X-A", "a")], InvalidArgumentType),
    ],
)
def test_header_injection_is_refused_without_echo(headers: object, error: type[Exception]) -> None:
    desk = AsyncDesk("acme", CANARY)
    with pytest.raises(error) as info:
        desk.with_options(headers=headers)  # type: ignore[arg-type]
    assert "hd_evil" not in str(info.value)


def test_view_options_are_type_checked() -> None:
    desk = AsyncDesk("acme", CANARY)
    with pytest.raises(InvalidArgumentType):
        desk.with_options(retry=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentType):
        desk.with_options(timeouts={"total": 1})  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- the pool timeout


@pytest.fixture
async def one_connection(fake: FakeDesk) -> AsyncIterator[AsyncDesk]:
    """A desk with a pool of one connection and a short pool timeout."""
    async with AsyncDesk(
        "acme",
        fake.mint_token(),
        base_url=fake.base_url,
        max_connections=1,
        timeouts=Timeouts(pool=0.1),
        retry=RetryPolicy(attempts=1),
    ) as client:
        yield client


async def _hold_the_connection(desk: AsyncDesk, fake: FakeDesk, seconds: float) -> asyncio.Task[object]:
    fake.inject(Fault.latency(seconds), route="departments", on=1)
    holder: asyncio.Task[object] = asyncio.ensure_future(desk.departments())
    async with asyncio.timeout(5):
        while fake.count("departments") < 1:  # noqa: ASYNC110 - the fake counts requests; it has no event for it
            await asyncio.sleep(0.005)
    return holder


async def test_a_create_waiting_for_a_busy_pool_is_a_pool_timeout_and_never_sent(
    one_connection: AsyncDesk, fake: FakeDesk
) -> None:
    holder = await _hold_the_connection(one_connection, fake, 0.5)
    with pytest.raises(PoolTimeout) as info:
        await one_connection.create_ticket(email="a@example.com", subject="s", body="b")
    exc = info.value
    assert not exc.may_have_reached_server
    assert not isinstance(exc, ConnectError) and isinstance(exc, TimeoutError)
    assert "may or may not" not in str(exc) and "nothing was sent" in str(exc)
    assert fake.count("create_ticket") == 0
    await holder


async def test_a_create_after_a_pool_timeout_is_retried_and_made_once(fake: FakeDesk) -> None:
    retry = RetryPolicy(attempts=20, backoff_initial=0.05, backoff_max=0.1, deadline=5)
    async with AsyncDesk(
        "acme", fake.mint_token(), base_url=fake.base_url, max_connections=1, timeouts=Timeouts(pool=0.05), retry=retry
    ) as desk:
        before = len(fake.store)
        holder = await _hold_the_connection(desk, fake, 0.3)
        created = await desk.create_ticket(email="a@example.com", subject="after the wait", body="b")
        await holder
        assert desk.retries >= 1  # it did time out in the pool, then went again
    assert fake.count("create_ticket") == 1
    assert len(fake.store) == before + 1 and created.subject == "after the wait"


async def test_the_call_deadline_also_bounds_the_pool_wait(one_connection: AsyncDesk, fake: FakeDesk) -> None:
    holder = await _hold_the_connection(one_connection, fake, 0.5)
    hurried = one_connection.with_options(
        timeouts=Timeouts(pool=30), retry=RetryPolicy(attempts=1, deadline=0.1)
    )
    with pytest.raises(PoolTimeout):
        await hurried.get_ticket(1)
    assert fake.count("get_ticket") == 0
    await holder


async def test_bulk_fetch_above_the_pool_size_says_so(
    one_connection: AsyncDesk, fake: FakeDesk, caplog: pytest.LogCaptureFixture
) -> None:
    numbers = [t.number for t in fake.store.iter_tickets()][:3]
    fast = one_connection.with_options(timeouts=Timeouts(pool=5))
    with caplog.at_level(logging.WARNING, logger="headoni_async"):
        got = [t.number async for t in fast.get_tickets(numbers, concurrency=4)]
    assert got == numbers
    assert "get_tickets(concurrency=4) is above the desk's pool of 1 connection:" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="headoni_async"):
        [t async for t in fast.get_tickets(numbers, concurrency=1)]
    assert caplog.text == ""


async def test_requests_waiting_for_the_rate_limit_hold_no_connection_of_the_pool(fake: FakeDesk) -> None:
    # After a 429 the desk pauses; a request waiting out that pause uses no
    # connection, so another caller must not time out "in the pool" while the
    # pool is idle (a PoolTimeout is then retried, even for a create, and says
    # something untrue). Both simply wait for the pause.
    limit = RateLimit(requests=1000, max_retry_after=0.4)
    async with AsyncDesk(
        "acme", fake.mint_token(), base_url=fake.base_url, max_connections=1, rate_limit=limit
    ) as desk:
        fake.inject(Fault.error(429, "rate_limited", retry_after="1"), route="departments", on=1)
        with pytest.raises(RateLimited):
            await desk.departments()
        waiting = asyncio.ensure_future(desk.departments())
        await asyncio.sleep(0.05)  # it is waiting out the pause
        hurried = desk.with_options(timeouts=Timeouts(pool=0.1), retry=RetryPolicy(attempts=1))
        types = await hurried.ticket_types()
        assert types and len(await waiting) == 3
    assert fake.count() == 3


# ----------------------------------------------------------------------------- per-attempt timeout


async def test_an_attempt_whose_deadline_is_not_nearer_reuses_the_default_client_timeout(
    fake: FakeDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    from headoni_async import _transport

    real = _transport._client_timeout
    built: list[float | None] = []

    def spy(timeouts: Timeouts, remaining: float | None) -> object:
        built.append(remaining)
        return real(timeouts, remaining)

    number = next(fake.store.iter_tickets()).number
    retry = RetryPolicy(attempts=1, deadline=Timeouts().total or 60.0)  # the deadline equals the total
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url, retry=retry) as desk:
        monkeypatch.setattr(_transport, "_client_timeout", spy)
        for _ in range(3):
            await desk.get_ticket(number)
        assert built == []  # no aiohttp.ClientTimeout built per attempt
        # A nearer deadline still bounds the attempt: its own timeout, at most the deadline.
        await desk.with_options(retry=RetryPolicy(attempts=1, deadline=5)).get_ticket(number)
        assert len(built) == 1 and built[0] is not None and 0 < built[0] <= 5
