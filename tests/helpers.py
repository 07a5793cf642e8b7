"""Helpers shared by the tests (fixtures live in conftest.py): waiting for a
condition, the tasks the client left running, the CLI's exit code, the
catch-all scripted server, hypothesis strategies for JSON and faults, and
reading a sync's database back."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import strategies as st

import headoni_async
from headoni_async import AsyncDesk
from headoni_async import _mirror as mirror
from headoni_async.cli import main
from headoni_async.testing import Fault

_CLIENT_CODE = str(Path(headoni_async.__file__).parent)
_FAKE_CODE = str(Path(headoni_async.__file__).parent / "testing")


async def wait_until(predicate: Callable[[], bool], *, within: float = 5.0, what: str = "") -> None:
    """Poll ``predicate`` on the loop until it holds; fail the test after
    ``within`` seconds (a liveness bound, never a measurement)."""
    try:
        async with asyncio.timeout(within):
            while not predicate():  # noqa: ASYNC110 - what is polled has no event to wait on
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"never happened within {within} s: {what or predicate}") from None


def wait_until_sync(predicate: Callable[[], bool], *, within: float = 5.0, what: str = "") -> None:
    """``wait_until`` for a test without a running loop (threads, subprocesses)."""
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, f"never happened within {within} s: {what or predicate}"
        time.sleep(0.01)


def client_tasks() -> list[asyncio.Task[Any]]:
    """The tasks of this loop running the client's code (prefetches, bulk
    fetches, watches), not the fake desk's: what must be gone after a close,
    a break or a cancel."""
    found = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        filename = code.co_filename if code is not None else ""
        if filename.startswith(_CLIENT_CODE) and not filename.startswith(_FAKE_CODE):
            found.append(task)
    return found


async def no_client_tasks_left(within: float = 2.0) -> None:
    """Wait until no task runs the client's code (the loop's async-generator
    finalizers and cancellations take a few turns)."""
    await wait_until(lambda: not client_tasks(), within=within, what="the client's tasks to finish")


def run_cli(argv: list[str]) -> int:
    """``headoni argv``'s exit code, whether ``main`` returns it or exits with it."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ScriptedServer:
    """A catch-all ``aiohttp.web`` app on loopback whose every answer the test
    sets: ``handler``, or else ``status``, ``body`` and ``headers``. Every
    request it received is in ``seen``."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler
        self.status = 200
        self.body = b"{}"
        self.headers: dict[str, str] = {}
        self.seen: list[web.Request] = []
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(request)
        if self.handler is not None:
            return await self.handler(request)
        return web.Response(status=self.status, body=self.body, headers=self.headers)

    async def start(self) -> ScriptedServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/api/v1"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


Serve = Callable[[Handler], Awaitable[ScriptedServer]]
"""The ``serve`` fixture: start a catch-all server answering with a handler."""


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=30,
)
"""Any value a JSON document can decode to."""

TRANSFER_FAULTS = ("reset_body", "truncate", "reset")


def transfer_fault(kind: str, at_byte: int) -> Fault:
    """A fault that breaks a response in transfer: a reset after ``at_byte``
    bytes of body, a body cut short there, or a reset before any answer."""
    if kind == "reset_body":
        return Fault.reset_mid_body(at_byte)
    if kind == "truncate":
        return Fault.truncate(at_byte)
    assert kind == "reset", kind
    return Fault.reset()


# ---------------------------------------------------------------- the sync's database


def rows(db: Path) -> dict[str, dict[str, Any]]:
    """The tickets table, by id."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return {r["id"]: dict(r) for r in conn.execute("SELECT * FROM tickets")}
    finally:
        conn.close()


