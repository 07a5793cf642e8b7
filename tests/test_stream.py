"""The ticket stream and the bulk fetch, on a real server: every ticket exactly
once and in order, prefetch, resume, faults at any page and byte, and clean
release of connections when a loop ends early."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import attrs
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headoni_async import (
    AsyncDesk,
    DeskClosed,
    Hooks,
    InvalidArgument,
    NetworkError,
    PoolTimeout,
    ResponseDecodeError,
    RetryPolicy,
    StatusType,
    TicketNotFound,
    TicketStream,
    Timeouts,
    _pager,
)
from headoni_async.testing import FakeDesk, Fault

from .conftest import FAST_RETRY
from .documents import SUMMARY
from .helpers import (
    TRANSFER_FAULTS,
    Handler,
    Serve,
    client_tasks,
    no_client_tasks_left,
    transfer_fault,
    wait_until,
)


async def test_stream_yields_every_ticket_once_newest_first(desk: AsyncDesk, fake: FakeDesk) -> None:
    ids = [t.id async for t in desk.tickets(page_size=7)]
    assert ids == fake.store.all_ids_desc()
    assert fake.count("list_tickets") == -(-len(fake.store) // 7)
    assert all(r.query["limit"] == "7" for r in fake.requests)


async def test_default_page_size_is_100(desk: AsyncDesk, fake: FakeDesk) -> None:
    [t async for t in desk.tickets()]
    assert fake.requests[0].query == {"limit": "100"}
    assert fake.count("list_tickets") == 3


async def test_pages_and_cursor(desk: AsyncDesk, fake: FakeDesk) -> None:
    stream = desk.tickets(page_size=100)
    sizes = []
    async for page in stream.pages():
        sizes.append(len(page.tickets))
        assert stream.cursor == page.tickets[-1].id
    assert sizes == [100, 100, 50] and stream.exhausted
    assert stream.cursor == fake.store.all_ids_desc()[-1]


@pytest.mark.parametrize("stop_after", [1, 99, 100, 101, 249])
async def test_resume_from_cursor_exactly_after_the_last_ticket(
    desk: AsyncDesk, fake: FakeDesk, stop_after: int
) -> None:
    stream = desk.tickets(page_size=100)
    first = []
    async for t in stream:
        first.append(t.id)
        if len(first) == stop_after:
            break
    assert stream.cursor == first[-1]
    rest = [t.id async for t in desk.tickets(cursor=stream.cursor)]
    assert first + rest == fake.store.all_ids_desc()
    # Iterating the same stream again goes on from its cursor, too.
    again = [t.id async for t in stream]
    assert again == rest


async def test_filters_pass_through(desk: AsyncDesk, fake: FakeDesk) -> None:
    resolved = [t async for t in desk.tickets(status=StatusType.RESOLVED, page_size=10)]
    assert resolved and {t.status.internal_type for t in resolved} == {StatusType.RESOLVED}
    expected = [str(t.id) for t in fake.store.iter_tickets() if t.status.internal_type == "resolved"]
    assert [t.id for t in resolved] == expected
    someone = next(fake.store.iter_tickets()).email
    assert someone is not None
    mine = [t async for t in desk.tickets(requester_email=someone.upper())]
    assert mine and {t.requester.email for t in mine} == {someone}
    by_id = [t async for t in desk.tickets(status=int(fake.store.statuses[0].id))]
    assert {t.status.label for t in by_id} == {"Open"}
    assert any(r.query.get("requesterEmail") == someone.upper() for r in fake.requests)  # sent unchanged


async def test_prefetch_fetches_the_next_page_while_the_caller_works(desk: AsyncDesk, fake: FakeDesk) -> None:
    stream = desk.tickets(page_size=50)
    iterator = stream.pages().__aiter__()
    await iterator.__anext__()
    # page 2 is on its way before we asked
    await wait_until(lambda: fake.count("list_tickets") == 2, what="the prefetch of page 2")
    await iterator.aclose()  # type: ignore[attr-defined]

    fake2 = desk.tickets(page_size=50, prefetch=False).pages().__aiter__()
    before = fake.count("list_tickets")
    await fake2.__anext__()
    await asyncio.sleep(0.05)
    assert fake.count("list_tickets") == before + 1
    await fake2.aclose()  # type: ignore[attr-defined]


async def test_break_cancels_the_prefetch_and_releases_connections(fake: FakeDesk) -> None:
    fake.inject(Fault.latency(10), route="list_tickets", on=2)  # the prefetch would hang 10 s
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url) as desk:
        async for _ in desk.tickets(page_size=10):
            break
        gc.collect()
        # The loop's async-generator finalizer runs on the next turns; the
        # prefetch is gone at once only if it was cancelled.
        await no_client_tasks_left(within=2)
        # The pool is healthy: the next call gets its own answer.
        assert (await desk.get_ticket(1001)).number == 1001


async def test_a_stream_dropped_after_break_is_wound_down_without_an_error_logged(
    fake: FakeDesk, caplog: pytest.LogCaptureFixture
) -> None:
    # The most common loop: break out, never aclose(). The loop's async-generator
    # finalizer winds the stream down; it must do so without asyncio logging an
    # error (CPython closes every unreachable async generator at once, so nested
    # ones were closed twice: "aclose(): asynchronous generator is already running").
    fake.inject(Fault.latency(10), route="list_tickets", on=2)  # the prefetch would hang 10 s
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url) as desk:
        gc.disable()
        try:
            async for _ticket in desk.tickets(page_size=10):
                break
            # Wound down at once, not at some later garbage collection.
            await no_client_tasks_left(within=2)
        finally:
            gc.enable()
        for _ in range(3):
            async for _ticket in desk.tickets(page_size=10):
                break
            async for _page in desk.tickets(page_size=10).pages():
                break
        gc.collect()
        await no_client_tasks_left(within=2)
        gc.collect()
        await asyncio.sleep(0.01)
    assert "Error" not in caplog.text and "never retrieved" not in caplog.text, caplog.text


async def test_aclose_and_context_manager(desk: AsyncDesk) -> None:
    async with desk.tickets(page_size=10) as stream:
        async for _ in stream:
            break
    assert client_tasks() == []
    await stream.aclose()  # idempotent


async def test_cancelling_the_consumer_releases_everything(fake: FakeDesk) -> None:
    fake.latency = 0.01
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url) as desk:

        async def consume() -> None:
            async with desk.tickets(page_size=5) as stream:
                async for _ in stream:
                    await asyncio.sleep(0)

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert client_tasks() == []
        assert (await desk.departments())[0].name == "Billing"


async def test_closing_the_desk_mid_stream(fake: FakeDesk) -> None:
    fake.latency = 0.02
    desk = AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url)
    seen = []

    async def consume() -> None:
        async for t in desk.tickets(page_size=5):
            seen.append(t)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.1)
    await desk.close()
    with pytest.raises(DeskClosed):
        await task
    assert seen and client_tasks() == []


async def test_closing_the_desk_while_a_body_is_read(serve: Serve) -> None:
    # aiohttp drops a body's reader when its session closes; the desk wakes it.
    body_started, finish = asyncio.Event(), asyncio.Event()

    async def half_a_page(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 10_000
        await response.prepare(request)
        await response.write(b'{"tickets": [' + b" " * 1000)
        body_started.set()
        await finish.wait()  # the rest never comes
        return response

    server = await serve(half_a_page)
    desk = AsyncDesk("acme", "hd_x", base_url=server.base_url, timeouts=Timeouts(read=60, total=120))
    task = asyncio.create_task(desk.ticket_page(page_size=100))
    try:
        await body_started.wait()
        await asyncio.sleep(0.05)  # let those bytes reach the client, which is now reading the body
        await desk.close()
        with pytest.raises(DeskClosed):
            await asyncio.wait_for(task, timeout=10)  # a liveness bound: without the fix this waits 60 s
    finally:
        finish.set()


async def test_two_tasks_cannot_share_one_iteration(desk: AsyncDesk, fake: FakeDesk) -> None:
    fake.latency = 0.05
    stream = desk.tickets(page_size=5)
    first = asyncio.create_task(anext(aiter(stream)))
    await asyncio.sleep(0.01)
    with pytest.raises(InvalidArgument):
        await anext(aiter(stream))
    await first
    await stream.aclose()


async def test_a_failed_page_is_retried_as_that_page(desk: AsyncDesk, fake: FakeDesk) -> None:
    fake.inject(Fault.reset_mid_body(), route="list_tickets", on=2)
    ids = [t.id async for t in desk.tickets(page_size=100)]
    assert ids == fake.store.all_ids_desc()
    cursors = [r.query.get("cursor") for r in fake.requests]
    assert cursors[1] == cursors[2]  # the retry asked for the same page
    assert fake.count("list_tickets") == 4


async def test_error_mid_stream_keeps_the_cursor_for_resume(fake: FakeDesk) -> None:
    fake.inject(Fault.reset(), route="list_tickets", on=[2, 3])
    policy = RetryPolicy(attempts=2, backoff_initial=0.001)
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url, retry=policy) as desk:
        stream = desk.tickets(page_size=100)
        got = []
        with pytest.raises(NetworkError):
            async for t in stream:
                got.append(t.id)
        assert len(got) == 100 and stream.cursor == got[-1]
        rest = [t.id async for t in stream]
    assert got + rest == fake.store.all_ids_desc()


# ---------------------------------------------------------------- exactly once under any fault


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    page=st.integers(min_value=1, max_value=6),
    at_byte=st.integers(min_value=0, max_value=40_000),
    kind=st.sampled_from(TRANSFER_FAULTS),
    page_size=st.sampled_from([17, 50, 100]),
)
async def test_exactly_once_with_a_fault_at_any_page_and_byte(
    fake: FakeDesk, page: int, at_byte: int, kind: str, page_size: int
) -> None:
    fake.clear_faults()
    start = fake.count("list_tickets")
    fault = transfer_fault(kind, at_byte)
    fake.inject(fault, route="list_tickets", on=start + page)
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url, retry=FAST_RETRY) as desk:
        ids = [t.id async for t in desk.tickets(page_size=page_size)]
    assert ids == fake.store.all_ids_desc()
    pages = -(-len(fake.store) // page_size)
    assert fake.count("list_tickets") - start == pages + (1 if page <= pages else 0)


# ---------------------------------------------------------------- a server that breaks the order


@pytest.mark.parametrize(
    "pages",
    [
        # the same ticket on two pages
        [{"tickets": ["9", "8"], "nextCursor": "8"}, {"tickets": ["8", "7"], "nextCursor": None}],
        # a cursor that does not move down
        [{"tickets": ["9", "8"], "nextCursor": "9"}],
        # ascending within a page
        [{"tickets": ["8", "9"], "nextCursor": None}],
    ],
)
async def test_a_server_breaking_keyset_order_is_refused(pages: list[dict[str, object]]) -> None:
    from headoni_async._models import decode_page

    def page_doc(spec: dict[str, object]) -> object:
        ids = spec["tickets"]
        assert isinstance(ids, list)
        return {"tickets": [{**SUMMARY, "id": i} for i in ids], "nextCursor": spec["nextCursor"]}

    served = iter(pages)

    async def fetch(cursor: str | None, peek: object) -> object:
        return decode_page(page_doc(next(served)))

    stream = TicketStream(fetch, cursor=None, prefetch=False, track=lambda task: None)  # type: ignore[arg-type]
    seen = []
    with pytest.raises(ResponseDecodeError):
        async for t in stream:
            seen.append(t.id)
    assert len(seen) == len(set(seen))


# ---------------------------------------------------------------- the prefetch starts before decoding


async def test_the_next_page_is_requested_before_this_page_is_decoded(
    fake: FakeDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    from headoni_async import Hooks, _desk

    events: list[str] = []
    decode = _desk.page_from_bytes

    def recording_decode(body: bytes) -> object:
        events.append("decode")
        return decode(body)

    monkeypatch.setattr(_desk, "page_from_bytes", recording_decode)
    hooks = Hooks(on_request=lambda event: events.append("request"))
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url, hooks=hooks) as desk:
        seen = [t.id async for t in desk.tickets(page_size=100)]  # 250 tickets: three pages
    assert seen == fake.store.all_ids_desc()
    # Each page's bytes are decoded only once the request for the page after it is out.
    assert events == ["request", "request", "decode", "request", "decode", "decode"]
    assert fake.count("list_tickets") == 3


async def test_the_next_request_reaches_the_server_while_this_page_is_decoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The server on its own thread, as a real desk is on its own machine; each
    # page's decoding made to take 100 ms of CPU (decoding is CPU: nothing else
    # on the client's loop runs meanwhile). The request for the next page must
    # arrive at the server before that decoding ends.
    from headoni_async import _desk

    decodes: list[tuple[float, float]] = []
    decode = _desk.page_from_bytes

    def slow_decode(body: bytes) -> object:
        start = time.monotonic()
        while time.monotonic() < start + 0.1:
            pass
        decodes.append((start, time.monotonic()))
        return decode(body)

    monkeypatch.setattr(_desk, "page_from_bytes", slow_decode)
    fake = FakeDesk("acme", tickets=250, seed=3)
    with fake.serve_in_thread() as base_url:
        async with AsyncDesk("acme", fake.mint_token(), base_url=base_url) as desk:
            seen = [t.id async for t in desk.tickets(page_size=100)]
    assert seen == fake.store.all_ids_desc()
    arrivals = [r.received_at for r in fake.requests if r.route == "list_tickets"]
    assert len(arrivals) == len(decodes) == 3
    assert arrivals[1] < decodes[0][1] and arrivals[2] < decodes[1][1], (arrivals, decodes)


async def test_a_wrong_guess_of_the_next_cursor_is_dropped() -> None:
    # The stream reads the next cursor from the end of a page's bytes and starts
    # that fetch at once; when the decoded page names another cursor, the guessed
    # fetch is cancelled and the named page is fetched: nothing is handed out twice.
    from headoni_async._models import decode_page

    asked: list[str | None] = []
    guessed_cancelled = asyncio.Event()
    tasks: list[asyncio.Task[object]] = []

    async def fetch(cursor: str | None, peek: object) -> object:
        asked.append(cursor)
        if cursor is None:
            assert callable(peek)
            peek(b'{"tickets":[],"nextCursor":"7"}')  # what the bytes seem to say
            await asyncio.sleep(0)
            return decode_page({"tickets": [{**SUMMARY, "id": i} for i in ("9", "8")], "nextCursor": "5"})
        if cursor == "7":
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                guessed_cancelled.set()
                raise
        assert cursor == "5"
        return decode_page({"tickets": [{**SUMMARY, "id": "4"}], "nextCursor": None})

    stream = TicketStream(fetch, cursor=None, prefetch=True, track=tasks.append)  # type: ignore[arg-type]
    assert [t.id async for t in stream] == ["9", "8", "4"]
    assert guessed_cancelled.is_set()
    assert asked == [None, "7", "5"]
    assert all(task.done() for task in tasks)


async def test_a_page_that_fails_to_decode_drops_the_fetch_it_started(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    release = asyncio.Event()
    bad_ticket = {**SUMMARY, "id": "9", "number": "not a number"}

    async def handler(request: web.Request) -> web.StreamResponse:
        if "cursor" not in request.query:
            return web.json_response({"tickets": [bad_ticket], "nextCursor": "9"})
        await release.wait()  # page 2 answers only after the test is over
        return web.json_response({"tickets": [], "nextCursor": None})

    server = await serve(handler)
    async with AsyncDesk("acme", "hd_x", base_url=server.base_url) as desk:
        with pytest.raises(ResponseDecodeError):
            async for _ in desk.tickets():
                pass
        assert client_tasks() == []  # the fetch of page 2 was cancelled and waited for
    # It had gone out before the decoding failed (and nothing else did).
    await wait_until(lambda: len(server.seen) == 2, what="the guessed request to reach the server")
    release.set()
    gc.collect()
    await asyncio.sleep(0.01)
    assert "never retrieved" not in caplog.text


def _page(ids: list[int], nxt: str | None) -> web.Response:
    doc = {"tickets": [{**SUMMARY, "id": str(i)} for i in ids], "nextCursor": nxt}
    return web.Response(body=json.dumps(doc, separators=(",", ":")).encode(), content_type="application/json")


def two_pages_then(page_three: Callable[[], Awaitable[web.StreamResponse]]) -> Handler:
    """A server of the pages [9, 8] and [7, 6], then ``page_three()``."""

    async def handler(request: web.Request) -> web.StreamResponse:
        cursor = request.query.get("cursor")
        if cursor is None:
            return _page([9, 8], "8")
        if cursor == "8":
            return _page([7, 6], "6")
        return await page_three()

    return handler


async def cancelled_as_page_two_arrives(
    monkeypatch: pytest.MonkeyPatch, walk: Callable[[], AsyncIterator[object]]
) -> None:
    """Run a consumer of ``walk()`` and cancel it in the loop turn in which page
    2's bytes arrive (inside the prefetch, as its peek starts the fetch of page
    3): a timeout or a TaskGroup sibling failing can land there. Returns when
    the consumer has ended cancelled."""
    real_peek = _pager.peek_next_cursor
    calls = itertools.count(1)
    consumer: list[asyncio.Task[None]] = []

    def peek_and_cancel(body: bytes) -> str | None:
        if next(calls) == 2:
            consumer[0].cancel()
        return real_peek(body)

    async def consume() -> None:
        async for _ in walk():
            pass

    monkeypatch.setattr(_pager, "peek_next_cursor", peek_and_cancel)
    consumer.append(asyncio.create_task(consume()))
    with pytest.raises(asyncio.CancelledError):
        await consumer[0]
    assert next(calls) == 3  # page 3's fetch was cancelled before its bytes came


async def test_cancelling_the_consumer_while_the_prefetch_reads_its_bytes_leaves_no_task(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both fetches (page 2's and the page 3 its peek started) must be cancelled and waited for.
    hold = asyncio.Event()

    async def page_three() -> web.StreamResponse:
        await hold.wait()
        return _page([5], None)

    server = await serve(two_pages_then(page_three))
    try:
        async with AsyncDesk("acme", "hd_x", base_url=server.base_url) as desk:
            await cancelled_as_page_two_arrives(monkeypatch, lambda: aiter(desk.tickets().pages()))
            await no_client_tasks_left(within=1)
    finally:
        hold.set()


async def test_the_fetch_left_running_by_a_cancelled_consumer_fails_unretrieved(
    serve: Serve, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The same moment; a page-3 fetch left running would fail on its own, its
    # exception retrieved by nobody.
    async def page_three() -> web.StreamResponse:
        await asyncio.sleep(0.05)
        return web.Response(status=500, text="boom")

    server = await serve(two_pages_then(page_three))
    async with AsyncDesk("acme", "hd_x", base_url=server.base_url, retry=RetryPolicy(attempts=1)) as desk:
        await cancelled_as_page_two_arrives(monkeypatch, lambda: aiter(desk.tickets()))
        await wait_until(lambda: len(server.seen) == 3)
        await asyncio.sleep(0.2)
    gc.collect()
    await asyncio.sleep(0)
    assert "never retrieved" not in caplog.text


async def test_after_a_cancel_in_that_moment_the_pool_is_free_for_the_next_call(
    fake: FakeDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With max_connections=1, a page-3 fetch left running would hold the only
    # connection: the next call of the desk could not get one.
    fake.inject(Fault.latency(5), route="list_tickets", on=3)
    async with AsyncDesk(
        "acme", fake.mint_token(), base_url=fake.base_url, max_connections=1, timeouts=Timeouts(pool=0.5)
    ) as desk:
        await cancelled_as_page_two_arrives(monkeypatch, lambda: aiter(desk.tickets(page_size=10)))
        try:
            number = (await desk.get_ticket(1001)).number
        except PoolTimeout as exc:
            raise AssertionError(f"the pool is still held by the stream's fetch: {exc}") from None
        assert number == 1001


@pytest.mark.parametrize(("page2_next", "refused_cursor"), [("50", "50"), ("8", "8")])
async def test_no_request_for_a_cursor_the_order_check_refuses(
    serve: Serve, page2_next: str, refused_cursor: str
) -> None:
    # Page 2 names a nextCursor above its tickets (50) or its own cursor (8): the
    # stream refuses the page, and no request for that cursor goes out (the
    # guess of the next page is taken only from a cursor that moves down).
    async def handler(request: web.Request) -> web.StreamResponse:
        cursor = request.query.get("cursor")
        if cursor is None:
            return _page([9, 8], "8")
        if cursor == "8" and len([r for r in server.seen if r.query.get("cursor") == "8"]) == 1:
            return _page([7, 6], page2_next)
        return _page([49] if cursor == "50" else [7, 6], None)

    server = await serve(handler)
    async with AsyncDesk("acme", "hd_x", base_url=server.base_url) as desk:
        with pytest.raises(ResponseDecodeError):
            async for _ in desk.tickets():
                pass
    asked = [r.query.get("cursor") for r in server.seen]
    assert asked == [None, "8"]


async def test_timeouts_at_random_moments_leave_no_fetch_running() -> None:
    rng = random.Random(7)
    leaks = 0
    async with (
        FakeDesk("acme", tickets=2000, seed=3) as fake,
        AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url) as desk,
    ):
        for _ in range(100):
            try:
                async with asyncio.timeout(rng.uniform(0.001, 0.03)):
                    async for _ in desk.tickets(page_size=20):
                        pass
            except TimeoutError:
                pass
            if [t for t in client_tasks() if not t.done()]:
                leaks += 1
                await asyncio.sleep(0.05)
    assert leaks == 0


async def test_prefetch_false_starts_no_fetch_before_the_caller_asks(fake: FakeDesk) -> None:
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url) as desk:
        stream = desk.tickets(page_size=100, prefetch=False)
        async with contextlib.aclosing(stream.pages()) as pages:
            async for _ in pages:
                await asyncio.sleep(0.05)  # a prefetch, if any, would reach the server now
                assert fake.count("list_tickets") == 1
                break


# ---------------------------------------------------------------- iterations freed by the garbage collector, hooks that stop


async def collected_cleanly(caplog: pytest.LogCaptureFixture) -> None:
    """Collect the garbage and let the loop's finalizers wind down what it held:
    no client task is left, and asyncio logged nothing about a generator closed
    twice or an exception never retrieved."""
    gc.collect()
    await no_client_tasks_left(within=2)
    for _ in range(5):
        await asyncio.sleep(0.01)
    assert "already running" not in caplog.text and "never retrieved" not in caplog.text, caplog.text


class Holder:
    """A consumer object in a reference cycle (a back-reference to itself),
    as many real objects are: it is freed only by the garbage collector."""

    def __init__(self) -> None:
        self.me = self
        self.it: object = None


async def test_an_iterator_in_a_reference_cycle_is_wound_down_without_an_error_logged(
    fake: FakeDesk, caplog: pytest.LogCaptureFixture
) -> None:
    # ffffc2a fixed the "aclose(): asynchronous generator is already running" error
    # for an iterator dropped by refcount. An iterator that the user's own objects
    # keep in a reference cycle is freed by the garbage collector, together with
    # the nested generator inside it, and each gets its own finalizer task.
    fake.inject(Fault.latency(10), route="list_tickets", on=2)  # the prefetch is still on its way
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url) as desk:
        stream = desk.tickets(page_size=10)
        holder = Holder()
        holder.it = aiter(stream)
        await anext(holder.it)  # type: ignore[call-overload]
        await wait_until(lambda: fake.count("list_tickets") == 2, what="the prefetch to be sent")
        del holder
        await collected_cleanly(caplog)
        assert stream.cursor is not None


async def test_an_exception_kept_by_the_caller_then_collected_logs_no_error(
    fake: FakeDesk, caplog: pytest.LogCaptureFixture
) -> None:
    # The everyday shape of the same cycle: a job catches a failure of its loop
    # body and keeps the exception (to report it); the exception's traceback
    # holds the frames, one of which holds the iterator.
    fake.inject(Fault.latency(10), route="list_tickets", on=2)

    async def consume(stream: TicketStream) -> None:
        pages = stream.pages()
        async for _page in pages:
            raise ValueError("this page could not be processed")

    async def job(stream: TicketStream) -> str:
        try:
            await consume(stream)
        except ValueError as exc:
            error = exc  # kept: error -> traceback -> this frame -> error
            return f"failed: {error}"
        return "done"

    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url) as desk:
        stream = desk.tickets(page_size=10)
        assert (await job(stream)).startswith("failed")
        await wait_until(lambda: fake.count("list_tickets") == 2, what="the prefetch to be sent")
        await collected_cleanly(caplog)


async def test_get_tickets_iterator_in_a_reference_cycle_logs_no_error(
    fake: FakeDesk, caplog: pytest.LogCaptureFixture
) -> None:
    # The bulk fetch nests two async generators too (fetch_many -> fetch_in_order).
    fake.inject(Fault.latency(10), route="get_ticket", on=3)
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url) as desk:
        holder = Holder()
        holder.it = aiter(desk.get_tickets([1001, 1002, 1003, 1004], concurrency=4))
        await anext(holder.it)  # type: ignore[call-overload]
        await wait_until(lambda: fake.count("get_ticket") == 4)
        del holder
        await collected_cleanly(caplog)


class Stop(BaseException):
    """A BaseException a hook raises (a framework's own 'stop now', KeyboardInterrupt's kind)."""


class StopOnPageTwo:
    """An ``on_response`` hook that raises ``Stop`` for the second page (the prefetch)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, event: object) -> None:
        self.calls += 1
        if self.calls == 2:
            raise Stop


