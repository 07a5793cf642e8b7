"""desk.watch(): new tickets oldest first, each poll stopping at the last one
seen, surviving transient failures, stopping cleanly; counted at the fake desk."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from headoni_async import AsyncDesk, DeskClosed, InvalidArgument, TicketSummary, Unauthenticated
from headoni_async.testing import FakeDesk, Fault

from .conftest import FAST_RETRY
from .documents import SUMMARY
from .helpers import Serve, client_tasks, wait_until

TICK = 0.01


async def _take(stream: AsyncIterator[TicketSummary], n: int) -> list[str]:
    got: list[str] = []
    async for ticket in stream:
        got.append(ticket.id)
        if len(got) == n:
            break
    return got


async def test_yields_only_new_tickets_oldest_first(desk: AsyncDesk, fake: FakeDesk) -> None:
    consumer = asyncio.create_task(_take(desk.watch(interval=TICK), 5))
    await wait_until(lambda: fake.count("list_tickets") >= 1)  # the baseline: the newest ticket now
    first = fake.add_tickets(3)
    await wait_until(lambda: fake.count("list_tickets") >= 4)
    second = fake.add_tickets(2)
    assert await consumer == first + second


async def test_starts_after_an_explicit_since_id(desk: AsyncDesk, fake: FakeDesk) -> None:
    newest = fake.store.all_ids_desc()[:5]
    got = await _take(desk.watch(interval=TICK, since_id=newest[4]), 4)
    assert got == newest[:4][::-1]


async def test_on_an_empty_desk_every_ticket_to_come_is_new() -> None:
    async with FakeDesk("acme") as fake, AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url) as desk:
        consumer = asyncio.create_task(_take(desk.watch(interval=TICK), 2))
        await wait_until(lambda: fake.count("list_tickets") >= 1)
        made = fake.add_tickets(2)
        assert await consumer == made


async def test_each_poll_stops_at_the_last_ticket_seen(desk: AsyncDesk, fake: FakeDesk) -> None:
    # 250 tickets: a poll that walked on past the last ticket seen would ask
    # for a second page (a cursor) every time. None may.
    got: list[str] = []

    async def consume() -> None:
        async for ticket in desk.watch(interval=TICK):
            got.append(ticket.id)

    consumer = asyncio.create_task(consume())
    made: list[str] = []
    for _ in range(3):
        await wait_until(lambda: fake.count("list_tickets") >= 1)
        made += fake.add_tickets(2)
        await wait_until(lambda: len(got) == len(made))  # noqa: B023 - awaited here, inside the iteration
        await asyncio.sleep(3 * TICK)  # a few empty polls too
    consumer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await consumer
    assert got == made
    polls = [r for r in fake.requests if r.route == "list_tickets"]
    assert len(polls) > 6
    assert all("cursor" not in r.query for r in polls)
    assert polls[0].query["limit"] == "1"  # the baseline asks for one ticket


async def test_survives_transient_failures_without_loss_or_repeat(
    desk: AsyncDesk, fake: FakeDesk, caplog: pytest.LogCaptureFixture
) -> None:
    # Poll 2 gets a 503, poll 3 a 429, poll 4 a reset on every attempt.
    fake.inject(Fault.error(503, "unavailable"), route="list_tickets", on=2)
    fake.inject(Fault.error(429, "rate_limited", retry_after="0"), route="list_tickets", on=3)
    fake.inject(Fault.reset(), route="list_tickets", on=[4, 5, 6])
    made: list[str] = []
    consumer = asyncio.create_task(_take(desk.watch(interval=TICK), 4))
    await wait_until(lambda: fake.count("list_tickets") >= 1)
    made += fake.add_tickets(2)
    await wait_until(lambda: fake.count("list_tickets") >= 6)
    made += fake.add_tickets(2)
    with caplog.at_level(logging.WARNING, logger="headoni_async"):
        assert await consumer == made
    failures = [r.getMessage() for r in caplog.records if r.getMessage().startswith("watch:")]
    assert any("ServerError" in m for m in failures) and any("RateLimited" in m for m in failures)
    assert any("NetworkError" in m for m in failures)


async def test_a_lasting_failure_is_raised(fake: FakeDesk) -> None:
    token = fake.mint_token()
    async with AsyncDesk("acme", token, base_url=fake.base_url) as desk:
        consumer = asyncio.create_task(_take(desk.watch(interval=TICK), 1))
        await wait_until(lambda: fake.count("list_tickets") >= 1)
        fake.revoke(token)
        with pytest.raises(Unauthenticated):
            await consumer


async def test_break_stops_polling_and_releases_everything(desk: AsyncDesk, fake: FakeDesk) -> None:
    since = fake.store.all_ids_desc()[3]
    async with contextlib.aclosing(desk.watch(interval=TICK, since_id=since)) as stream:
        async for _ in stream:
            break
    seen = fake.count("list_tickets")
    await asyncio.sleep(10 * TICK)
    assert fake.count("list_tickets") == seen
    assert client_tasks() == []


async def test_cancelling_the_watcher_stops_it(desk: AsyncDesk, fake: FakeDesk) -> None:
    fake.inject(Fault.latency(0.5), route="list_tickets", on=3)  # cancelled inside a poll, too
    consumer = asyncio.create_task(_take(desk.watch(interval=TICK), 10))
    await wait_until(lambda: fake.count("list_tickets") >= 3)
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    seen = fake.count("list_tickets")
    await asyncio.sleep(10 * TICK)
    assert fake.count("list_tickets") == seen
    await wait_until(lambda: fake.open_connections <= 1)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"interval": 0}, InvalidArgument),
        ({"interval": -1}, InvalidArgument),
        ({"since_id": "abc"}, InvalidArgument),
    ],
)
def test_arguments_are_checked_before_any_io(kwargs: dict[str, object], error: type[Exception]) -> None:
    desk = AsyncDesk("acme", "hd_x", base_url="http://127.0.0.1:9/api/v1", retry=FAST_RETRY)
    with pytest.raises(error):
        desk.watch(**kwargs)  # type: ignore[arg-type]


async def test_a_closed_desk_cannot_watch(desk: AsyncDesk) -> None:
    await desk.close()
    with pytest.raises(DeskClosed):
        desk.watch()


async def test_the_baseline_is_the_newest_ticket_even_behind_an_empty_first_page(serve: Serve) -> None:
    # A server may answer a page with no tickets but a nextCursor (the stream
    # goes on past it). Taking "no ticket on the first page" for an empty desk
    # made the watch announce every old ticket as new.
    listed = [_summary(30), _summary(20), _summary(10)]

    async def answer(request: web.Request) -> web.Response:
        cursor = request.query.get("cursor")
        if cursor is None:
            body = {"tickets": [], "nextCursor": str(int(listed[0]["id"]) + 1)}
        else:
            below = [t for t in listed if int(t["id"]) < int(cursor)][: int(request.query["limit"])]
            more = len(below) > 0 and below[-1] is not listed[-1]
            body = {"tickets": below, "nextCursor": below[-1]["id"] if more else None}
        return web.json_response(body)

    server = await serve(answer)
    async with AsyncDesk("acme", "hd_watchwatch", base_url=server.base_url, retry=FAST_RETRY) as desk:
        watch = desk.watch(interval=TICK)
        first = asyncio.ensure_future(_take(watch, 1))
        await wait_until(lambda: len(server.seen) >= 3, what="the baseline and a first poll")
        listed.insert(0, _summary(40))
        async with asyncio.timeout(5):
            assert await first == ["40"]


def _summary(n: int) -> dict[str, object]:
    return {**SUMMARY, "id": str(n), "number": n}