def query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return [tuple(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


async def listed(desk: AsyncDesk) -> list[dict[str, Any]]:
    """Every summary record the desk lists now, newest first."""
    return [r async for page in desk.tickets().pages() for r in page.records]


async def assert_mirror_is_the_desk(db: Path, desk: AsyncDesk, *, whole: bool = False) -> None:
    """Every listed ticket once, every field equal; nothing else listed."""
    got = rows(db)
    expected = await listed(desk)
    alive = {i: r for i, r in got.items() if r["deleted_at"] is None}
    assert sorted(alive) == sorted(r["id"] for r in expected)
    for record in expected:
        row = got[record["id"]]
        assert json.loads(row["summary"]) == record
        assert (row["number"], row["updated_at"], row["created_at"]) == (
            record["number"], record["updatedAt"], record["createdAt"],
        )
        assert row["status_type"] == record["status"]["internalType"]
        assert row["requester_email"] == record["requester"]["email"]
    if whole:
        ids = [r["id"] for r in expected]
        async for found in desk.get_ticket_records(ids, concurrency=8):
            assert json.loads(got[found.ticket.id]["ticket"]) == found.record


AUDIT = """
CREATE TABLE audit (id TEXT, what TEXT);
CREATE TRIGGER audit_insert AFTER INSERT ON tickets BEGIN INSERT INTO audit VALUES (new.id, 'insert'); END;
CREATE TRIGGER audit_summary AFTER UPDATE OF summary ON tickets BEGIN INSERT INTO audit VALUES (new.id, 'summary'); END;
CREATE TRIGGER audit_ticket AFTER UPDATE OF ticket ON tickets BEGIN INSERT INTO audit VALUES (new.id, 'ticket'); END;
"""
"""Triggers that count every write to a ticket row, inside the writing transaction."""


def audited(db: Path, base_url: str) -> None:
    """Create the sync's database with the write-counting triggers added."""
    conn = mirror.connect(db)
    mirror.prepare(conn, db, "acme", base_url)
    conn.executescript(AUDIT)
    conn.close()


def token_leaks(exc: BaseException, token: str, *, skip: str = "") -> list[str]:
    """Every place a tool showing exceptions and their frame locals (``pytest -l``,
    an error tracker) would print ``token`` (with or without its ``hd_``): the
    text of ``exc`` and of every exception reachable from it (cause, context,
    group members), and the repr of every local of their traceback frames,
    except frames of files whose path starts with ``skip`` (a test's own
    locals hold the token)."""
    secret = token.removeprefix("hd_")
    found = []
    stack: list[BaseException | None] = [exc]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        stack += [current.__cause__, current.__context__]
        if isinstance(current, BaseExceptionGroup):
            stack += list(current.exceptions)
        for text in (str(current), repr(current), *getattr(current, "__notes__", ())):
            if secret in text:
                found.append(f"{type(current).__name__} text")
        tb = current.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            if not skip or not frame.f_code.co_filename.startswith(skip):
                for name, value in frame.f_locals.items():
                    try:
                        shown = repr(value)
                    except Exception:  # noqa: BLE001, S112 - a repr that fails shows nothing
                        continue
                    if secret in shown:
                        found.append(f"{frame.f_code.co_name}() local {name!r} ({type(current).__name__})")
            tb = tb.tb_next
    return found


def on_a_terminal(argv: list[str], env: Mapping[str, str] | None = None) -> tuple[int, str]:
    """Run ``argv`` with its stderr on a pseudo-terminal (a person's terminal: the
    progress display is on), stdout discarded; its exit code and what the
    terminal showed."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and command, fixed arguments
        argv,
        stderr=slave,
        stdout=subprocess.DEVNULL,
        env={**(os.environ if env is None else env), "COLUMNS": "200", "TERM": "xterm"},
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the other end closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode(errors="replace")


async def cancelled_while_closing(
    monkeypatch: pytest.MonkeyPatch, owner: type[Any], close: str, run: Callable[[], Awaitable[Any]]
) -> None:
    """Run ``run()`` with ``owner.<close>`` (a close done on a worker thread)
    slowed by 0.2 s, cancel it once that close has begun, check that it ends
    cancelled, and undo the slowing (every patch of ``monkeypatch``)."""
    entered = threading.Event()
    real = getattr(owner, close)

    def slow_close(self: Any) -> None:  # on the worker thread
        entered.set()
        threading.Event().wait(0.2)
        real(self)

    monkeypatch.setattr(owner, close, slow_close)
    task = asyncio.ensure_future(run())
    while not entered.is_set():  # noqa: ASYNC110 - a thread's event
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    monkeypatch.undo()