async def test_a_hook_base_exception_in_the_prefetch_leaves_no_fetch_running(fake: FakeDesk) -> None:
    # on_response raises for page 2 (the prefetch, whose bytes already started
    # the guess for page 3); the consumer, waiting for page 2, gets the
    # BaseException; the walk's cleanup must wind down page 3's fetch too.
    fake.inject(Fault.latency(5), route="list_tickets", on=3)
    hooks = Hooks(on_response=StopOnPageTwo())
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url, hooks=hooks) as desk:
        with pytest.raises(Stop):
            async for _ in desk.tickets(page_size=10):
                pass
        left = [t for t in client_tasks() if not t.done()]
        assert left == [], left


async def test_a_hook_base_exception_in_a_prefetch_the_caller_broke_away_from_is_not_logged_unretrieved(
    fake: FakeDesk, caplog: pytest.LogCaptureFixture
) -> None:
    # The prefetch's on_response raises a BaseException while the caller works on
    # page 1; the caller then breaks out. The loop's finalizer closes the dropped
    # iteration in a task of its own, whose settle() re-raises the prefetch's
    # BaseException there: asyncio logs "Task exception was never retrieved".
    stop = StopOnPageTwo()
    async with AsyncDesk(
        "acme", fake.mint_token(), base_url=fake.base_url, hooks=Hooks(on_response=stop)
    ) as desk:
        async with desk.tickets(page_size=10) as stream:
            async for _ in stream:
                await wait_until(lambda: stop.calls == 2, what="the prefetch's hook to raise")
                break
        await no_client_tasks_left()
        for _ in range(5):
            await asyncio.sleep(0.01)
    gc.collect()
    await asyncio.sleep(0.01)
    assert "never retrieved" not in caplog.text, caplog.text


