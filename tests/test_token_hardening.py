"""The token, where a promise about repr and messages is not enough: in the
local variables of every traceback frame an error tracker would capture, in
text the server echoes back, and on its way to an environment proxy."""

from __future__ import annotations

import json
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from headoni_async import AsyncDesk, HeadoniError, RetryPolicy, Timeouts
from headoni_async.testing import FakeDesk, Fault
from tests.helpers import ScriptedServer, Serve, run_cli, token_leaks

TESTS = str(Path(__file__).parent)
FEW = RetryPolicy(attempts=2, backoff_initial=0.001, backoff_max=0.002, deadline=10)


def _leaks(exc: BaseException, secret: str) -> list[str]:
    return token_leaks(exc, secret, skip=TESTS)


async def _failure(call: Awaitable[Any]) -> HeadoniError:
    try:
        await call
    except HeadoniError as exc:
        return exc
    raise AssertionError("the call did not fail")


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# 1. ------------------------------------------------------------------ not in frame locals

FAULTS: list[tuple[str, Callable[[FakeDesk], None]]] = [
    ("reset", lambda f: f.inject(Fault.reset())),
    ("reset mid body", lambda f: f.inject(Fault.reset_mid_body(10))),
    ("truncated", lambda f: f.inject(Fault.truncate(10))),
    ("html 502", lambda f: f.inject(Fault.html_error(502))),
    ("json 503", lambda f: f.inject(Fault.error(503, "down", retry_after="1"))),
    ("429", lambda f: f.inject(Fault.error(429, "slow_down"))),
    ("read timeout", lambda f: f.inject(Fault.latency(1))),
    ("not found", lambda f: None),
]


@pytest.mark.parametrize(("name", "arrange"), FAULTS, ids=[n for n, _ in FAULTS])
@pytest.mark.parametrize("call", ["get_ticket", "create_ticket", "stream", "bulk"])
async def test_the_token_is_in_no_traceback_frame_local(
    fake: FakeDesk, name: str, arrange: Callable[[FakeDesk], None], call: str
) -> None:
    token = fake.mint_token()
    arrange(fake)
    timeouts = Timeouts(read=0.2, total=5)
    async with AsyncDesk("acme", token, base_url=fake.base_url, retry=FEW, timeouts=timeouts) as desk:
        if call == "get_ticket":
            exc = await _failure(desk.get_ticket(999_999 if name == "not found" else 1001))
        elif call == "create_ticket":
            subject = "" if name == "not found" else "s"
            exc = await _failure(desk.create_ticket(email="a@example.com", subject=subject, body="b"))
        elif call == "stream":
            status = "closed" if name == "not found" else None  # a 400 from the server below
            if name == "not found":
                fake.inject(Fault.error(400, "invalid_query"), route="list_tickets")
            exc = await _failure(_drain(desk.tickets(page_size=10, status=status)))
        else:
            exc = await _failure(_drain(desk.get_tickets([1001, 1002, 999_999])))
    for secret in (token, token.removeprefix("hd_")):
        assert _leaks(exc, secret) == [], (name, call)


@pytest.mark.parametrize("job", ["export", "export --full", "sync"])
async def test_the_token_is_in_no_frame_local_of_the_data_jobs(
    fake: FakeDesk, tmp_path: Path, job: str
) -> None:
    from headoni_async._export import export_tickets
    from headoni_async._sync import sync_desk

    token = fake.mint_token()
    fake.inject(Fault.reset(), on=range(2, 1000))
    async with AsyncDesk("acme", token, base_url=fake.base_url, retry=FEW) as desk:
        if job == "sync":
            exc = await _failure(sync_desk(desk, tmp_path / "mirror.db"))
        else:
            exc = await _failure(export_tickets(desk, tmp_path / "t.jsonl", full=job.endswith("--full")))
    assert _leaks(exc, token.removeprefix("hd_")) == []


async def test_the_token_is_in_no_frame_local_when_nothing_listens() -> None:
    token = "hd_" + "S3cretT0ken" * 3
    base_url = f"http://127.0.0.1:{_dead_port()}/api/v1"
    async with AsyncDesk("acme", token, base_url=base_url, retry=FEW) as desk:
        exc = await _failure(desk.departments())
    assert _leaks(exc, token.removeprefix("hd_")) == []


