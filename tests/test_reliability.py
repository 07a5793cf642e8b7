"""The reliability and security matrix: each test proves one promise of
RELIABILITY.md against a real server on loopback (the fake desk, a small
aiohttp.web app, or a raw asyncio server for byte-level faults)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headoni_async import (
    APIError,
    AsyncDesk,
    HeadoniError,
    NetworkError,
    ProtocolError,
    ReadTimeout,
    RetryPolicy,
    Timeouts,
    TransportError,
)
from headoni_async.testing import FakeDesk, Fault

from .conftest import CANARY, FAST_RETRY
from .helpers import (
    TRANSFER_FAULTS,
    ScriptedServer,
    json_values,
    run_cli,
    transfer_fault,
    wait_until,
)

FIXTURE_OK = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# 1. -------------------------------------------------------------------------------------

header_values = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12
)


@FIXTURE_OK
@given(
    status=st.integers(min_value=400, max_value=499),
    headers=st.dictionaries(
        st.sampled_from(["Retry-After", "Connection", "X-Thing", "Cache-Control", "Location"]),
        header_values,
        max_size=3,
    ),
    route=st.sampled_from(["departments", "get_ticket", "create_ticket", "ticket_page"]),
)
async def test_promise_1_every_4xx_is_sent_exactly_once(
    scripted: ScriptedServer, status: int, headers: dict[str, str], route: str
) -> None:
    scripted.status, scripted.headers, scripted.body = status, headers, b'{"error": "whatever"}'
    scripted.seen.clear()
    policy = RetryPolicy(attempts=5, backoff_initial=0.001, retry_statuses={502, 503, 504})
    async with AsyncDesk("acme", "hd_x", base_url=scripted.base_url, retry=policy) as desk:
        call: dict[str, Callable[[], Awaitable[Any]]] = {
            "departments": desk.departments,
            "get_ticket": lambda: desk.get_ticket(1),
            "create_ticket": lambda: desk.create_ticket(email="a@b.co", subject="s", body="b"),
            "ticket_page": desk.ticket_page,
        }
        with pytest.raises(APIError) as info:
            await call[route]()
    assert info.value.status == status
    assert len(scripted.seen) == 1


# 3. -------------------------------------------------------------------------------------


async def test_promise_3_create_read_timeout_is_reported_not_repeated(fake: FakeDesk) -> None:
    fake.inject(Fault.latency(0.5), route="create_ticket")
    before = len(fake.store)
    async with AsyncDesk(
        "acme", fake.mint_token(), base_url=fake.base_url, retry=FAST_RETRY, timeouts=Timeouts(read=0.05)
    ) as desk:
        with pytest.raises(ReadTimeout, match="may or may not have been created"):
            await desk.create_ticket(email="a@b.co", subject="s", body="b")
        await asyncio.sleep(0.6)  # let the server finish the create it started
    assert fake.count("create_ticket") == 1
    assert len(fake.store) == before + 1


# 6. -------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(headoni_fake_desk: FakeDesk, monkeypatch: pytest.MonkeyPatch) -> FakeDesk:
    """The plugin's fake desk (on its own thread), named by the CLI's variables."""
    monkeypatch.setenv("HEADONI_DESK", "acme")
    monkeypatch.setenv("HEADONI_BASE_URL", headoni_fake_desk.base_url)
    monkeypatch.setenv("HEADONI_TOKEN", headoni_fake_desk.mint_token())
    return headoni_fake_desk


@pytest.mark.headoni_fake(tickets=1200, seed=11)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    page=st.integers(min_value=1, max_value=12),
    at_byte=st.integers(min_value=0, max_value=40_000),
    kind=st.sampled_from(TRANSFER_FAULTS),
)
def test_promise_6_export_resume_is_exactly_once(
    cli_env: FakeDesk, tmp_path_factory: pytest.TempPathFactory, page: int, at_byte: int, kind: str
) -> None:
    fake = cli_env
    fake.clear_faults()
    out = tmp_path_factory.mktemp("export") / "t.jsonl"
    fault = transfer_fault(kind, at_byte)
    start = fake.count("list_tickets")
    # The same page fails three times in a row: the default policy gives up, the export stops.
    fake.inject(fault, route="list_tickets", on=range(start + page, start + page + 3))
    assert run_cli(["export", "--out", str(out)]) == 1
    fake.clear_faults()
    assert run_cli(["export", "--out", str(out), "--resume"]) == 0
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert ids == fake.store.all_ids_desc()


# 7. -------------------------------------------------------------------------------------


@pytest.mark.headoni_fake(tickets=250, seed=7)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    delay=st.floats(min_value=0, max_value=0.03),
    how=st.sampled_from(["break", "cancel", "close"]),
    stop_after=st.integers(min_value=1, max_value=199),
    numbers=st.lists(st.integers(min_value=1001, max_value=1250), min_size=5, max_size=5, unique=True),
)
async def test_promise_7_stopping_mid_stream_releases_everything(
    headoni_fake_desk: FakeDesk, delay: float, how: str, stop_after: int, numbers: list[int]
) -> None:
    # The fake desk runs on its own thread, so every task of this loop is the client's or the test's.
    fake = headoni_fake_desk
    fake.clear_faults()
    fake.inject(Fault.drip(chunk=2000, interval=0.002), route="list_tickets")
    desk = AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url)
    before = asyncio.all_tasks()

    async def consume() -> None:
        seen = 0
        async for _ in desk.tickets(page_size=50):
            seen += 1
            await asyncio.sleep(0)
            if how == "break" and seen == stop_after:
                break

    try:
        task = asyncio.create_task(consume())
        await asyncio.sleep(delay)
        if how == "cancel":
            task.cancel()
        elif how == "close":
            await desk.close()
        with contextlib.suppress(asyncio.CancelledError, HeadoniError):
            await task
        await wait_until(lambda: not asyncio.all_tasks() - before, within=1, what="no task left behind")
        fake.clear_faults()
        if how != "close":
            # The pool is not poisoned: each answer belongs to its own request.
            for number in numbers:
                assert (await desk.get_ticket(number)).number == number
    finally:
        await desk.close()
    await wait_until(lambda: fake.open_connections == 0, within=1, what="every connection closed")


# 8. -------------------------------------------------------------------------------------

ALL_FAULTS = [
    Fault.reset(),
    Fault.reset_mid_body(),
    Fault.truncate(),
    Fault.drip(chunk=500, interval=0.001),
    Fault.html_error(502, retry_after="1"),
    Fault.error(429, "rate_limited", retry_after="2"),
    Fault.error(403, "desk_blocklisted"),
    Fault.odd_enums(),
    Fault.latency(0.3),
]


@pytest.mark.parametrize("fault", ALL_FAULTS, ids=lambda f: f.kind)
async def test_promise_8_the_token_never_shows_under_any_fault(
    fake: FakeDesk, fault: Fault, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.store.tokens[CANARY.removeprefix("hd_")] = fake.store.tokens[fake.mint_token().removeprefix("hd_")]
    fake.inject(fault)
    texts: list[str] = []
    async with AsyncDesk(
        "acme",
        CANARY,
        base_url=fake.base_url,
        retry=RetryPolicy(attempts=2, backoff_initial=0.001),
        timeouts=Timeouts(read=0.1),
    ) as desk:
        texts.append(repr(desk))
        calls: list[Callable[[], Awaitable[Any]]] = [
            desk.departments,
            lambda: desk.get_ticket(1001),
            lambda: desk.create_ticket(email="a@b.co", subject="s", body="b"),
            lambda: desk.ticket_page(page_size=5),
        ]
        for call in calls:
            try:
                texts.append(repr(await call()))
            except HeadoniError as exc:
                chain: BaseException | None = exc
                while chain is not None:
                    texts += [str(chain), repr(chain), repr(chain.args)]
                    chain = chain.__cause__ or chain.__context__
    texts += [r.getMessage() for r in caplog.records] + [repr(r.args) for r in caplog.records]
    texts += [repr(r) for r in fake.requests]
    secret = CANARY.removeprefix("hd_")
    assert [t for t in texts if secret in t] == []
    assert len(texts) >= 5


# 11. ------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def raw_server(reply: bytes) -> AsyncIterator[str]:
    """A raw TCP server that reads a request and answers ``reply`` bytes as they are."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(reply)
            await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/api/v1"
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (b"HTTP/1.1 200 OK\r\nX-Huge: " + b"a" * 70_000 + b"\r\nContent-Length: 2\r\n\r\n{}", ProtocolError),
        (
            b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(20_000)) + b"\r\n",
            ProtocolError,
        ),
        (b"NOT HTTP AT ALL\r\n\r\n", ProtocolError),
        (b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"departments"', NetworkError),
        (b"", NetworkError),
    ],
    ids=["long-header", "many-headers", "garbage", "short-body", "closed"],
)
async def test_promise_11_bad_http_is_a_typed_error(reply: bytes, expected: type[HeadoniError]) -> None:
    async with raw_server(reply) as url, AsyncDesk("acme", "hd_x", base_url=url, retry=FAST_RETRY) as desk:
        with pytest.raises(expected):
            await desk.departments()


