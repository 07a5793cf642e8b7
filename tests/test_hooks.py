"""Hooks: the event value, the dispatch that never lets a hook change a
call's outcome, the API's spelling of route templates, and the events a real
desk sends for calls, retries, failures, cancellation, prefetches and bulk
fetches."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from headoni_async import AsyncDesk, DeskClosed, Hooks, InvalidArgumentType, RequestEvent, TicketNotFound
from headoni_async._hooks import HookSet, api_template
from headoni_async.testing import FakeDesk, Fault

from .conftest import FAST_RETRY

EVENT = RequestEvent(
    call=1, desk="acme", server_address="acme.headoni.app", server_port=443,
    method="GET", route="/tickets/{idOrNumber}", attempt=1,
)  # fmt: skip


def test_the_event_is_frozen_and_holds_only_what_is_documented() -> None:
    with pytest.raises(AttributeError):
        EVENT.status = 200  # type: ignore[misc]
    assert set(RequestEvent._fields) == {
        "call", "desk", "server_address", "server_port", "method", "route",
        "attempt", "status", "error", "elapsed", "wait",
    }  # fmt: skip


def test_hooks_run_in_order_and_a_failing_one_is_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def broken(event: RequestEvent) -> None:
        raise RuntimeError("a bug in the user's hook")

    hooks = HookSet([Hooks(on_request=lambda e: seen.append("first")), Hooks(on_request=broken), Hooks(on_request=lambda e: seen.append("third"))])
    with caplog.at_level(logging.WARNING, logger="headoni_async"):
        hooks.emit("on_request", EVENT)
    assert seen == ["first", "third"]
    assert "on_request hook raised RuntimeError" in caplog.text
    assert hooks.active


def test_no_hooks_means_inactive() -> None:
    assert not HookSet(None).active
    assert not HookSet(Hooks()).active
    assert HookSet(Hooks(on_call_end=print)).active


@pytest.mark.parametrize("bad", ["hooks", 3, [Hooks(), "x"], [print]])
def test_hooks_must_be_hooks_values(bad: object) -> None:
    with pytest.raises(InvalidArgumentType):
        HookSet(bad)  # type: ignore[arg-type]


def test_a_callback_must_be_callable() -> None:
    with pytest.raises(InvalidArgumentType, match="on_retry"):
        Hooks(on_retry="log")  # type: ignore[arg-type]


def test_an_async_callback_is_refused_and_one_returning_an_awaitable_is_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Hooks are called, never awaited: an `async def` hook would never run
    # and leave a "coroutine was never awaited" warning on every request.
    async def pushes_metrics(event: RequestEvent) -> None:
        raise AssertionError("never runs")

    with pytest.raises(InvalidArgumentType, match=r"on_response.*async"):
        Hooks(on_response=pushes_metrics)

    class Sneaky:  # an object whose __call__ is async passes the first check
        async def __call__(self, event: RequestEvent) -> None:
            raise AssertionError("never runs")

    with caplog.at_level(logging.WARNING, logger="headoni_async"):
        HookSet(Hooks(on_request=Sneaky())).emit("on_request", EVENT)  # no RuntimeWarning (an error here)
    assert "on_request hook returned an awaitable" in caplog.text


@pytest.mark.parametrize(
    ("template", "api"),
    [
        ("/tickets", "/tickets"),
        ("/tickets/{id_or_number}", "/tickets/{idOrNumber}"),
        ("/tickets/{idOrNumber}", "/tickets/{idOrNumber}"),
        ("/ticket-types", "/ticket-types"),
        ("/a/{x}/b/{long_name_here}", "/a/{x}/b/{longNameHere}"),
    ],
)
def test_api_template(template: str, api: str) -> None:
    assert api_template(template) == api


# ----------------------------------------------------------------------------- through a real desk


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, RequestEvent]] = []

    def hooks(self) -> Hooks:
        return Hooks(
            on_request=lambda e: self.events.append(("request", e)),
            on_response=lambda e: self.events.append(("response", e)),
            on_retry=lambda e: self.events.append(("retry", e)),
            on_call_end=lambda e: self.events.append(("end", e)),
        )

    def kinds(self) -> list[tuple[str, int, int | None, str | None]]:
        return [(kind, e.attempt, e.status, e.error) for kind, e in self.events]


@pytest.fixture
async def recorded(fake: FakeDesk) -> AsyncIterator[tuple[AsyncDesk, Recorder]]:
    recorder = Recorder()
    async with AsyncDesk(
        "acme", fake.mint_token(), base_url=fake.base_url, retry=FAST_RETRY, hooks=recorder.hooks()
    ) as desk:
        yield desk, recorder


async def test_one_call_is_request_response_end(recorded: tuple[AsyncDesk, Recorder], fake: FakeDesk) -> None:
    desk, recorder = recorded
    number = next(fake.store.iter_tickets()).number
    await desk.get_ticket(number)
    assert recorder.kinds() == [("request", 1, None, None), ("response", 1, 200, None), ("end", 1, 200, None)]
    events = [e for _, e in recorder.events]
    assert len({e.call for e in events}) == 1
    assert all(e.route == "/tickets/{idOrNumber}" and e.method == "GET" and e.desk == "acme" for e in events)
    assert all(e.server_address == "127.0.0.1" for e in events)
    assert events[-1].elapsed >= events[0].elapsed >= 0
    # Never the concrete number in what an event says (its text fields: the
    # numbers, port and elapsed seconds, may hold the same digits by chance).
    assert not any(str(number) in field for e in events for field in e if isinstance(field, str))


async def test_a_retried_call_tells_each_attempt(recorded: tuple[AsyncDesk, Recorder], fake: FakeDesk) -> None:
    desk, recorder = recorded
    fake.inject(Fault.reset(), route="departments", on=1)
    await desk.departments()
    assert recorder.kinds() == [
        ("request", 1, None, None),
        ("response", 1, None, "NetworkError"),
        ("retry", 1, None, "NetworkError"),
        ("request", 2, None, None),
        ("response", 2, 200, None),
        ("end", 2, 200, None),
    ]
    retry = recorder.events[2][1]
    assert retry.wait is not None and retry.wait >= 0


async def test_failures_and_cancellation_end_the_call(recorded: tuple[AsyncDesk, Recorder], fake: FakeDesk) -> None:
    desk, recorder = recorded
    with pytest.raises(TicketNotFound):
        await desk.get_ticket(999999)
    assert recorder.kinds()[-1] == ("end", 1, 404, "TicketNotFound")
    fake.inject(Fault.latency(0.3), route="ticket_types", on=1)
    task = asyncio.ensure_future(desk.ticket_types())
    async with asyncio.timeout(5):
        while fake.count("ticket_types") < 1:  # noqa: ASYNC110 - the fake counts requests; it has no event for it
            await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert recorder.kinds()[-1] == ("end", 1, None, "CancelledError")


async def test_prefetches_and_bulk_fetches_are_seen_and_never_the_token(
    recorded: tuple[AsyncDesk, Recorder], fake: FakeDesk
) -> None:
    desk, recorder = recorded
    [t async for t in desk.tickets(page_size=100)]
    numbers = [t.number for t in fake.store.iter_tickets()][:5]
    [t async for t in desk.get_tickets(numbers)]
    ends = [e for kind, e in recorder.events if kind == "end"]
    assert [e.route for e in ends].count("/tickets") == 3
    assert [e.route for e in ends].count("/tickets/{idOrNumber}") == 5
    assert len({e.call for e in ends}) == 8
    token_free = "".join(repr(e) for _, e in recorder.events)
    assert "hd_" not in token_free and "Bearer" not in token_free and "cursor" not in token_free


async def test_a_failing_hook_never_changes_the_outcome(fake: FakeDesk, caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: RequestEvent) -> None:
        raise ValueError("bug")

    hooks = Hooks(on_request=broken, on_response=broken, on_retry=broken, on_call_end=broken)
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url, retry=FAST_RETRY, hooks=hooks) as desk:
        fake.inject(Fault.reset(), route="departments", on=1)
        assert await desk.departments()
    assert caplog.text.count("hook raised ValueError") == 6


async def test_a_call_on_a_desk_closed_mid_retry_ends_with_its_true_send_count(
    recorded: tuple[AsyncDesk, Recorder], fake: FakeDesk
) -> None:
    desk, recorder = recorded
    numbers = [t.number for t in fake.store.iter_tickets()][:1]
    fake.inject(Fault.latency(0.3), route="get_ticket", on=1)
    task = asyncio.ensure_future(desk.get_ticket(numbers[0]))
    async with asyncio.timeout(5):
        while fake.count("get_ticket") < 1:  # noqa: ASYNC110 - the fake counts requests; it has no event for it
            await asyncio.sleep(0.005)
    await desk.close()
    with pytest.raises(DeskClosed):
        await task
    kind, end = recorder.events[-1]
    assert kind == "end" and end.error == "DeskClosed" and end.attempt == 1
    assert [k for k, _ in recorder.events].count("request") == 1


async def test_a_hook_raising_a_base_exception_is_not_swallowed(fake: FakeDesk) -> None:
    # Exceptions are logged and skipped; a BaseException (KeyboardInterrupt,
    # SystemExit, a framework's own) means "stop", as it does anywhere else.
    class Stop(BaseException):
        pass

    stops = [True]

    def stop_once(event: RequestEvent) -> None:
        if stops:
            stops.pop()
            raise Stop

    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url, hooks=Hooks(on_request=stop_once)) as desk:
        with pytest.raises(Stop):
            await desk.get_ticket(1001)
        assert fake.count("get_ticket") == 0  # on_request comes before the send
        assert (await desk.get_ticket(1001)).number == 1001  # and the desk goes on
