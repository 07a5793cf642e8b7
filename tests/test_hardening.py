"""Hostile text, everything bounded and typed: what broke just outside the
reliability promises. Each test talks to a real server on loopback (the fake
desk or a small aiohttp.web app whose answers the test sets) and counts the
requests it saw."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import attrs
import pytest
from aiohttp import web

from headoni_async import (
    AsyncDesk,
    BadRequest,
    HeadoniError,
    InvalidArgument,
    InvalidArgumentType,
    InvalidId,
    InvalidStatus,
    ResponseDecodeError,
    RetryPolicy,
    Timeouts,
)
from headoni_async._models import TicketPage, decode_page
from headoni_async._pager import TicketStream
from headoni_async.testing import FakeDesk
from tests.conftest import FAST_RETRY
from tests.documents import SUMMARY, TICKET
from tests.helpers import ScriptedServer, Serve

HUGE = 10**5000  # past Python's 4,300-digit int-conversion limit
HUGE_TEXT = "9" * 5000


def _desk(server: ScriptedServer, **kwargs: Any) -> AsyncDesk:
    return AsyncDesk("acme", "hd_test", base_url=server.base_url, retry=FAST_RETRY, **kwargs)


def _json(doc: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(doc), content_type="application/json")


# 5. ------------------------------------------------------------------ bounded messages


async def test_a_megabyte_detail_is_cut_in_the_message_and_kept_on_detail(serve: Serve) -> None:
    detail = "spam " * 400_000

    async def answer(request: web.Request) -> web.Response:
        return _json({"error": "invalid_query" + "x" * 100_000, "detail": detail}, 400)

    server = await serve(answer)
    async with _desk(server) as desk:
        with pytest.raises(BadRequest) as info:
            await desk.departments()
    assert info.value.detail == detail
    assert len(str(info.value)) < 1200 and "more characters" in str(info.value)
    assert "\n" not in str(info.value)


async def test_a_huge_server_cursor_is_cut_in_the_message(serve: Serve) -> None:
    async def answer(request: web.Request) -> web.Response:
        return _json({"tickets": [], "nextCursor": "x" * 1_000_000})

    server = await serve(answer)
    async with _desk(server) as desk:
        with pytest.raises(ResponseDecodeError) as info:
            await desk.ticket_page()
    assert len(str(info.value)) < 1200


# 6. ------------------------------------------------------------------ empty pages with a cursor


async def test_empty_pages_with_a_cursor_cannot_loop_forever(serve: Serve) -> None:
    async def answer(request: web.Request) -> web.Response:
        cursor = int(request.query.get("cursor", "1490375649312800768"))
        return _json({"tickets": [], "nextCursor": str(cursor - 1)})  # always "valid", never ending

    server = await serve(answer)
    async with _desk(server) as desk:
        with pytest.raises(ResponseDecodeError, match="empty pages") as info:
            await asyncio.wait_for(_drain(desk.tickets()), timeout=20)
    assert "nextCursor" in str(info.value)
    assert len(server.seen) <= 101


async def test_a_few_empty_pages_with_a_cursor_are_fine(serve: Serve) -> None:
    async def answer(request: web.Request) -> web.Response:
        cursor = int(request.query.get("cursor", "1000"))
        if cursor > 990:
            return _json({"tickets": [], "nextCursor": str(cursor - 1)})
        return _json({"tickets": [{**SUMMARY, "id": str(cursor - 1)}], "nextCursor": None})

    server = await serve(answer)
    async with _desk(server) as desk:
        assert [t.id async for t in desk.tickets()] == ["989"]


async def _drain(stream: Any) -> list[Any]:
    return [t async for t in stream]


# 7. ------------------------------------------------------------------ ints past 4,300 digits


async def test_huge_ints_from_the_caller_are_typed_errors_before_io(serve: Serve) -> None:
    async def answer(request: web.Request) -> web.Response:
        return _json({"tickets": [], "nextCursor": None})

    server = await serve(answer)
    async with _desk(server) as desk:
        with pytest.raises(InvalidId):
            await desk.get_ticket(HUGE)
        with pytest.raises(InvalidArgument):
            desk.tickets(cursor=HUGE)
        with pytest.raises(InvalidArgument):
            desk.tickets(cursor=HUGE_TEXT)
        with pytest.raises(InvalidArgument):
            desk.tickets(since_id=HUGE_TEXT)
        with pytest.raises(InvalidStatus):
            desk.tickets(status=HUGE)
        with pytest.raises(InvalidArgument):
            await desk.ticket_page(cursor=HUGE)
        with pytest.raises(InvalidArgument):
            await desk.create_ticket(email="a@b.co", subject="s", body="b", department_id=HUGE)  # type: ignore[arg-type]
        with pytest.raises(InvalidId):
            _ = [t async for t in desk.get_tickets([HUGE])]
    assert server.seen == []


@pytest.mark.parametrize(
    "doc",
    [
        {"tickets": [{**SUMMARY, "id": HUGE_TEXT}], "nextCursor": None},
        {"tickets": [{**SUMMARY, "id": "5"}], "nextCursor": HUGE_TEXT},
        {"tickets": [], "nextCursor": HUGE_TEXT},
    ],
)
async def test_huge_numbers_from_the_server_are_decode_errors(serve: Serve, doc: Any) -> None:
    async def answer(request: web.Request) -> web.Response:
        return _json(doc)

    server = await serve(answer)
    async with _desk(server) as desk:
        # Compared with a cursor of another length, ids are read as numbers.
        with pytest.raises(ResponseDecodeError):
            await _drain(desk.tickets(cursor="9" * 30))
        with pytest.raises(ResponseDecodeError):
            await _drain(desk.tickets(since_id="1"))
        # Without one, nothing needs the number: the page may pass; if not, the error is typed.
        with contextlib.suppress(ResponseDecodeError):
            await _drain(desk.tickets())


async def test_a_huge_json_number_is_a_decode_error(serve: Serve) -> None:
    async def answer(request: web.Request) -> web.Response:
        text = json.dumps(TICKET).replace('"number": 1247', '"number": ' + HUGE_TEXT)
        return web.Response(text=text, content_type="application/json")

    server = await serve(answer)
    async with _desk(server) as desk:
        with pytest.raises(ResponseDecodeError):
            await desk.get_ticket(1247)


# 9. ------------------------------------------------------------------ cancellation is never swallowed


async def _cancel_during_cleanup(
    consumer: Callable[[], Awaitable[None]], in_cleanup: asyncio.Event, went_on: list[str]
) -> None:
    """Cancel ``consumer`` while the cleanup it started is running, and check that
    the cancellation reached it: the task ends cancelled and nothing after its
    loop ran."""
    task = asyncio.create_task(consumer())
    await in_cleanup.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled() and went_on == []


async def test_cancelling_the_consumer_during_the_stream_cleanup_is_not_swallowed() -> None:
    in_cleanup = asyncio.Event()

    async def fetch(cursor: str | None, peek: object) -> TicketPage:
        if cursor is None:
            return decode_page({"tickets": [{**SUMMARY, "id": "9"}], "nextCursor": "9"})
        try:
            await asyncio.sleep(10)  # the prefetch, still on its way
        except asyncio.CancelledError:
            in_cleanup.set()
            await asyncio.sleep(0.2)  # a slow cleanup (closing its connection, say)
            raise
        raise AssertionError("unreachable")

    stream = TicketStream(fetch, cursor=None, prefetch=True, track=lambda task: None)
    went_on: list[str] = []

    async def consumer() -> None:
        async with stream:
            async for _ in stream:
                await asyncio.sleep(0.01)  # the prefetch is under way
                break
        went_on.append("after the stream")

    await _cancel_during_cleanup(consumer, in_cleanup, went_on)


async def test_cancelling_the_consumer_during_the_bulk_fetch_cleanup_is_not_swallowed(
    desk: AsyncDesk,
) -> None:
    in_cleanup = asyncio.Event()

    async def slow(key: str) -> str:
        if key == "1001":
            return key
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            in_cleanup.set()
            await asyncio.sleep(0.2)  # a slow cleanup
            raise
        raise AssertionError("unreachable")

    desk.get_ticket = slow  # type: ignore[assignment, method-assign]
    went_on: list[str] = []

    async def consumer() -> None:
        async with contextlib.aclosing(desk.get_tickets([1001, 1002, 1003])) as tickets:  # type: ignore[type-var]
            async for _ in tickets:
                await asyncio.sleep(0.01)  # the others are under way
                break
        went_on.append("after the fetch")

    await _cancel_during_cleanup(consumer, in_cleanup, went_on)


# 8. ------------------------------------------------------------------ lazy ids


async def test_get_tickets_reads_its_ids_lazily(desk: AsyncDesk, fake: FakeDesk) -> None:
    pulled = 0

    def ids() -> Iterator[int]:
        nonlocal pulled
        for number in itertools.count(1001):
            pulled += 1
            if pulled > 50_000:  # a list() of it would get here; the fetch must not
                raise AssertionError("the ids were materialised")
            yield number

    got = []
    async with contextlib.aclosing(desk.get_tickets(ids(), concurrency=2)) as tickets:
        async for ticket in tickets:
            got.append(ticket.number)
            if len(got) == 5:
                break
    assert got == [1001, 1002, 1003, 1004, 1005]
    assert pulled <= 5 + 2 * 2 + 1
    assert fake.count("get_ticket") <= 5 + 2 * 2


async def test_a_bad_id_fails_at_its_place_and_nothing_after_it_starts(
    desk: AsyncDesk, fake: FakeDesk
) -> None:
    got = []
    with pytest.raises(InvalidId):
        async for ticket in desk.get_tickets([1001, 1002, "x", 1003, 1004]):
            got.append(ticket.number)
    assert got == [1001, 1002]
    assert fake.count("get_ticket") == 2


# 10. ----------------------------------------------------------------- iterating again after aclose


async def test_iterating_again_after_aclosing_the_iterator_continues_from_cursor(
    desk: AsyncDesk, fake: FakeDesk
) -> None:
    stream = desk.tickets(page_size=10)
    async with contextlib.aclosing(aiter(stream)) as it:
        async for _ in it:
            break
    first = stream.cursor
    rest = [t.id async for t in stream]
    assert [first, *rest] == fake.store.all_ids_desc()


async def test_iterating_again_after_aclosing_pages_continues(desk: AsyncDesk, fake: FakeDesk) -> None:
    stream = desk.tickets(page_size=10)
    async with contextlib.aclosing(stream.pages()) as pages:
        async for _ in pages:
            break
    rest = [t.id async for t in stream]
    assert rest == fake.store.all_ids_desc()[10:]


# 11. ----------------------------------------------------------------- constructor arguments


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: AsyncDesk("acme", "hd_x", scopes={1, "x"}), InvalidArgumentType),  # type: ignore[arg-type]
        (lambda: AsyncDesk("acme", "hd_x", scopes=[None]), InvalidArgumentType),  # type: ignore[list-item]
        (lambda: AsyncDesk("acme", "hd_x", scopes=5), InvalidArgumentType),  # type: ignore[arg-type]
        (lambda: AsyncDesk("acme", "hd_x", trust_env="no"), InvalidArgumentType),  # type: ignore[arg-type]
        (lambda: AsyncDesk("acme", "hd_x", max_connections=2.5), InvalidArgumentType),  # type: ignore[arg-type]
        (lambda: RetryPolicy(backoff_max="5"), InvalidArgumentType),  # type: ignore[arg-type]
        (lambda: RetryPolicy(backoff_initial=None), InvalidArgumentType),  # type: ignore[arg-type]
        (lambda: RetryPolicy(deadline=float("inf")), InvalidArgument),
        (lambda: RetryPolicy(deadline=float("nan")), InvalidArgument),
        (lambda: RetryPolicy(backoff_max=float("inf")), InvalidArgument),
        (lambda: RetryPolicy(deadline=True), InvalidArgumentType),
        (lambda: RetryPolicy(deadline=1e300), InvalidArgument),
        (lambda: RetryPolicy(retry_statuses=5), InvalidArgumentType),  # type: ignore[arg-type]
        (lambda: RetryPolicy(retry_statuses={"502", 503}), InvalidArgumentType),  # type: ignore[arg-type]
        (lambda: RetryPolicy(retry_statuses={500, 503}), InvalidArgument),
        (lambda: RetryPolicy(attempts="3"), InvalidArgumentType),  # type: ignore[arg-type]
        (lambda: RetryPolicy(attempts=0), InvalidArgument),
        (lambda: Timeouts(total="1"), InvalidArgumentType),  # type: ignore[arg-type]
        (lambda: Timeouts(connect=[1]), InvalidArgumentType),  # type: ignore[arg-type]
        (lambda: Timeouts(read=float("inf")), InvalidArgument),
        (lambda: Timeouts(read=-1), InvalidArgument),
        (lambda: Timeouts(read=1e300), InvalidArgument),
        (lambda: Timeouts(pool="1"), InvalidArgumentType),  # type: ignore[arg-type]
        (lambda: attrs.evolve(RetryPolicy(), deadline=float("inf")), InvalidArgument),
        (lambda: attrs.evolve(Timeouts(), total=[1]), InvalidArgumentType),
    ],
)
def test_every_constructor_argument_is_checked(make: Callable[[], object], error: type[HeadoniError]) -> None:
    with pytest.raises(error):
        make()


def test_good_constructor_arguments_still_pass() -> None:
    assert RetryPolicy(deadline=1, backoff_max=2.5, retry_statuses=[502]).retry_statuses == {502}
    assert Timeouts(total=None, read=0.5).read == 0.5
    assert math.isfinite(RetryPolicy().deadline)


# 12. ----------------------------------------------------------------- lone surrogates


async def test_a_lone_surrogate_in_a_query_value_is_refused_before_io(
    desk: AsyncDesk, fake: FakeDesk
) -> None:
    with pytest.raises(InvalidArgument, match="requester_email"):
        desk.tickets(requester_email="al\udcffce@example.com")
    with pytest.raises(InvalidArgument, match="requester_email"):
        await desk.ticket_page(requester_email="\ud800@example.com")
    assert fake.count() == 0


async def test_a_lone_surrogate_in_a_create_is_sent_as_valid_json_or_refused(
    desk: AsyncDesk, fake: FakeDesk
) -> None:
    try:
        created = await desk.create_ticket(
            email="s@example.com", subject="cut \ud83d", body="b\udfff", name="N\udc80"
        )
    except InvalidArgument:
        assert fake.count() == 0
        return
    assert created.subject == "cut \ud83d"
    assert (await desk.get_ticket(created.number)).messages[0].body_md == "b\udfff"


# 13. ----------------------------------------------------------------- get_ticket checks what came back


async def test_get_ticket_refuses_another_ticket(serve: Serve) -> None:
    async def answer(request: web.Request) -> web.Response:
        return _json(TICKET)  # always #1247, id 1490375649312800768

    server = await serve(answer)
    async with _desk(server) as desk:
        assert (await desk.get_ticket(1247)).number == 1247
        assert (await desk.get_ticket("01247")).number == 1247
        assert (await desk.get_ticket("1490375649312800768")).number == 1247
        for other in (1248, "1490375649312800769", "0"):
            with pytest.raises(ResponseDecodeError, match="asked for"):
                await desk.get_ticket(other)
        with pytest.raises(ResponseDecodeError, match="asked for"):
            _ = [t async for t in desk.get_tickets([1247, 1248])]


async def test_get_ticket_by_number_and_id_on_the_fake(desk: AsyncDesk, fake: FakeDesk) -> None:
    newest = next(fake.store.iter_tickets())
    assert (await desk.get_ticket(newest.number)).id == str(newest.id)
    assert (await desk.get_ticket(str(newest.id))).number == newest.number