KI_SCRIPT = r"""
import asyncio, sys
from headoni_async import AsyncDesk, Hooks
from headoni_async.testing import FakeDesk, Fault

fake = FakeDesk("acme", tickets=250, seed=3)
fake.inject(Fault.latency(2), route="list_tickets", on=3)
calls = 0

def hook(event):
    global calls
    calls += 1
    if calls == 2:  # page 2: the prefetch
        raise KeyboardInterrupt

with fake.serve_in_thread() as base_url:
    async def main():
        hooks = Hooks(**{sys.argv[1]: hook})
        async with AsyncDesk("acme", fake.mint_token(), base_url=base_url, hooks=hooks) as desk:
            async for _ in desk.tickets(page_size=10):
                await asyncio.sleep(0.001)
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
"""


@pytest.mark.parametrize("hook", ["on_response", "on_call_end"])
def test_ctrl_c_in_a_hook_of_the_prefetch_lets_asyncio_run_shut_down_cleanly(hook: str) -> None:
    # A KeyboardInterrupt raised by a hook inside the prefetch task leaves the loop
    # at once (asyncio re-raises it from the task). asyncio.run then cancels the
    # main task; the stream's cleanup (settle() in the finalizer's aclose) raises the
    # prefetch's KeyboardInterrupt a second time, which aborts asyncio.run's shutdown:
    # the desk's session close is left pending and asyncio logs errors.
    import subprocess
    import sys

    done = subprocess.run(  # noqa: S603 - our interpreter, a fixed script
        [sys.executable, "-c", KI_SCRIPT, hook], capture_output=True, text=True, timeout=60, check=False
    )
    assert "interrupted" in done.stderr
    assert "destroyed but it is pending" not in done.stderr, done.stderr
    assert "never retrieved" not in done.stderr, done.stderr


