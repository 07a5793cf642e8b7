"""An exclusive, non-blocking OS lock on a file beside a target, for the data
jobs: one run works on a target at a time, and the OS releases the lock when
the process dies, however it dies.

The lock file is removed when the lock is released. That is safe because a
run that wins the lock checks that the path still names the file it locked:
a run that locked a file another run had just removed tries again on the new
one, so two runs never both believe they hold the lock.

``await_release`` waits for a job's close (which releases its lock) even when
the job is cancelled meanwhile, so a cancelled job never leaves it held.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from ._errors import HeadoniError

__all__ = ["LockBusy", "await_release", "exclusive_lock"]

if sys.platform == "win32":  # pragma: no cover - not tested here
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


class LockBusy(HeadoniError):
    """Another run holds the lock. ``path`` is the lock file."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


@contextlib.contextmanager
def exclusive_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed) for the block.

    Raises ``LockBusy`` at once, naming ``what``, when another process holds
    it, and ``OSError`` when the lock file cannot be created.
    """
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(10):
        fd = os.open(path, flags, 0o644)
        if not _try_lock(fd):
            os.close(fd)
            raise LockBusy(f"another run is working on {what} (it holds {path}); wait for it to finish", path)
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the run before us removed it as we locked it: lock the new one
    else:  # pragma: no cover - ten removals in a row
        raise LockBusy(f"could not lock {path}: it keeps being replaced", path)
    try:
        yield
    finally:
        # Remove it while still holding it (see the module docstring), then let go.
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


async def await_release(future: asyncio.Future[None]) -> None:
    """Wait for ``future``, the close that releases a job's lock (running on a
    worker thread), to finish even when the caller is cancelled meanwhile
    (it is never cancelled itself); then the cancellation goes on. So the lock
    is released when this returns or raises, and the caller's next run does
    not find it held. Raises ``CancelledError`` when the caller was cancelled
    while it waited (the close's own outcome, even an error, is then
    retrieved and dropped), else what the close raised."""
    cancelled = False
    while not future.done():
        try:
            await asyncio.wait([future])  # never cancels it, never raises its error
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        if not future.cancelled():
            future.exception()  # retrieved: the cancellation is what the caller gets
        raise asyncio.CancelledError
    future.result()
