"""AsyncDesk against a real HTTP server on loopback: the fake desk, and small
aiohttp.web apps for what the fake does not model. Request counts are taken at
the server."""

from __future__ import annotations

import gzip
import logging
import socket

import aiohttp
import pytest
from aiohttp import web

from headoni_async import (
    AsyncDesk,
    ConnectError,
    DeskClosed,
    Forbidden,
    InsufficientScope,
    InvalidArgument,
    InvalidArgumentType,
    InvalidBody,
    InvalidId,
    InvalidStatus,
    NetworkError,
    Priority,
    ReadTimeout,
    ResponseDecodeError,
    ResponseTooLarge,
    RetryPolicy,
    ServerError,
    StatusType,
    TicketNotFound,
    Timeouts,
    TokenDeskMismatch,
    Unauthenticated,
    UnexpectedRedirect,
)
from headoni_async.testing import FakeDesk, Fault

from .conftest import CANARY, FAST_RETRY
from .helpers import Serve

# ---------------------------------------------------------------- endpoints


async def test_get_ticket_by_number_and_by_id(desk: AsyncDesk, fake: FakeDesk) -> None:
    first = await desk.get_ticket(1001)
    again = await desk.get_ticket(first.id)
    assert first == again and first.number == 1001
    assert fake.count("get_ticket") == 2


async def test_public_messages_only_oldest_first(desk: AsyncDesk, fake: FakeDesk) -> None:
    for number in range(1001, 1031):
        ticket = await desk.get_ticket(number)
        bodies = [m.body_md for m in ticket.messages]
        assert not any("INTERNAL NOTE" in b for b in bodies)
        assert [m.created_at for m in ticket.messages] == sorted(m.created_at for m in ticket.messages)
        stored = fake.store.find(str(number))
        assert len(ticket.messages) == sum(not m.internal for m in fake.store.messages_of(stored))


async def test_create_then_read_back(desk: AsyncDesk, fake: FakeDesk) -> None:
    created = await desk.create_ticket(email="New.User@Example.COM", subject="Printer on fire", body="Help")
    assert created.requester.email == "new.user@example.com"
    assert created.priority is Priority.NORMAL
    ticket = await desk.get_ticket(created.number)
    assert ticket.id == created.id and ticket.requester.name == "new.user"
    assert [m.body_md for m in ticket.messages] == ["Help"]
    assert ticket.department is not None and ticket.department.name == "Support"
    assert ticket.ticket_type is not None and ticket.ticket_type.name == "Question"
    newest = (await desk.ticket_page(page_size=1)).tickets[0]
    assert newest.id == created.id


async def test_create_with_routing_ids(desk: AsyncDesk) -> None:
    engineering = next(d for d in await desk.departments() if d.name == "Engineering")
    incident = next(t for t in await desk.ticket_types() if t.name == "Incident")
    created = await desk.create_ticket(
        email="a@b.co",
        subject="s",
        body="b",
        name="Ann",
        priority="urgent",
        department_id=engineering.id,
        ticket_type_id=incident.id,
    )
    ticket = await desk.get_ticket(created.id)
    assert ticket.department is not None and ticket.department.id == engineering.id
    assert ticket.ticket_type is not None and ticket.ticket_type.id == incident.id
    assert ticket.priority is Priority.URGENT and ticket.requester.name == "Ann"


async def test_departments_and_ticket_types(desk: AsyncDesk) -> None:
    deps = await desk.departments()
    assert [d.name for d in deps] == ["Billing", "Engineering", "Support"]  # by name, private included
    assert [d.is_default for d in deps] == [False, False, True]
    types = await desk.ticket_types()
    assert [t.name for t in types] == ["Question", "Incident", "Internal task"]  # sort order, archived gone


async def test_invalid_body_carries_issues(desk: AsyncDesk, fake: FakeDesk) -> None:
    with pytest.raises(InvalidBody) as info:
        await desk.create_ticket(email="not-an-email", subject="", body="b")
    paths = sorted(issue["path"][0] for issue in info.value.issues)
    assert paths == ["email", "subject"]
    assert fake.count("create_ticket") == 1


async def test_unknown_routing_ids(desk: AsyncDesk) -> None:
    from headoni_async import DepartmentNotFound, TicketTypeNotFound

    with pytest.raises(DepartmentNotFound):
        await desk.create_ticket(email="a@b.co", subject="s", body="b", department_id="1490200000000000004")
    with pytest.raises(TicketTypeNotFound):
        await desk.create_ticket(email="a@b.co", subject="s", body="b", ticket_type_id="1490100000000000004")


async def test_ticket_not_found_sent_once(desk: AsyncDesk, fake: FakeDesk) -> None:
    with pytest.raises(TicketNotFound) as info:
        await desk.get_ticket(999_999)
    assert info.value.status == 404 and fake.count("get_ticket") == 1