async def test_the_token_is_in_no_frame_local_of_a_redirect_or_bad_body(serve: Serve) -> None:
    token = "hd_" + "S3cretT0ken" * 3

    async def answer(request: web.Request) -> web.Response:
        if request.path.endswith("/departments"):
            return web.Response(status=302, headers={"Location": "http://127.0.0.1:9/x"})
        return web.Response(text="not json", content_type="application/json")

    server = await serve(answer)
    async with AsyncDesk("acme", token, base_url=server.base_url, retry=FEW) as desk:
        for call in (desk.departments(), desk.get_ticket(1)):
            exc = await _failure(call)
            assert _leaks(exc, token.removeprefix("hd_")) == []


async def _drain(stream: Any) -> list[Any]:
    return [t async for t in stream]


# 2. ------------------------------------------------------------------ not echoed back

TOKEN = "hd_EchoedBackSecret0123456789"
SECRET = TOKEN.removeprefix("hd_")


def _echo(status: int, kind: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def answer(request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        if kind == "json":
            body = {
                "error": f"bad_token_{SECRET}",
                "detail": f"you sent {header!r}; the token {TOKEN} is not valid, nor is {SECRET}",
                "issues": [{"path": ["Authorization"], "message": f"got {header}", "nested": [TOKEN]}],
            }
            return web.Response(status=status, text=json.dumps(body), content_type="application/json")
        if kind == "html":
            return web.Response(
                status=status, text=f"<html><body>{header}</body></html>", content_type="text/html"
            )
        if kind == "redirect":
            return web.Response(status=302, headers={"Location": f"http://127.0.0.1:9/?t={SECRET}"})
        return web.Response(
            text=json.dumps({"tickets": [], "nextCursor": f"cursor-{SECRET}"}),
            content_type="application/json",
        )

    return answer


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "json"),
        (401, "json"),
        (403, "json"),
        (404, "json"),
        (429, "json"),
        (500, "json"),
        (503, "html"),
        (302, "redirect"),
        (200, "page"),
    ],
)
async def test_text_the_server_echoes_is_redacted_before_it_enters_an_error(
    serve: Serve, status: int, kind: str
) -> None:
    server = await serve(_echo(status, kind))
    async with AsyncDesk("acme", TOKEN, base_url=server.base_url, retry=FEW) as desk:
        exc = await _failure(desk.ticket_page() if kind == "page" else desk.get_ticket(1247))
    shown = [
        str(exc),
        repr(exc),
        *(repr(getattr(exc, a, None)) for a in ("code", "detail", "issues", "location")),
    ]
    assert not any(SECRET in text for text in shown), shown
    if kind == "json":
        assert "[redacted]" in str(exc)
    # The body and headers that echoed it are in no frame an error tracker captures.
    assert _leaks(exc, SECRET) == []


@pytest.mark.parametrize(("field", "cut"), [("detail", 500), ("error", 100)])
async def test_an_echoed_token_cut_by_the_one_line_message_leaves_no_part_of_it(
    serve: Serve, field: str, cut: int
) -> None:
    # The message shortens a long detail (or code); the cut must not fall inside the token.
    async def answer(request: web.Request) -> web.Response:
        body = {"error": "bad", "detail": "d", field: "x" * (cut - 10) + TOKEN + " and more text"}
        return web.Response(status=400, text=json.dumps(body), content_type="application/json")

    server = await serve(answer)
    async with AsyncDesk("acme", TOKEN, base_url=server.base_url, retry=FEW) as desk:
        exc = await _failure(desk.get_ticket(1247))
    assert "[redacted]" in (exc.detail if field == "detail" else exc.code)  # type: ignore[attr-defined]
    assert "hd_Echo" not in str(exc), str(exc)[-80:]
    assert SECRET[:5] not in str(exc)