# 12. ------------------------------------------------------------------------------------

bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.sampled_from(
        [b"[" * 5000, b'{"tickets": [], "nextCursor": 1e400}', b"9" * 5000, b'{"ticket": {"id": "1"}}']
    ),
)


@FIXTURE_OK
@given(
    status=st.sampled_from([200, 201, 204, 301, 400, 404, 429, 500, 502, 599]),
    body=bodies,
    route=st.sampled_from(
        ["departments", "ticket_types", "get_ticket", "ticket_page", "create_ticket", "stream"]
    ),
)
async def test_promise_12_any_bytes_give_only_documented_errors(
    scripted: ScriptedServer, status: int, body: bytes, route: str
) -> None:
    scripted.status, scripted.body, scripted.headers = status, body, {"Content-Type": "application/json"}
    async with AsyncDesk("acme", "hd_x", base_url=scripted.base_url, retry=FAST_RETRY) as desk:
        call: dict[str, Callable[[], Awaitable[Any]]] = {
            "departments": desk.departments,
            "ticket_types": desk.ticket_types,
            "get_ticket": lambda: desk.get_ticket(1),
            "ticket_page": desk.ticket_page,
            "create_ticket": lambda: desk.create_ticket(email="a@b.co", subject="s", body="b"),
            "stream": lambda: _drain(desk),
        }
        with contextlib.suppress(HeadoniError):
            await call[route]()