async def test_a_refused_aclose_does_not_forget_the_iteration_under_way(fake: FakeDesk) -> None:
    # Task A is inside an iteration (waiting for page 2). Task B calls
    # stream.aclose(): _end() refuses (InvalidArgument), but aclose() had already
    # set _active to None. The stream has forgotten A's iteration: B's own
    # `async for` is then not refused, and two iterations of one stream run at once.
    fake.inject(Fault.latency(0.5), route="list_tickets", on=2)
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url) as desk:
        stream = desk.tickets(page_size=10)
        got_a: list[str] = []

        async def a() -> None:
            async for t in stream:
                got_a.append(t.id)

        task = asyncio.create_task(a())
        await wait_until(lambda: len(got_a) == 10 and fake.count("list_tickets") == 2)
        await asyncio.sleep(0.05)  # A is inside anext(), waiting for page 2
        with pytest.raises(InvalidArgument):
            await stream.aclose()
        got_b: list[str] = []
        try:
            with pytest.raises(InvalidArgument):
                async for t in stream:
                    got_b.append(t.id)
        finally:
            await task
        assert set(got_a).isdisjoint(got_b)


# ---------------------------------------------------------------- bulk fetch


async def test_get_tickets_in_input_order(desk: AsyncDesk, fake: FakeDesk) -> None:
    store_ids = fake.store.all_ids_desc()
    wanted: list[int | str] = [1005, store_ids[3], 1001, 1249, store_ids[100]]
    got = [t async for t in desk.get_tickets(wanted, concurrency=3)]
    assert [t.number for t in got[:1]] == [1005]
    assert [t.id for t in got[1:2]] == [store_ids[3]]
    assert [t.number for t in got[2:4]] == [1001, 1249]
    assert got[4].id == store_ids[100]


