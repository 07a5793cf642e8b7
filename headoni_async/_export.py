"""Export a desk's tickets to JSON Lines without ever destroying, mixing or
truncating data.

Every line is a ticket object exactly as the server sent it (a summary, or
with ``full`` the whole ticket with its messages). An export to ``out`` works
with four files beside it (beside the file a symlink points to):

- ``out.partial``: the lines written so far. ``out`` itself is untouched until
  the run completes; then the partial file atomically replaces it. A run that
  fails anywhere leaves the previous ``out`` byte for byte as it was.
- ``out.checkpoint``: after the first page, then at most once a second, and
  when a run fails or is interrupted, the partial file is synced, then this
  small JSON file is replaced atomically (a sync per page would cost more than
  the download: two fsyncs of ~6 ms per 100 tickets). It names the desk, base URL,
  filters, mode and format version, the byte length of the partial file, the
  ticket count, the last ticket written and the stream cursor. ``resume``
  cuts the partial file back to that length (dropping a page half-written
  when the process died) and goes on from the cursor: no ticket is lost or
  written twice. A checkpoint that does not validate, or that describes
  another desk, URL, filter or mode, is refused before anything is touched.
- ``out.lock``: an exclusive OS lock held for the whole run, released by the
  OS if the process dies: a second run on the same target fails at once.

All file work runs on one worker thread, in order, so the event loop never
blocks and a cancelled page cannot race the close that follows it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import math
import os
import stat
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Final, TypeVar

import attrs

from . import _protocol as proto
from ._checkpoint import Checkpoint, ExportFiles, ExportRefused, damaged, describe, parse_checkpoint
from ._desk import AsyncDesk
from ._errors import InvalidArgument
from ._filelock import LockBusy, await_release, exclusive_lock
from ._json import json_dumpb, json_loads
from ._models import StatusType

__all__ = ["ExportProgress", "ExportRefused", "ExportResult", "LockBusy", "export_tickets"]

# Files are never opened through a symlink planted beside the target.
_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_CREATE: Final = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW
_R = TypeVar("_R")


@attrs.define
class ExportProgress:
    """Counters an export updates as it goes (read by a progress display).

    ``tickets`` counts the lines written. ``resumable`` turns true once a
    checkpoint describes this run's output: from then on a failure can be
    continued with ``resume``, and after a failure ``saved`` is the number of
    tickets its checkpoint holds."""

    tickets: int = 0
    pages: int = 0
    resumed_from: int = 0
    resumable: bool = False
    vanished: int = 0
    saved: int = 0


@attrs.frozen
class ExportResult:
    """What an export did. ``tickets`` counts this run's tickets only;
    ``vanished`` the tickets deleted on the desk between listing and fetching
    them whole (``full`` only), which are not written."""

    tickets: int
    pages: int
    seconds: float
    retries: int
    total_in_file: int
    cursor: str | None
    vanished: int = 0


# ---------------------------------------------------------------- the files (run on the worker thread)


class _FileOutput:
    """The partial file, its checkpoint and the lock, for one run."""

    def __init__(self, out: Path, identity: dict[str, Any]) -> None:
        self.shown = out
        self.files = ExportFiles.beside(out)
        self.identity = identity
        self._stack = contextlib.ExitStack()
        self._sink: IO[bytes] | None = None
        self.state = Checkpoint(identity, None, None, 0, 0)  # what the checkpoint on disk says
        self.written = self.state  # what the partial file holds (synced or not)
        self.finished = False  # the partial file is the target now: nothing to save or resume

    def open(self, resume: bool, restart: bool) -> bool:
        """Take the lock and open the partial file, fresh or cut back to its
        checkpoint. Returns whether an unfinished export is being resumed."""
        files = self.files
        if not files.target.parent.is_dir():
            raise ExportRefused(f"cannot export to {self.shown}: its folder does not exist")
        if files.target.is_dir():
            raise ExportRefused(f"cannot export to {self.shown}: it is a directory")
        if files.target.exists() and not files.target.is_file():
            raise ExportRefused(
                f"cannot export to {self.shown}: it is not a regular file (use --out - and redirect)"
            )
        self._stack.enter_context(exclusive_lock(files.lock, str(self.shown)))
        unfinished = files.checkpoint.exists() or files.checkpoint.is_symlink()
        if unfinished and not (resume or restart) and not self._holds_nothing():
            raise ExportRefused(
                f"an unfinished export to {self.shown} is in the way ({files.checkpoint}): "
                "run with --resume to continue it, or --restart to start over"
            )
        if unfinished and resume:
            self._reopen()
            return True
        for leftover in (files.checkpoint, _tmp(files.checkpoint), files.partial):
            leftover.unlink(missing_ok=True)
        self._create()
        return False

    def _holds_nothing(self) -> bool:
        # An unfinished export that saved no ticket is not worth a refusal.
        try:
            return parse_checkpoint(self.files.checkpoint.read_bytes(), self.files.checkpoint).count == 0
        except (OSError, ExportRefused):
            return False

    def discard_if_empty(self) -> bool:
        """After a failure: remove the partial file and checkpoint if they hold
        no ticket (nothing to resume). Returns whether they were removed."""
        if self.state.count or self.written.count or self._sink is None or self.finished:
            return False
        for leftover in (self.files.checkpoint, self.files.partial):
            leftover.unlink(missing_ok=True)
        return True

    def _create(self) -> None:
        files = self.files
        try:  # never more readable than the file it will replace (its owner may always write it)
            mode = stat.S_IMODE(files.target.stat().st_mode) | stat.S_IRUSR | stat.S_IWUSR
        except FileNotFoundError:
            mode = 0o666
        fd = os.open(files.partial, _CREATE, mode)  # the umask still applies
        self._sink = self._stack.enter_context(os.fdopen(fd, "wb"))
        self._save(self.state)

    def _reopen(self) -> None:
        files = self.files
        try:
            raw = files.checkpoint.read_bytes()
        except OSError as exc:
            raise damaged(files.checkpoint, f"unreadable: {exc.strerror or exc}") from None
        saved = parse_checkpoint(raw, files.checkpoint)
        if saved.identity != self.identity:
            raise ExportRefused(
                f"the unfinished export to {self.shown} is of {describe(saved.identity)}; this run asks "
                f"for {describe(self.identity)}: --resume needs the same desk, base URL, filters and "
                "mode, or run with --restart to start over"
            )
        try:
            sink = self._stack.enter_context(os.fdopen(os.open(files.partial, os.O_RDWR | _NOFOLLOW), "r+b"))
        except FileNotFoundError:
            raise ExportRefused(
                f"the unfinished export's lines ({files.partial}) are gone; nothing was changed: "
                "run with --restart to start over"
            ) from None
        size = os.fstat(sink.fileno()).st_size
        if size < saved.offset:
            raise ExportRefused(
                f"{files.partial} is shorter than its checkpoint says ({size} < {saved.offset} bytes): "
                "it was changed since; run with --restart to start over"
            )
        if saved.offset and _last_id(sink, saved.offset) != saved.last_id:
            raise ExportRefused(
                f"{files.partial} does not end, at byte {saved.offset}, with ticket {saved.last_id} "
                "as its checkpoint says: it was changed since; run with --restart to start over"
            )
        sink.truncate(saved.offset)  # drop a page half-written when the last run died
        sink.seek(saved.offset)
        self._sink = sink
        self.state = self.written = saved

    def commit(
        self, chunk: bytes, cursor: str | None, last_id: str | None, added: int, durable: bool
    ) -> None:
        """Write one page's lines; with ``durable``, sync them, then save the
        checkpoint that counts them (every page written so far)."""
        assert self._sink is not None
        self._sink.write(chunk)
        written = self.written
        self.written = attrs.evolve(
            written,
            cursor=cursor,
            last_id=last_id if added else written.last_id,
            offset=written.offset + len(chunk),
            count=written.count + added,
        )
        if durable:
            self.save_progress()

    def save_progress(self) -> None:
        """Sync the pages written since the last checkpoint, then checkpoint them."""
        if self.written == self.state or self._sink is None or self.finished:
            return
        self._sink.flush()
        os.fsync(self._sink.fileno())
        self._save(self.written)

    def _save(self, state: Checkpoint) -> None:
        path = self.files.checkpoint
        tmp = _tmp(path)
        tmp.unlink(missing_ok=True)  # a file planted there (a symlink) is never written through
        # Only this user: it may name a requester's email (a filter).
        with os.fdopen(os.open(tmp, _CREATE, 0o600), "wb") as fh:
            fh.write(json.dumps(state.to_json()).encode())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        self.state = state

    def finish(self) -> None:
        """Put the finished file in the target's place, atomically.

        The checkpoint goes first: a crash after that leaves the old target
        and a stray partial file, which the next run overwrites."""
        assert self._sink is not None
        files = self.files
        with contextlib.suppress(FileNotFoundError):  # the target's own mode, exactly
            os.chmod(files.partial, stat.S_IMODE(files.target.stat().st_mode))
        self._sink.flush()
        os.fsync(self._sink.fileno())
        files.checkpoint.unlink()
        try:
            os.replace(files.partial, files.target)
        except BaseException:
            self._save(self.written)  # not replaced after all: still resumable
            raise
        self.finished = True
        _sync_dir(files.target.parent)

    def close(self) -> None:
        """Close the partial file and release the lock. Idempotent."""
        self._stack.close()


class _StreamOutput:
    """A stream (stdout): no lock, no checkpoint, nothing to resume."""

    def __init__(self, sink: IO[bytes]) -> None:
        self._sink = sink
        self.state = Checkpoint({}, None, None, 0, 0)

    def commit(
        self, chunk: bytes, cursor: str | None, last_id: str | None, added: int, durable: bool
    ) -> None:
        self._sink.write(chunk)
        self._sink.flush()  # a reader sees each page at once
        self.state = attrs.evolve(self.state, cursor=cursor, count=self.state.count + added)

    def save_progress(self) -> None:
        pass

    def finish(self) -> None:
        pass

    def close(self) -> None:
        pass


def _last_id(sink: IO[bytes], end: int) -> str | None:
    """The ``id`` of the line that ends at byte ``end`` (``None`` if it has none)."""
    block = 1 << 16
    tail = b""
    start = end
    while start > 0:
        step = min(block, start)
        start -= step
        sink.seek(start)
        tail = sink.read(step) + tail
        if tail.rfind(b"\n", 0, len(tail) - 1) != -1:
            break
    if not tail.endswith(b"\n"):
        return None
    line = tail[tail.rfind(b"\n", 0, len(tail) - 1) + 1 :]
    try:
        value = json_loads(line)
    except ValueError:
        return None
    ident = value.get("id") if isinstance(value, dict) else None
    return ident if isinstance(ident, str) else None


def _tmp(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def _sync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform or filesystem can sync a folder
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ---------------------------------------------------------------- the job


async def export_tickets(
    desk: AsyncDesk,
    out: Path | None,
    *,
    status: StatusType | str | int | None = None,
    requester_email: str | None = None,
    full: bool = False,
    concurrency: int = 8,
    resume: bool = False,
    restart: bool = False,
    page_size: int = 100,
    checkpoint_every: float = 1.0,
    stdout: IO[bytes] | None = None,
    progress: ExportProgress | None = None,
    on_page: Callable[[ExportProgress], None] | None = None,
) -> ExportResult:
    """Write every matching ticket as the server sent it (summaries, or with
    ``full`` whole tickets with messages) as JSON Lines to ``out``, or to
    ``stdout`` when ``out`` is ``None`` (nothing to resume then).

    The checkpoint is saved after the first page, then when ``checkpoint_every``
    seconds have passed since the last one, and on any failure or cancellation;
    a process killed outright loses at most that much work, never data.

    A fresh export refuses to start over an unfinished one: pass ``resume``
    to continue it (with nothing unfinished, ``resume`` starts afresh) or
    ``restart`` to discard it.

    Raises, before anything is changed: ``ExportRefused`` (an unfinished
    export in the way, a damaged or foreign checkpoint, a missing or changed
    partial file, a target that is a directory or not a regular file),
    ``LockBusy`` (another run on the target), ``InvalidArgument`` and
    ``InvalidArgumentType`` for bad filters or options. During the run: what
    the desk's calls raise, and ``OSError`` from the file system; the
    previous ``out`` is then untouched and, once ``progress.resumable``,
    ``resume`` continues from the last page saved.
    """
    progress = progress or ExportProgress()
    if resume and restart:
        raise InvalidArgument("--resume and --restart exclude each other")
    wanted: object = concurrency
    if isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < 1:
        raise InvalidArgument(f"concurrency must be an int of at least 1, not {concurrency!r}")
    # The same checks the stream makes, before any file is touched.
    desk.tickets(status=status, requester_email=requester_email, page_size=page_size)
    identity = {
        "desk": desk.desk,
        "baseUrl": desk.base_url,
        "filters": {
            "status": None if status is None else proto.status_filter(status),
            "requesterEmail": requester_email,
        },
        "mode": "full" if full else "summaries",
    }
    worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="headoni-export")
    loop = asyncio.get_running_loop()

    def run(fn: Callable[..., _R], *args: Any) -> asyncio.Future[_R]:
        return loop.run_in_executor(worker, fn, *args)

    output: _FileOutput | _StreamOutput
    if out is None:
        if resume or restart:
            raise InvalidArgument(
                "--resume and --restart need --out FILE: an export to stdout keeps no checkpoint"
            )
        if stdout is None:
            raise InvalidArgument("export_tickets needs a file or a stdout stream")
        output = _StreamOutput(stdout)
    else:
        output = await run(_FileOutput, out, identity)  # resolving a symlink is file I/O too
    started = time.perf_counter()
    retries_before = desk.retries
    try:
        if isinstance(output, _FileOutput):
            await run(output.open, resume, restart)
            progress.resumable = True
        progress.resumed_from = progress.tickets = progress.saved = output.state.count
        stream = desk.tickets(
            status=status,
            requester_email=requester_email,
            page_size=page_size,
            cursor=output.state.cursor,
        )
        dumpb = json_dumpb
        synced = -math.inf  # the first page is saved at once: resumable early
        async with stream:
            async for page in stream.pages():
                records: Sequence[dict[str, Any]] = page.records
                if full:
                    ids = [t.id for t in page.tickets]
                    fetched = desk.get_ticket_records(ids, concurrency=concurrency, missing="skip")
                    records = [r.record async for r in fetched]
                    progress.vanished += len(ids) - len(records)
                chunk = b"\n".join(map(dumpb, records)) + b"\n" if records else b""
                last_id = records[-1]["id"] if records else None
                now = time.monotonic()
                durable = now - synced >= checkpoint_every
                await run(output.commit, chunk, stream.cursor, last_id, len(records), durable)
                if durable:
                    synced = now
                progress.tickets += len(records)
                progress.pages += 1
                if on_page is not None:
                    on_page(progress)
        await run(output.finish)
        progress.resumable = False  # no checkpoint left: the target is this export now
    except BaseException:
        if isinstance(output, _FileOutput) and progress.resumable:
            # Save every whole page written so far (a full disk may refuse: then
            # the last checkpoint stands), or drop files that hold no ticket.
            with contextlib.suppress(OSError):
                await asyncio.shield(run(output.save_progress))
            removed = await asyncio.shield(run(output.discard_if_empty))
            progress.resumable = not removed and not output.finished
            progress.saved = output.state.count
        raise
    finally:
        # Queued behind any page still being written, so it never races it; and
        # done before this returns, even when cancelled meanwhile, so the lock
        # is released by then.
        await await_release(run(output.close))
        worker.shutdown(wait=False)
    return ExportResult(
        tickets=progress.tickets - progress.resumed_from,
        pages=progress.pages,
        seconds=time.perf_counter() - started,
        retries=desk.retries - retries_before,
        total_in_file=progress.tickets,
        cursor=stream.cursor,
        vanished=progress.vanished,
    )