@pytest.mark.parametrize("bad", ["12a", "", "-5", " 1"])
async def test_bad_ids_refused_before_io(desk: AsyncDesk, fake: FakeDesk, bad: str) -> None:
    with pytest.raises(InvalidId):
        await desk.get_ticket(bad)
    assert fake.count() == 0


async def test_bool_id_is_a_type_error(desk: AsyncDesk, fake: FakeDesk) -> None:
    with pytest.raises(InvalidArgumentType):
        await desk.get_ticket(True)
    assert fake.count() == 0


# ---------------------------------------------------------------- scopes and auth


async def test_declared_scopes_checked_before_any_io(fake: FakeDesk) -> None:
    token = fake.mint_token({"tickets:read"})
    async with AsyncDesk("acme", token, scopes={"tickets:read"}, base_url=fake.base_url) as desk:
        with pytest.raises(InsufficientScope) as info:
            await desk.create_ticket(email="a@b.co", subject="s", body="b")
        assert info.value.required_scope == "tickets:create" and "no request was sent" in str(info.value)
    async with AsyncDesk("acme", token, scopes={"tickets:create"}, base_url=fake.base_url) as desk:
        for call in (desk.departments, desk.ticket_types, lambda: desk.get_ticket(1001)):
            with pytest.raises(InsufficientScope):
                await call()
        with pytest.raises(InsufficientScope):
            desk.tickets()
        with pytest.raises(InsufficientScope):
            [t async for t in desk.get_tickets([1001])]
    assert fake.count() == 0


async def test_server_side_scope_is_the_same_class(fake: FakeDesk) -> None:
    token = fake.mint_token({"tickets:read"})
    async with AsyncDesk("acme", token, base_url=fake.base_url) as desk:
        with pytest.raises(InsufficientScope) as info:
            await desk.create_ticket(email="a@b.co", subject="s", body="b")
    assert info.value.required_scope == "tickets:create"
    assert fake.count("create_ticket") == 1


async def test_prefix_is_optional_and_revocation_is_immediate(fake: FakeDesk) -> None:
    token = fake.mint_token()
    bare = token.removeprefix("hd_")
    async with AsyncDesk("acme", bare, base_url=fake.base_url) as desk:
        assert (await desk.get_ticket(1001)).number == 1001
        fake.revoke(token)
        with pytest.raises(Unauthenticated):
            await desk.get_ticket(1001)
    assert fake.count("get_ticket") == 2


async def test_foreign_desk_token(fake: FakeDesk) -> None:
    token = fake.mint_token(desk="globex")
    async with AsyncDesk("acme", token, base_url=fake.base_url) as desk:
        with pytest.raises(TokenDeskMismatch) as info:
            await desk.departments()
    assert isinstance(info.value, Forbidden)


# ---------------------------------------------------------------- retries, counted at the server


async def test_reset_mid_body_on_a_read_is_retried_once(desk: AsyncDesk, fake: FakeDesk) -> None:
    fake.inject(Fault.reset_mid_body(), route="get_ticket", on=1)
    ticket = await desk.get_ticket(1001)
    assert ticket.number == 1001 and fake.count("get_ticket") == 2 and desk.retries == 1


@pytest.mark.parametrize(
    "fault", [Fault.reset(), Fault.reset_mid_body(), Fault.truncate(), Fault.truncate(1)]
)
async def test_create_is_never_repeated_after_it_may_have_landed(
    desk: AsyncDesk, fake: FakeDesk, fault: Fault
) -> None:
    fake.inject(fault, route="create_ticket")
    before = len(fake.store)
    with pytest.raises(NetworkError) as info:
        await desk.create_ticket(email="a@b.co", subject="s", body="b")
    assert info.value.may_have_reached_server
    assert "may or may not have been created" in str(info.value)
    assert fake.count("create_ticket") == 1
    assert len(fake.store) == before + 1  # it did land: repeating would have made a duplicate


async def test_create_5xx_is_reported_not_repeated(fake: FakeDesk) -> None:
    fake.inject(Fault.html_error(503), route="create_ticket")
    policy = RetryPolicy(attempts=4, backoff_initial=0.001, retry_statuses={503})
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url, retry=policy) as desk:
        with pytest.raises(ServerError, match="may or may not"):
            await desk.create_ticket(email="a@b.co", subject="s", body="b")
    assert fake.count("create_ticket") == 1


async def test_connect_failure_is_retried_even_for_a_create() -> None:
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api/v1"
    async with AsyncDesk("acme", "hd_x", base_url=url, retry=FAST_RETRY) as desk:
        with pytest.raises(ConnectError) as info:
            await desk.create_ticket(email="a@b.co", subject="s", body="b")
        assert not info.value.may_have_reached_server
        assert desk.retries == FAST_RETRY.attempts - 1


