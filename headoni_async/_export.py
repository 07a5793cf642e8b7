"""Exactly-once, resumable export of a desk's tickets to JSON Lines.

After every page the output is flushed and synced, then a checkpoint (the
stream cursor, the byte length of the output, the ticket count and the
filters) is written atomically beside it. ``resume`` truncates the output to
the checkpoint's length (dropping a page half-written when the process died)
and goes on from its cursor, so no ticket is lost or written twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import attrs

from ._desk import AsyncDesk
from ._errors import InvalidArgument
from ._models import StatusType, to_api_json

__all__ = ["ExportProgress", "ExportResult", "checkpoint_path", "export_tickets"]


@attrs.define
class ExportProgress:
    """Counters an export updates as it goes (read by a progress display)."""

    tickets: int = 0
    pages: int = 0
    resumed_from: int = 0


@attrs.frozen
class ExportResult:
    """What an export did. ``tickets`` counts this run's tickets only."""

    tickets: int
    pages: int
    seconds: float
    retries: int
    total_in_file: int
    cursor: str | None


def checkpoint_path(out: Path) -> Path:
    """Where the checkpoint of an export to ``out`` lives."""
    return out.with_name(out.name + ".checkpoint")


def _read_checkpoint(path: Path, filters: dict[str, Any]) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise InvalidArgument(
            f"the checkpoint {path} is unreadable ({exc}); delete it to start over"
        ) from None
    if not isinstance(data, dict) or data.get("filters") != filters:
        raise InvalidArgument(
            f"the checkpoint {path} is for another export: run with the same filters "
            f"({data.get('filters') if isinstance(data, dict) else '?'}), or delete it to start over"
        )
    return data


def _write_checkpoint(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _open_output(out: Path, resume: bool, filters: dict[str, Any]) -> tuple[IO[bytes], str | None, int, int]:
    """Open the output: fresh, or cut back to its checkpoint. Returns the file,
    the cursor to start from, the byte offset and the ticket count so far.
    (Synchronous: a few quick local file operations, once per export.)"""
    checkpoint = checkpoint_path(out)
    saved = _read_checkpoint(checkpoint, filters) if resume else None
    if saved is None:
        checkpoint.unlink(missing_ok=True)
        return out.open("wb"), None, 0, 0
    cursor, offset, count = saved["cursor"], int(saved["offset"]), int(saved["count"])
    if not out.exists() or out.stat().st_size < offset:
        raise InvalidArgument(
            f"{out} is shorter than its checkpoint says ({offset} bytes): it was changed since; "
            "delete the checkpoint to start over"
        )
    sink = out.open("r+b")
    sink.truncate(offset)  # drop a page half-written when the last run died
    sink.seek(offset)
    return sink, cursor, offset, count


def _commit(sink: IO[bytes], chunk: bytes, checkpoint: Path | None, state: dict[str, Any]) -> None:
    """Write one page; with a checkpoint, sync the lines first, then the checkpoint that counts them."""
    sink.write(chunk)
    sink.flush()
    if checkpoint is not None:
        os.fsync(sink.fileno())
        _write_checkpoint(checkpoint, state)


def _line(model: Any) -> bytes:
    return json.dumps(to_api_json(model), ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


async def export_tickets(
    desk: AsyncDesk,
    out: Path | None,
    *,
    status: StatusType | str | int | None = None,
    requester_email: str | None = None,
    full: bool = False,
    concurrency: int = 8,
    resume: bool = False,
    page_size: int = 100,
    stdout: IO[bytes] | None = None,
    progress: ExportProgress | None = None,
    on_page: Callable[[ExportProgress], None] | None = None,
) -> ExportResult:
    """Write every matching ticket (summaries, or with ``full`` whole tickets
    with messages) as JSON Lines to ``out``, or to ``stdout`` when ``out`` is
    ``None`` (then nothing can be resumed).

    Raises ``InvalidArgument`` for ``resume`` without a file or with a
    checkpoint of other filters, and what the desk's calls raise. On any
    failure or cancellation the checkpoint holds the last whole page, so a
    run with ``resume=True`` continues exactly there.
    """
    progress = progress or ExportProgress()
    filters = {
        "status": None if status is None else str(status),
        "requesterEmail": requester_email,
        "full": full,
    }
    if out is None:
        if resume:
            raise InvalidArgument("--resume needs --out FILE: an export to stdout keeps no checkpoint")
        if stdout is None:
            raise InvalidArgument("export_tickets needs a file or a stdout stream")
        sink, checkpoint, cursor, offset, count = stdout, None, None, 0, 0
    else:
        sink, cursor, offset, count = await asyncio.to_thread(_open_output, out, resume, filters)
        checkpoint = checkpoint_path(out)
    progress.resumed_from = count
    retries_before = desk.retries
    started = time.perf_counter()
    this_run = 0
    try:
        stream = desk.tickets(
            status=status, requester_email=requester_email, page_size=page_size, cursor=cursor
        )
        async with stream:
            async for page in stream.pages():
                if full:
                    ids = [t.id for t in page.tickets]
                    lines = [_line(t) async for t in desk.get_tickets(ids, concurrency=concurrency)]
                else:
                    lines = [_line(t) for t in page.tickets]
                chunk = b"".join(lines)
                this_run += len(lines)
                count += len(lines)
                offset += len(chunk)
                state = {"cursor": stream.cursor, "offset": offset, "count": count, "filters": filters}
                # File I/O (a pipe that blocks, an fsync that takes milliseconds)
                # runs off the loop, so the prefetch keeps reading meanwhile.
                await asyncio.to_thread(_commit, sink, chunk, checkpoint, state)
                progress.tickets = count
                progress.pages += 1
                if on_page is not None:
                    on_page(progress)
        if checkpoint is not None:
            done = {
                "cursor": stream.cursor,
                "offset": offset,
                "count": count,
                "filters": filters,
                "done": True,
            }
            await asyncio.to_thread(_write_checkpoint, checkpoint, done)
    finally:
        if sink is not stdout:
            await asyncio.to_thread(sink.close)
    return ExportResult(
        tickets=this_run,
        pages=progress.pages,
        seconds=time.perf_counter() - started,
        retries=desk.retries - retries_before,
        total_in_file=count,
        cursor=stream.cursor,
    )
