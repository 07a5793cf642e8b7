"""Binding a desk to the event loop it is first used in.

An aiohttp session, its connections and the desk's tasks all belong to one
event loop. A desk kept across two ``asyncio.run()`` calls would otherwise
fail in the second with a bare ``RuntimeError('Event loop is closed')`` and
leave the first loop's sockets for the garbage collector (a
``ResourceWarning``). Two things prevent that:

- ``LoopBinding.check()`` raises ``WrongEventLoop`` (a ``HeadoniError``) for a
  call from any loop but the first;
- when the first loop shuts down (``asyncio.run()`` and ``asyncio.Runner``
  close every async generator still suspended before closing the loop), a
  sentinel async generator registered with that loop runs the desk's close,
  so its connections are closed on the loop they belong to.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable

from ._errors import WrongEventLoop

__all__ = ["LoopBinding"]


class LoopBinding:
    """The loop a desk belongs to, and the hook that closes it when that loop ends."""

    def __init__(self, on_loop_end: Callable[[], Awaitable[None]], name: str) -> None:
        self._on_loop_end = on_loop_end
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sentinel: AsyncGenerator[None, None] | None = None
        self._armed = [False]

    def check(self) -> None:
        """Bind to the running loop on first use; afterwards raise
        ``WrongEventLoop`` when called from any other loop."""
        loop = asyncio.get_running_loop()
        if loop is self._loop:
            return
        if self._loop is None:
            self._loop = loop
            self._arm()
            return
        state = "has ended" if self._loop.is_closed() else "is another, still running, loop"
        raise WrongEventLoop(
            f"the desk {self._name!r} was first used in another event loop, which {state}; "
            "a desk belongs to one event loop (make one desk per asyncio.run(); under pytest-asyncio, "
            "give a desk fixture the loop_scope of the tests using it, e.g. "
            "headoni_async.testing.desk_fixture(loop_scope='module'))"
        )

    def _arm(self) -> None:
        armed = self._armed
        armed[0] = True
        on_end = self._on_loop_end

        async def sentinel() -> AsyncGenerator[None, None]:
            try:
                yield
            finally:
                if armed[0]:  # the loop is shutting down its async generators
                    armed[0] = False
                    await on_end()

        gen = sentinel()
        # Advance it to its first yield without awaiting: that registers it
        # with the running loop (asyncio's first-iteration hook), so the
        # loop's shutdown_asyncgens() will close it.
        step = gen.asend(None)
        with contextlib.suppress(StopIteration):
            step.send(None)
        self._sentinel = gen

    async def release(self) -> None:
        """Called by the desk's own close: the loop need not close it any more."""
        gen, self._sentinel = self._sentinel, None
        if gen is not None and self._armed[0]:  # else the sentinel itself is running this close
            self._armed[0] = False
            await gen.aclose()