async def _drain(desk: AsyncDesk) -> None:
    count = 0
    async for _ in desk.tickets():
        count += 1
        if count > 1000:  # a server that answers the same page forever is refused, not looped on
            raise AssertionError("the stream did not stop")


# 13. ------------------------------------------------------------------------------------


async def test_promise_13_netrc_is_ignored(
    scripted: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    scripted.body = b'{"departments": []}'
    async with AsyncDesk("acme", "hd_x", base_url=scripted.base_url) as desk:
        await desk.departments()
    assert scripted.seen[0].headers["Authorization"] == "Bearer hd_x"


# 14. ------------------------------------------------------------------------------------


async def test_promise_14_two_hundred_coroutines_under_random_faults() -> None:
    rng = random.Random(14)
    async with FakeDesk("acme", tickets=300, seed=14) as fake:
        for n in range(1, 400):
            choice = rng.random()
            if choice < 0.08:
                fake.inject(Fault.reset_mid_body(), on=n)
            elif choice < 0.14:
                fake.inject(Fault.reset(), on=n)
            elif choice < 0.2:
                fake.inject(Fault.latency(0.02), on=n)
        policy = RetryPolicy(attempts=4, backoff_initial=0.001, deadline=20)
        desk = AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url, retry=policy, max_connections=16)
        created: list[str] = []
        failures: list[BaseException] = []

        async def worker(i: int) -> None:
            try:
                if i % 5 == 0:
                    subject = f"load test {i}"
                    ticket = await desk.create_ticket(email=f"u{i}@example.com", subject=subject, body="b")
                    assert ticket.subject == subject
                    created.append(subject)
                else:
                    number = 1001 + (i * 7) % 300
                    assert (await desk.get_ticket(number)).number == number
            except HeadoniError as exc:
                failures.append(exc)

        await asyncio.wait_for(asyncio.gather(*(worker(i) for i in range(200))), timeout=30)
        retries = desk.retries
        await desk.close()
        # The faults did fire, and reads rode through them.
        assert sum(1 for r in fake.requests if r.fault in ("reset", "reset_body")) >= 10 and retries >= 10
        # Every failure is typed, and only a create may fail (a read is retried through resets).
        assert all(isinstance(f, TransportError) and "may or may not" in str(f) for f in failures)
        subjects = [t.subject for t in fake.store.iter_tickets()]
        # No duplicate creates: each subject stored at most once, and every reported success is there.
        load = [s for s in subjects if s.startswith("load test")]
        assert len(load) == len(set(load))
        assert set(created) <= set(load)
        assert len(created) + len(failures) == 40
        await wait_until(lambda: fake.open_connections == 0, within=1, what="every connection closed")


# 2 (attempt counting). -------------------------------------------------------------------


async def test_attempts_are_exactly_what_the_server_sees_on_a_stale_keep_alive() -> None:
    """aiohttp silently re-sends an idempotent request once when a kept-alive
    connection turns out dead; the desk turns that off, so ``attempts`` is the
    exact number of sends."""
    received: list[int] = []
    body = b'{"departments":[]}'
    ok = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")
            received.append(len(received) + 1)
            if len(received) == 1:
                writer.write(ok)  # kept alive ...
                await writer.drain()
                await reader.readuntil(b"\r\n\r\n")  # ... then the next request on it dies unanswered
                received.append(len(received) + 1)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/api/v1"
    try:
        async with AsyncDesk("acme", "hd_x", base_url=url, retry=RetryPolicy(attempts=1)) as desk:
            assert await desk.departments() == []
            with pytest.raises(NetworkError):
                await desk.departments()
    finally:
        server.close()
        await server.wait_closed()
    assert received == [1, 2]  # aiohttp's hidden re-send would have made it [1, 2, 3]