async def test_get_tickets_bounded_concurrency(fake: FakeDesk) -> None:
    fake.latency = 0.02
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url) as desk:
        got = [t async for t in desk.get_tickets(range(1001, 1061), concurrency=4)]
    assert [t.number for t in got] == list(range(1001, 1061))
    assert fake.max_in_flight == 4
    assert fake.connections_seen <= 4


async def test_get_tickets_error_in_order_and_rest_cancelled(desk: AsyncDesk, fake: FakeDesk) -> None:
    # One at a time, so the requests arrive in input order: the 3rd fails, a 4th would hang.
    fake.inject(Fault.latency(10), route="get_ticket", on=range(4, 10))
    got: list[int] = []

    async def consume() -> None:
        async for t in desk.get_tickets([1001, 1002, 999_999, 1003, 1004], concurrency=1):
            got.append(t.number)

    consumer = asyncio.create_task(consume())
    try:  # a liveness bound: only a cancelled fetch lets the error out at once
        done, _ = await asyncio.wait({consumer}, timeout=5)
        assert consumer in done, "the fetch after the failure was not cancelled"
    finally:
        consumer.cancel()
    with pytest.raises(TicketNotFound):
        consumer.result()
    assert got == [1001, 1002]
    assert client_tasks() == []


async def test_get_tickets_checks_ids_before_io(desk: AsyncDesk, fake: FakeDesk) -> None:
    from headoni_async import InvalidArgumentType, InvalidId

    with pytest.raises(InvalidId):  # ids are read lazily: a bad one first means nothing is sent
        [t async for t in desk.get_tickets(["x", 1001])]
    with pytest.raises(InvalidArgumentType):
        [t async for t in desk.get_tickets("1001")]  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        [t async for t in desk.get_tickets([1001], concurrency=0)]
    assert fake.count() == 0