@pytest.mark.parametrize(("status", "kind"), [(400, "json"), (502, "html"), (200, "page")])
def test_the_cli_never_prints_an_echoed_token(
    status: int, kind: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def echo(request: web.Request) -> web.Response:
        return await _echo(status, kind)(request)

    server = ScriptedServer(echo)
    with _serving(server):
        monkeypatch.setenv("HEADONI_TOKEN", TOKEN)
        argv = ["--desk", "acme", "--base-url", server.base_url]
        run_cli([*argv, "export"] if kind == "page" else [*argv, "ticket", "get", "1247"])
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert "error" in err


# 3. ------------------------------------------------------------------ not in clear text to a proxy


async def test_a_plain_http_loopback_url_never_goes_through_an_env_proxy(
    fake: FakeDesk, serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def proxy_answer(request: web.Request) -> web.Response:
        return web.Response(status=502)

    proxy = await serve(proxy_answer)
    proxy_url = proxy.base_url.removesuffix("/api/v1")
    for variable in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(variable, proxy_url)
    for variable in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(variable, raising=False)
    async with AsyncDesk(
        "acme", fake.mint_token(), base_url=fake.base_url, trust_env=True, retry=FEW
    ) as desk:
        assert len(await desk.departments()) == 3
    assert proxy.seen == []
    assert fake.count("departments") == 1


async def test_an_https_url_still_uses_the_env_proxy_when_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    # The proxy is a dead loopback port: the request fails there, and nothing leaves this machine.
    dead = f"http://127.0.0.1:{_dead_port()}"
    for variable in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(variable, dead)
    for variable in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(variable, raising=False)
    async with AsyncDesk("acme", "hd_x", trust_env=True, retry=RetryPolicy(attempts=1)) as desk:
        exc = await _failure(desk.departments())
    assert "proxy" in str(exc).lower() or "127.0.0.1" in str(exc)


class _serving:
    """Run a ScriptedServer on its own thread and loop (the CLI runs its own loop)."""

    def __init__(self, server: ScriptedServer) -> None:
        self.server = server

    def __enter__(self) -> ScriptedServer:
        import asyncio
        import threading

        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.server.start())
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(10)
        return self.server

    def __exit__(self, *exc_info: object) -> None:
        import asyncio

        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


# An argument the constructor refuses: the token was already in its frame.
BAD_ARGUMENTS: list[tuple[str, dict[str, Any]]] = [
    ("portal domain as desk", {"desk": "support.acme.com"}),
    ("plain http off loopback", {"base_url": "http://example.com/api/v1"}),
    ("scopes", {"scopes": {"tickets:write"}}),
    ("timeouts", {"timeouts": "1"}),
    ("max_connections", {"max_connections": 0}),
    ("rate_limit", {"rate_limit": "10/s"}),
    ("cache_ttl", {"cache_ttl": -1}),
    ("token with a newline", {"token": "hd_" + "S3cretT0ken" * 3 + "\n"}),
    ("token with a space", {"token": "hd_S3cret T0ken" + "x" * 20}),
]


@pytest.mark.parametrize(("name", "bad"), BAD_ARGUMENTS, ids=[n for n, _ in BAD_ARGUMENTS])
def test_the_token_is_in_no_frame_local_of_a_refused_constructor(name: str, bad: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {"desk": "acme", "token": "hd_" + "S3cretT0ken" * 3, **bad}
    secret = arguments["token"].strip().split(" ")[-1]
    with pytest.raises(HeadoniError) as refused:
        AsyncDesk(**arguments)
    assert _leaks(refused.value, secret) == [], name


def test_the_token_is_in_no_frame_local_of_a_refused_from_env() -> None:
    token = "hd_" + "S3cretT0ken" * 3
    environ = {"HEADONI_DESK": "support.acme.com", "HEADONI_TOKEN": token}
    with pytest.raises(HeadoniError) as refused:
        AsyncDesk.from_env(environ)
    assert _leaks(refused.value, token) == []


def test_a_desk_cannot_be_pickled_or_deep_copied() -> None:
    # A pickled desk held the token in clear (a task queue or a cache writes
    # such bytes to disk) and came back as a second desk with copies of a
    # pool, a lock and a rate limit it does not share: refused, like a socket.
    import copy
    import pickle

    desk = AsyncDesk("acme", TOKEN)
    for attempt in (lambda: pickle.dumps(desk), lambda: copy.deepcopy(desk), lambda: pickle.dumps(desk.with_options())):
        with pytest.raises(TypeError, match="cannot be pickled or copied") as info:
            attempt()
        assert SECRET not in str(info.value)
    view = desk.with_options(headers={"X-Request-Id": "1"})  # a view is still the desk's shallow copy
    assert view.closed is desk.closed is False and "with_options view" in repr(view)
