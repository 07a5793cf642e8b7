"""The desk over a fake transport: the retry loop, the response step and the
close, with raw responses scripted in memory and no socket at all."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from headoni_async import (
    AsyncDesk,
    ConnectError,
    DeskClosed,
    NetworkError,
    RetryPolicy,
    ServerError,
    TicketNotFound,
)
from headoni_async._transport import RawResponse, Request

from .conftest import CANARY
from .documents import CREATED, TICKET, as_bytes

Step = RawResponse | BaseException | Callable[[], Awaitable[RawResponse]]


class ScriptedTransport:
    """Answers each send with the next scripted step, and records what was sent."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.sent: list[Request] = []
        self.closed = False

    def open(self) -> None:
        pass

    async def send(
        self, request: Request, *, remaining: float | None = None, attempt: int = 1
    ) -> RawResponse:
        self.sent.append(request)
        step = self.steps.pop(0)
        if isinstance(step, BaseException):
            raise step
        return await step() if callable(step) else step

    async def close(self) -> None:
        self.closed = True


def _desk(transport: ScriptedTransport, **kwargs: object) -> AsyncDesk:
    retry = RetryPolicy(attempts=3, backoff_initial=0.001, backoff_max=0.001, retry_statuses={503})
    return AsyncDesk("acme", CANARY, retry=retry, _transport=transport, **kwargs)  # type: ignore[arg-type]


def ok(body: bytes, status: int = 200) -> RawResponse:
    return RawResponse(status, {}, body)


async def test_get_ticket_formats_its_path_and_decodes() -> None:
    transport = ScriptedTransport(ok(as_bytes(TICKET)))
    async with _desk(transport) as desk:
        ticket = await desk.get_ticket(1247)
    assert ticket.number == 1247
    [request] = transport.sent
    assert (request.route.name, request.url_path, request.body) == ("get_ticket", "/tickets/1247", None)
    assert transport.closed


async def test_an_opted_in_503_is_sent_again_then_succeeds() -> None:
    transport = ScriptedTransport(RawResponse(503, {"Retry-After": "0"}, b""), ok(as_bytes(TICKET)))
    async with _desk(transport) as desk:
        assert (await desk.get_ticket("1247")).number == 1247
        assert desk.retries == 1
    assert len(transport.sent) == 2
    assert transport.sent[0] is transport.sent[1]  # the same frozen request, sent twice


async def test_a_404_is_never_sent_again() -> None:
    transport = ScriptedTransport(ok(b'{"error": "ticket_not_found"}', 404))
    async with _desk(transport) as desk:
        with pytest.raises(TicketNotFound) as info:
            await desk.get_ticket(1)
    assert len(transport.sent) == 1
    assert info.value.path == "/tickets/{id_or_number}"  # errors name the route, not the URL


async def test_a_create_that_may_have_arrived_is_not_repeated() -> None:
    transport = ScriptedTransport(NetworkError("reset", may_have_reached_server=True))
    async with _desk(transport) as desk:
        with pytest.raises(NetworkError, match="may or may not have been created"):
            await desk.create_ticket(email="a@example.com", subject="s", body="b")
    [request] = transport.sent
    assert request.body == b'{"email": "a@example.com", "subject": "s", "body": "b"}'


async def test_a_create_whose_connection_never_opened_is_retried() -> None:
    transport = ScriptedTransport(
        ConnectError("refused", may_have_reached_server=False), ok(as_bytes(CREATED), 201)
    )
    async with _desk(transport) as desk:
        assert (await desk.create_ticket(email="a@example.com", subject="s", body="b")).number == 1247
    assert len(transport.sent) == 2


async def test_a_5xx_left_after_retries_is_raised_as_is() -> None:
    transport = ScriptedTransport(*[RawResponse(503, {}, b"")] * 3)
    async with _desk(transport) as desk:
        with pytest.raises(ServerError):
            await desk.departments()
    assert len(transport.sent) == 3


async def test_closing_during_a_send_says_desk_closed_and_stops_retrying() -> None:
    desk: AsyncDesk

    async def closing() -> RawResponse:
        await desk.close()  # closed while this attempt is in flight; its send then fails
        raise NetworkError("the connection was closed")

    transport = ScriptedTransport(closing, ok(b"{}"))
    desk = _desk(transport)
    with pytest.raises(DeskClosed):
        await desk.departments()
    assert len(transport.sent) == 1  # a reset is retried on a read, but not after close()
    assert transport.closed