async def test_get_tickets_names_an_async_iterable_of_ids_as_such(desk: AsyncDesk, fake: FakeDesk) -> None:
    # An async generator of ids is a likely mistake (ids read from a queue or
    # another stream): the error says what it is and how to pass it, instead
    # of calling it "a single value". A stream yields tickets, not ids: its
    # hint is the one that works for it.
    from headoni_async import InvalidArgumentType

    async def ids() -> AsyncIterator[int]:
        yield 1001

    with pytest.raises(InvalidArgumentType, match=r"an async iterable .*\[i async for i in ids\]") as caught:
        [t async for t in desk.get_tickets(ids())]  # type: ignore[arg-type]
    assert "single value" not in str(caught.value)
    async with desk.tickets() as stream:
        with pytest.raises(InvalidArgumentType, match=r"\[t\.id async for t in stream\]"):
            [t async for t in desk.get_tickets(stream)]  # type: ignore[arg-type]
    assert fake.count() == 0


async def test_get_tickets_given_a_coroutine_says_to_await_it(desk: AsyncDesk, fake: FakeDesk) -> None:
    # ``get_tickets(load_ids())`` with the await forgotten: the error says so,
    # and the coroutine is closed, so no "never awaited" warning follows it.
    from headoni_async import InvalidArgumentType

    async def load_ids() -> list[int]:
        return [1001]

    pending = load_ids()
    with pytest.raises(InvalidArgumentType, match=r"a coroutine, .*await it first"):
        [t async for t in desk.get_tickets(pending)]  # type: ignore[arg-type]
    assert pending.cr_frame is None  # closed
    with pytest.raises(InvalidArgumentType, match=r"not a single value \(function\)"):
        [t async for t in desk.get_tickets(load_ids)]  # type: ignore[arg-type]
    assert fake.count() == 0