async def test_read_timeout_is_a_builtin_timeout_and_retried_on_reads(fake: FakeDesk) -> None:
    fake.inject(Fault.latency(1.0), route="departments")
    timeouts = Timeouts(read=0.05, total=5)
    async with AsyncDesk(
        "acme", fake.mint_token(), base_url=fake.base_url, retry=FAST_RETRY, timeouts=timeouts
    ) as desk:
        with pytest.raises(ReadTimeout) as info:
            await desk.departments()
    assert isinstance(info.value, TimeoutError)
    assert fake.count("departments") == FAST_RETRY.attempts


async def test_slow_dripping_body_within_timeouts_is_fine(desk: AsyncDesk, fake: FakeDesk) -> None:
    fake.inject(Fault.drip(chunk=200, interval=0.002), route="list_tickets", on=1)
    page = await desk.ticket_page(page_size=10)
    assert len(page.tickets) == 10


async def test_html_502_is_typed_and_not_retried_by_default(desk: AsyncDesk, fake: FakeDesk) -> None:
    fake.inject(Fault.html_error(502, retry_after="3"), route="departments")
    with pytest.raises(ServerError) as info:
        await desk.departments()
    assert info.value.status == 502 and info.value.code is None and info.value.retry_after == 3.0
    assert fake.count("departments") == 1


async def test_5xx_on_reads_retried_when_opted_in(fake: FakeDesk) -> None:
    fake.inject(Fault.html_error(503), route="departments", times=2)
    policy = RetryPolicy(attempts=3, backoff_initial=0.001, retry_statuses={502, 503, 504})
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url, retry=policy) as desk:
        assert len(await desk.departments()) == 3
    assert fake.count("departments") == 3


async def test_undocumented_code_keeps_its_code(desk: AsyncDesk, fake: FakeDesk) -> None:
    fake.inject(Fault.error(403, "desk_blocklisted"), route="create_ticket")
    with pytest.raises(Forbidden) as info:
        await desk.create_ticket(email="a@b.co", subject="s", body="b")
    assert type(info.value) is Forbidden and info.value.code == "desk_blocklisted"


async def test_undocumented_enum_values_do_not_break_reads(desk: AsyncDesk, fake: FakeDesk) -> None:
    fake.inject(Fault.odd_enums(), route="list_tickets", on=1)
    fake.inject(Fault.odd_enums(), route="get_ticket", on=1)
    page = await desk.ticket_page(page_size=5)
    assert {t.priority for t in page.tickets} == {"critical"}
    assert {t.status.internal_type for t in page.tickets} == {"on_hold"}
    ticket = await desk.get_ticket(1001)
    assert {m.author_kind for m in ticket.messages} == {"bot"}


