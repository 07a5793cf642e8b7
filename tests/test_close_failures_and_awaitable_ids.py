"""What an adversarial review found next to the close-despite-cancellation
wait (``await_release``) and the checks of ``get_tickets()``'s ids: a close
that fails while its caller is cancelled, a Future passed as ids, a coroutine
another task runs, and a close failing after an export finished. Each test
failed on the code before its fix."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from headoni_async import AsyncDesk, InvalidArgumentType, _export
from headoni_async import _mirror as db
from headoni_async._export import export_tickets
from headoni_async._filelock import await_release
from headoni_async.testing import FakeDesk


def _failing_close(real: Callable[[Any], None], entered: threading.Event) -> Callable[[Any], None]:
    def close(self: Any) -> None:  # on the worker thread
        entered.set()
        time.sleep(0.2)  # the caller is cancelled meanwhile
        real(self)  # the lock is released ...
        raise OSError(5, "Input/output error")  # ... and then the close fails

    return close


async def _cancel_once(task: asyncio.Future[Any], entered: threading.Event) -> None:
    await asyncio.sleep(0)  # the task has started and awaits the close
    while not entered.is_set():  # noqa: ASYNC110 - a thread's event
        await asyncio.sleep(0.005)
    task.cancel()


# ---------------------------------------------------------------- a close failing while its caller is cancelled


async def test_await_release_a_cancelled_caller_gets_cancelled_error_even_when_the_close_fails() -> None:
    # Docstring: "Raises what the close raised, or CancelledError (the close's own
    # outcome is then retrieved, and dropped)". When the close fails *after* the
    # cancel arrived, the second `await asyncio.shield(future)` raises the close's
    # OSError straight out of the loop: the cancellation is swallowed.
    loop = asyncio.get_running_loop()
    entered = threading.Event()

    def close() -> None:
        entered.set()
        time.sleep(0.1)
        raise OSError(5, "Input/output error")

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        task = asyncio.ensure_future(await_release(loop.run_in_executor(pool, close)))
        await _cancel_once(task, entered)
        with pytest.raises(asyncio.CancelledError):
            await task
    assert task.cancelled()


async def test_export_cancelled_while_its_close_fails_ends_cancelled_and_releases_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered = threading.Event()
    monkeypatch.setattr(_export._FileOutput, "close", _failing_close(_export._FileOutput.close, entered))
    out = tmp_path / "t.jsonl"
    async with (
        FakeDesk("acme", tickets=40, seed=3) as fake,
        AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url) as desk,
    ):
        task = asyncio.ensure_future(export_tickets(desk, out, page_size=10))
        await _cancel_once(task, entered)
        with pytest.raises(asyncio.CancelledError):  # not the close's OSError
            await task
        monkeypatch.undo()
        await export_tickets(desk, out, resume=True)  # the lock was released: not LockBusy
        assert [json.loads(x)["id"] for x in out.read_bytes().splitlines()] == fake.store.all_ids_desc()


async def test_mirror_close_cancelled_while_it_fails_ends_cancelled_and_releases_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered = threading.Event()
    path = tmp_path / "t.db"
    mirror = await db.Mirror.open(path, "acme", "http://127.0.0.1:1/api/v1")
    monkeypatch.setattr(db.Mirror, "_close", _failing_close(db.Mirror._close, entered))
    task = asyncio.ensure_future(mirror.close())
    await _cancel_once(task, entered)
    with pytest.raises(asyncio.CancelledError):  # not the close's OSError
        await task
    monkeypatch.undo()
    async with await db.Mirror.open(path, "acme", "http://127.0.0.1:1/api/v1"):  # not SyncLocked
        pass


# ---------------------------------------------------------------- a Future or Task as ids


@pytest.mark.parametrize("kind", ["done future", "done task"])
async def test_a_future_of_ids_is_refused_not_read_as_no_ids(kind: str) -> None:
    # asyncio.Future defines __iter__ (its __await__), so it passes the Iterable
    # check: a finished one iterates as empty and get_tickets silently yields
    # nothing; a pending one fails with "not Future" on its first "id".
    async with FakeDesk("acme", tickets=5, seed=3) as fake:
        ids = fake.store.all_ids_desc()
        async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url) as desk:
            if kind == "done task":

                async def list_ids() -> list[str]:
                    return ids

                holder: asyncio.Future[list[str]] = asyncio.ensure_future(list_ids())
                await holder
            else:
                holder = asyncio.get_running_loop().create_future()
                holder.set_result(ids)
            with pytest.raises(InvalidArgumentType, match="await"):
                [t async for t in desk.get_tickets(holder)]  # type: ignore[arg-type]
            assert fake.count() == 0


# ---------------------------------------------------------------- a coroutine another task runs


async def test_refusing_a_coroutine_does_not_kill_the_task_running_it() -> None:
    # check_ticket_keys closes any Coroutine it is given. One already started by
    # a task is closed under that task: its pending sleep's timer is cancelled
    # and the task never finishes (hangs forever).
    async def list_ids() -> list[str]:
        await asyncio.sleep(0.01)
        return ["1"]

    async with (
        FakeDesk("acme", tickets=5, seed=3) as fake,
        AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url) as desk,
    ):
        coro = list_ids()
        task = asyncio.ensure_future(coro)
        await asyncio.sleep(0)  # the task started it
        with pytest.raises(InvalidArgumentType):
            [t async for t in desk.get_tickets(coro)]  # type: ignore[arg-type]
        async with asyncio.timeout(2):
            assert await task == ["1"]
        assert fake.count() == 0


# ---------------------------------------------------------------- a close failing after the export finished


def test_a_close_failing_after_the_export_finished_does_not_claim_the_target_is_unchanged(
    env: FakeDesk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # finish() put the new file in place (fsynced, renamed, checkpoint gone);
    # then the close fails: the error is reported, but never as "OUT is
    # unchanged: run again with --resume", which it no longer is.
    from headoni_async.cli import main

    real = _export._FileOutput.close

    def close(self: _export._FileOutput) -> None:
        real(self)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(_export._FileOutput, "close", close)
    out = tmp_path / "t.jsonl"
    out.write_text("OLD\n")
    with contextlib.suppress(SystemExit):
        main(["export", "--out", str(out)])
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == env.store.all_ids_desc()
    err = capsys.readouterr().err
    assert "is unchanged" not in err and "--resume" not in err, err