async def test_breaking_out_of_get_tickets(fake: FakeDesk) -> None:
    fake.inject(Fault.latency(10), route="get_ticket", on=range(2, 400))  # the rest would hang
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url) as desk:
        async for _ in desk.get_tickets(itertools.islice(itertools.count(1001), 200), concurrency=8):
            break
        gc.collect()
        await no_client_tasks_left(within=2)  # gone at once only if cancelled
        assert fake.count("get_ticket") < 40


# ---------------------------------------------------------------- the order check, against its plain definition


def _order_by_int(ids: list[str], cursor: str | None, nxt: str | None) -> bool:
    """The order check's definition: digits, strictly descending as numbers below the
    cursor, and a next cursor that moves down."""
    if not all(i.isascii() and i.isdigit() for i in ids):
        return False
    numbers = [int(i) for i in ids] if cursor is None else [int(cursor), *map(int, ids)]
    if any(a <= b for a, b in itertools.pairwise(numbers)):
        return False
    if nxt is not None and numbers:
        return int(nxt) <= numbers[-1] if ids else int(nxt) < numbers[-1]
    return True


digit_ids = st.from_regex(r"0{0,2}[0-9]{1,4}", fullmatch=True)


@settings(max_examples=300)
@given(
    st.lists(digit_ids, max_size=6).map(lambda ids: sorted(ids, key=int, reverse=True))
    | st.lists(digit_ids, max_size=6),
    st.none() | digit_ids,
    st.none() | digit_ids,
)
def test_order_check_is_the_numeric_order(ids: list[str], cursor: str | None, nxt: str | None) -> None:
    from headoni_async._models import TicketPage, decode_page
    from headoni_async._pager import _check_order

    summary = decode_page({"tickets": [{**SUMMARY, "id": "1"}], "nextCursor": None}).tickets[0]
    page = TicketPage(tuple(attrs.evolve(summary, id=i) for i in ids), nxt)
    try:
        _check_order(page, cursor)
    except ResponseDecodeError:
        accepted = False
    else:
        accepted = True
    assert accepted == _order_by_int(ids, cursor, nxt)


@pytest.mark.parametrize(
    ("ids", "cursor", "nxt", "ok"),
    [
        (["10", "9"], None, "9", True),  # across a power of ten
        (["9", "10"], None, None, False),
        (["010", "10"], None, None, False),  # the same number twice
        (["10", "09"], "011", "09", True),
        (["12", "11"], "12", None, False),  # the cursor's own ticket again
        (["12", "11"], "100", "12", False),  # a next cursor that walks back up
        ([], "100", "100", False),  # an empty page that does not move
        ([], "100", "99", True),
        (["1\u0661"], None, None, False),  # a non-ASCII digit
    ],
)
def test_order_check_cases(ids: list[str], cursor: str | None, nxt: str | None, ok: bool) -> None:
    from headoni_async._models import TicketPage, decode_page
    from headoni_async._pager import _check_order

    summary = decode_page({"tickets": [{**SUMMARY, "id": "1"}], "nextCursor": None}).tickets[0]
    page = TicketPage(tuple(attrs.evolve(summary, id=i) for i in ids), nxt)
    if ok:
        _check_order(page, cursor)
    else:
        with pytest.raises(ResponseDecodeError):
            _check_order(page, cursor)