# ---------------------------------------------------------------- small servers for the rest


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirects_are_errors_and_the_token_stays_home(serve: Serve, status: int) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"departments": []})

    other = await serve(answer)
    other_url = other.base_url

    async def redirecting(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": other_url + "/departments"})

    server = await serve(redirecting)
    async with AsyncDesk("acme", CANARY, base_url=server.base_url) as desk:
        with pytest.raises(UnexpectedRedirect) as info:
            await desk.departments()
    assert info.value.status == status and info.value.location == other_url + "/departments"
    assert len(server.seen) == 1 and other.seen == []


async def test_body_past_the_cap(serve: Serve) -> None:
    async def big(request: web.Request) -> web.Response:
        return web.Response(
            body=b'{"departments": [' + b" " * 50_000 + b"]}", content_type="application/json"
        )

    server = await serve(big)
    async with AsyncDesk("acme", "hd_x", base_url=server.base_url, max_response_bytes=10_000) as desk:
        with pytest.raises(ResponseTooLarge):
            await desk.departments()


async def test_decompression_bomb_stopped_by_the_cap(serve: Serve) -> None:
    bomb = gzip.compress(b'{"departments": [' + b" " * 20_000_000 + b"]}")
    assert len(bomb) < 100_000

    async def compressed(request: web.Request) -> web.Response:
        return web.Response(
            body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    server = await serve(compressed)
    async with AsyncDesk("acme", "hd_x", base_url=server.base_url, max_response_bytes=1_000_000) as desk:
        with pytest.raises(ResponseTooLarge):
            await desk.departments()


@pytest.mark.parametrize("body", [b"<html>ok</html>", b"", b'{"departments": [', b'{"departments": 5}'])
async def test_2xx_that_is_not_the_documented_json(serve: Serve, body: bytes) -> None:
    async def odd(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    server = await serve(odd)
    async with AsyncDesk("acme", "hd_x", base_url=server.base_url, retry=FAST_RETRY) as desk:
        with pytest.raises(ResponseDecodeError):
            await desk.departments()
    assert len(server.seen) == 1


async def test_environment_proxies_ignored_unless_opted_in(
    fake: FakeDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{dead}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{dead}")
    token = fake.mint_token()
    async with AsyncDesk("acme", token, base_url=fake.base_url) as desk:
        assert len(await desk.departments()) == 3
    # Opted in, an https desk goes through the (dead, loopback) proxy: nothing leaves this machine.
    async with AsyncDesk("acme", token, trust_env=True, retry=FAST_RETRY) as desk:
        with pytest.raises(ConnectError):
            await desk.departments()
    # A plain-http (loopback) desk never does: the token would reach the proxy in clear text.
    async with AsyncDesk("acme", token, base_url=fake.base_url, trust_env=True, retry=FAST_RETRY) as desk:
        assert len(await desk.departments()) == 3
    assert fake.count("departments") == 2


# ---------------------------------------------------------------- lifecycle and secrets


async def test_injected_session_is_used_and_left_open(fake: FakeDesk) -> None:
    async with aiohttp.ClientSession() as session:
        async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url, session=session) as desk:
            await desk.departments()
        assert not session.closed
        async with session.get(fake.base_url.replace("/api/v1", "/llms.txt")) as resp:
            assert resp.status == 200


async def test_closed_desk_refuses_calls(fake: FakeDesk) -> None:
    desk = AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url)
    await desk.departments()
    await desk.close()
    await desk.close()  # idempotent
    assert desk.closed
    with pytest.raises(DeskClosed):
        await desk.departments()
    with pytest.raises(DeskClosed):
        desk.tickets()


async def test_constructor_checks_everything_before_io() -> None:
    with pytest.raises(InvalidArgument, match="custom portal domain"):
        AsyncDesk("support.acme.com", "hd_x")
    with pytest.raises(InvalidArgument) as info:
        AsyncDesk("acme", f"{CANARY}\r\nX-Injected: yes")
    assert CANARY not in str(info.value)
    with pytest.raises(InvalidArgumentType):
        AsyncDesk("acme", "hd_x", retry=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        AsyncDesk("acme", "hd_x", max_connections=0)
    with pytest.raises(InvalidArgument):
        AsyncDesk("acme", "hd_x", base_url="http://example.com/api/v1")


async def test_bad_stream_arguments_before_io(desk: AsyncDesk, fake: FakeDesk) -> None:
    with pytest.raises(InvalidArgument):
        desk.tickets(page_size=0)
    with pytest.raises(InvalidStatus):
        desk.tickets(status="Opened")
    with pytest.raises(InvalidArgument):
        desk.tickets(cursor="abc")
    with pytest.raises(InvalidArgumentType):
        desk.tickets(requester_email=5)  # type: ignore[arg-type]
    assert fake.count() == 0


async def test_the_token_never_shows(fake: FakeDesk, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake.store.tokens[CANARY.removeprefix("hd_")] = fake.store.tokens[fake.mint_token().removeprefix("hd_")]
    fake.inject(Fault.reset_mid_body(), route="get_ticket", on=1)
    fake.inject(Fault.html_error(502), route="departments", on=1)
    seen: list[str] = []
    async with AsyncDesk("acme", CANARY, base_url=fake.base_url, retry=FAST_RETRY) as desk:
        seen.append(repr(desk))
        await desk.get_ticket(1001)
        for call in (desk.departments, lambda: desk.get_ticket(5)):
            try:
                await call()
            except Exception as exc:  # noqa: BLE001 - every error is inspected below
                chain: BaseException | None = exc
                while chain is not None:
                    seen += [str(chain), repr(chain)]
                    chain = chain.__cause__ or chain.__context__
    seen += [record.getMessage() for record in caplog.records]
    seen += [repr(r) for r in fake.requests]
    assert len(seen) > 6
    assert not [text for text in seen if CANARY in text or CANARY.removeprefix("hd_") in text]
    assert all(r.authorized for r in fake.requests)


async def test_debug_log_one_record_per_attempt(
    desk: AsyncDesk, fake: FakeDesk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="headoni_async")
    fake.inject(Fault.html_error(502), route="departments", on=1)
    with pytest.raises(ServerError):
        await desk.departments()
    await desk.departments()
    messages = [r.getMessage() for r in caplog.records if r.name == "headoni_async"]
    assert len(messages) == 2
    assert messages[0].startswith("GET /departments -> 502") and messages[1].startswith(
        "GET /departments -> 200"
    )


async def test_plugin_fixtures(headoni_desk: AsyncDesk, headoni_fake_desk: FakeDesk) -> None:
    ids = [t.id async for t in headoni_desk.tickets(status=StatusType.OPEN)]
    expected = [str(t.id) for t in headoni_fake_desk.store.iter_tickets() if t.status.internal_type == "open"]
    assert ids == expected and ids
