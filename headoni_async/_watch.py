"""Watching a desk for new tickets: poll the newest-first list, stop each poll
at the last ticket seen, hand new tickets out oldest first.

A poll is a ``tickets(since_id=last_seen)`` walk, so it requests only the
pages that hold tickets newer than the last one handed out (usually one). The
watch advances ``last_seen`` only as it hands a ticket out, so a poll that
fails half-way, or a consumer that stops, never skips nor repeats a ticket.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

from ._errors import RateLimited, ServerError, TransportError
from ._models import TicketSummary
from ._pager import TicketStream

__all__ = ["TRANSIENT", "watch_tickets"]

logger: Final = logging.getLogger("headoni_async")

TRANSIENT: Final = (TransportError, ServerError, RateLimited)
"""Failures a watch survives (it logs, waits and polls again); any other is raised."""

_MAX_WAIT: Final = 600.0


async def watch_tickets(
    stream: Callable[[str | None, int], TicketStream],
    *,
    since_id: str | None,
    interval: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[TicketSummary]:
    """Yield every ticket whose id is above ``since_id``, oldest first, then
    poll every ``interval`` seconds for more, forever.

    ``stream(since_id, page_size)`` opens a newest-first ticket stream that
    stops at ``since_id``. Without ``since_id`` the newest ticket when the
    watch starts is the baseline (an empty desk: every ticket to come).
    """
    last = since_id
    first = True
    while True:
        if not first:
            await sleep(interval)
        first = False
        try:
            if last is None:
                last = await _newest_id(stream)
                continue
            fresh = await _newer_than(stream, last)
        except TRANSIENT as exc:
            wait = interval
            retry_after = getattr(exc, "retry_after", None)
            if isinstance(retry_after, float):
                wait = min(max(interval, retry_after), _MAX_WAIT)
            logger.warning("watch: a poll failed (%s); polling again in %.1f s", type(exc).__name__, wait)
            if wait > interval:
                await sleep(wait - interval)
            continue
        for ticket in reversed(fresh):
            yield ticket
            last = ticket.id


async def _newest_id(stream: Callable[[str | None, int], TicketStream]) -> str:
    # The first ticket of the stream, not of its first page: a page may be
    # empty and still go on, and "no ticket" would make every old one new.
    async with stream(None, 1) as tickets:
        async for ticket in tickets:
            return ticket.id
    return "0"


async def _newer_than(stream: Callable[[str | None, int], TicketStream], last: str) -> list[TicketSummary]:
    async with stream(last, 100) as tickets:
        return [t async for t in tickets]
