"""``sync_desk``: a desk mirrored incrementally into SQLite.

A run reads the departments and ticket types, then walks for new tickets:
newest first, down to the high-water mark (``tickets(since_id=...)`` makes no
request past it). An unfinished walk of an earlier run is finished first,
then a new one starts at the top, so tickets that arrived in between are
found too. With ``refresh`` it then walks every summary, rewriting tickets
whose ``updatedAt`` changed and marking deleted those a page no longer lists.
With ``full`` every new or changed ticket is fetched whole before its page is
committed. Each page is one transaction with the state that covers it (see
``_mirror``), so a run killed at any moment is simply run again.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from . import _mirror as db
from ._desk import AsyncDesk
from ._errors import InvalidArgument, InvalidArgumentType
from ._json import json_dumps
from ._models import TicketSummary, decode_departments, decode_ticket_types
from ._protocol import MAX_PAGE_SIZE, check_page_size
from ._routes import ROUTES

__all__ = ["SyncProgress", "SyncResult", "sync_desk"]


@attrs.define
class SyncProgress:
    """Counters a sync updates after each committed page (read by a progress
    display). ``phase`` is ``"new"`` while walking for new tickets and
    ``"refresh"`` during a refresh walk."""

    new: int = 0
    changed: int = 0
    deleted: int = 0
    restored: int = 0
    fetched: int = 0
    pages: int = 0
    phase: str = "new"


@attrs.frozen
class SyncResult:
    """What one ``sync_desk`` run did.

    ``new``: tickets added to the mirror. ``changed``: tickets rewritten
    because their ``updatedAt`` changed. ``deleted``: tickets newly marked
    deleted (``deleted_at``), by a refresh page that no longer listed them or a
    404 on fetching them whole (``vanished`` counts those). ``restored``:
    tickets listed again after being marked deleted. ``fetched``: whole
    tickets fetched. ``pages``: list pages read. ``requests``: API calls
    answered (pages, whole tickets, departments, ticket types), retries not
    counted (``retries`` counts those). ``tickets``: tickets in the mirror not
    marked deleted. ``high_water``: every ticket with an id up to it is in the
    mirror. ``refreshed``: a refresh walk reached the end of the desk.
    """

    new: int
    changed: int
    deleted: int
    restored: int
    vanished: int
    fetched: int
    pages: int
    requests: int
    retries: int
    seconds: float
    tickets: int
    high_water: str | None
    refreshed: bool


async def sync_desk(
    desk: AsyncDesk,
    db_path: str | os.PathLike[str],
    *,
    refresh: bool = False,
    full: bool = False,
    concurrency: int = 8,
    page_size: int = MAX_PAGE_SIZE,
    reset_state: bool = False,
    progress: SyncProgress | None = None,
    on_page: Callable[[SyncProgress], None] | None = None,
) -> SyncResult:
    """Mirror ``desk`` into the SQLite database at ``db_path`` (created if
    missing), fetching only what is new since the last run.

    ``refresh`` also walks every summary: tickets whose ``updatedAt`` changed
    are rewritten; tickets a complete refresh walk no longer listed get
    ``deleted_at`` when it completes (rows are never removed); tickets listed
    again get it cleared. An interrupted refresh goes on where it stopped. ``full`` keeps whole
    tickets (with messages) for every new or changed ticket, ``concurrency``
    at a time; unchanged tickets are not fetched again. ``reset_state``
    forgets where earlier walks stopped (after ``SyncStateDamaged``): this run
    walks the whole desk, rewriting only what differs. ``on_page`` is called
    after every committed page. Every database call runs on one thread of its
    own, never on the event loop.

    A run that fails or is cancelled leaves every page it committed, with the
    state that covers it: the next run goes on without losing or rewriting
    a ticket.

    Raises:
        SyncLocked: another sync is using the database (before any request).
        SyncMismatch: the database mirrors another desk or base URL, has a
            later schema version, or is not a sync database.
        SyncStateDamaged: its sync state row fails validation.
        SyncError: SQLite failed (disk full, I/O error, ...).
        InvalidArgument, InvalidArgumentType: a bad argument (also a
            ``db_path`` that is a folder, is ``:memory:``, or lies in one that does not exist),
            before any request.
        And what the desk's calls raise (``HeadoniError`` subclasses).
    """
    if not isinstance(desk, AsyncDesk):
        raise InvalidArgumentType("desk must be an AsyncDesk")
    if not isinstance(db_path, str | os.PathLike):
        raise InvalidArgumentType("db_path must be a str or a path")
    limit = check_page_size(page_size)
    _check_concurrency(concurrency)
    run = _Run(desk, bool(full), concurrency, limit, progress or SyncProgress(), on_page)
    started = time.perf_counter()
    retries_before = desk.retries
    path = Path(os.fspath(db_path))
    async with await db.Mirror.open(path, desk.desk, desk.base_url, reset_state=reset_state) as mirror:
        run.mirror = mirror
        state = mirror.state
        # Into an empty mirror the walk for new tickets reads every summary
        # already: a refresh right behind it would read them all again.
        first = state.high_water is None and state.walk_top is None and state.refresh_cursor is None
        first = first and await mirror.run(db.is_empty)
        try:
            await run.catalog()
            await run.new_tickets(state)
            if refresh and first:
                await mirror.run(db.set_state, {"last_refresh_at": db.now_iso()})
                run.refreshed = True
            elif refresh:
                await run.refresh(state)
        finally:
            await run.drain()
        await mirror.run(db.set_state, {"last_sync_at": db.now_iso()})
        tickets = await mirror.run(db.listed_count)
    p = run.progress
    return SyncResult(
        new=p.new,
        changed=p.changed,
        deleted=p.deleted,
        restored=p.restored,
        vanished=run.vanished,
        fetched=p.fetched,
        pages=p.pages,
        requests=run.requests,
        retries=desk.retries - retries_before,
        seconds=time.perf_counter() - started,
        tickets=tickets,
        high_water=run.high_water,
        refreshed=run.refreshed,
    )


def _check_concurrency(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentType("concurrency must be an int")
    if value < 1:
        raise InvalidArgument(f"concurrency must be at least 1, not {value}")


Pair = tuple[TicketSummary, Mapping[str, Any]]


class _Run:
    """One run's walks and counters."""

    def __init__(
        self,
        desk: AsyncDesk,
        full: bool,
        concurrency: int,
        page_size: int,
        progress: SyncProgress,
        on_page: Callable[[SyncProgress], None] | None,
    ) -> None:
        self.desk = desk
        self.full = full
        self.concurrency = concurrency
        self.page_size = page_size
        self.progress = progress
        self.on_page = on_page
        self.mirror: db.Mirror
        self.requests = 0
        self.vanished = 0
        self.high_water: str | None = None
        self.refreshed = False
        # The page being written while the next one is read (one at a time).
        self._writing: asyncio.Task[tuple[db.Written, int]] | None = None

    async def catalog(self) -> None:
        """Replace departments and ticket types with what the desk lists now."""
        for route, key, decode, table in (
            ("departments", "departments", decode_departments, "departments"),
            ("ticket_types", "ticketTypes", decode_ticket_types, "ticket_types"),
        ):
            # The raw answer, decoded once for validation; the rows keep the
            # server's own objects, unknown fields included.
            body = await self.desk._request(ROUTES[route])
            models: Sequence[Any] = decode(body)
            records = body[key]
            rows = [(m.id, m.name, json_dumps(r)) for m, r in zip(models, records, strict=True)]
            self.requests += 1
            await self.mirror.run(db.replace_catalog, table, rows)

    async def new_tickets(self, state: db.SyncState) -> None:
        """Finish an interrupted walk, then walk from the top down to the high-water mark."""
        self.high_water = state.high_water
        if state.walk_top is not None:
            await self._walk_new(cursor=state.walk_cursor, top=state.walk_top)
        await self._walk_new(cursor=None, top=None)

    async def _walk_new(self, *, cursor: str | None, top: str | None) -> None:
        stream = self.desk.tickets(cursor=cursor, since_id=self.high_water, page_size=self.page_size)
        async with stream:
            async for page in stream.pages():
                self.requests += 1
                # (The stream already cut the page at since_id.)
                pairs = list(zip(page.tickets, page.records, strict=True))
                if not pairs:
                    self.progress.pages += 1
                    continue
                if top is None:
                    top = pairs[0][0].id
                state = {"walk_top": top, "walk_cursor": pairs[-1][0].id}
                await self._apply(pairs, state=state)
        await self.settle()
        if top is not None:
            # The walk reached the old mark (or the bottom): all up to its top is stored.
            await self.mirror.run(db.set_state, {"high_water": top, "walk_top": None, "walk_cursor": None})
            self.high_water = top

    async def refresh(self, state: db.SyncState) -> None:
        """Walk every summary (going on from an interrupted refresh)."""
        self.progress.phase = "refresh"
        above = state.refresh_cursor
        stream = self.desk.tickets(cursor=above, page_size=self.page_size)
        async with stream:
            async for page in stream.pages():
                self.requests += 1
                pairs = list(zip(page.tickets, page.records, strict=True))
                below = page.next_cursor
                done = below is None
                # The page lists every ticket between `below` and `above`: a
                # stored ticket in that range that it does not list is noted,
                # and marked deleted when this walk completes.
                page_state: dict[str, str | None] = {"refresh_cursor": below}
                if done:
                    page_state["last_refresh_at"] = db.now_iso()
                await self._apply(pairs, state=page_state, gone=(below, above), complete=done)
                above = below
        await self.settle()
        self.refreshed = above is None

    async def _apply(
        self,
        pairs: Sequence[Pair],
        *,
        state: Mapping[str, str | None],
        gone: tuple[str | None, str | None] | None = None,
        complete: bool = False,
    ) -> None:
        rows = [db.summary_row(record, json_dumps(record)) for _, record in pairs]
        wholes: list[tuple[str, str, str | None]] = []
        vanished: list[str] = []
        if self.full:
            # One more trip to the database: which whole tickets are missing or older.
            have = await self.mirror.run(db.stored, [row[0] for row in rows])
            wanted = [
                row[0]
                for row in rows
                if (old := have.get(row[0])) is None or not old.has_ticket or old.ticket_updated_at != row[6]
            ]
            wholes, vanished = await self._fetch_whole(wanted)
        page = db.PageWrite(
            summaries=rows,
            wholes=wholes,
            listed=frozenset(row[0] for row in rows),
            gone=gone,
            complete=complete,
            vanished=vanished,
            state=state,
        )
        # The previous page is committed before this one is handed over (a
        # failure there stops the walk here); this one is written while the
        # next page is read. What is new or changed is decided inside the
        # page's own transaction.
        await self.settle()
        self._writing = asyncio.ensure_future(self._write(page, len(wholes)))

    async def _write(self, page: db.PageWrite, fetched: int) -> tuple[db.Written, int]:
        return await self.mirror.run(db.write_page, page, db.now_iso()), fetched

    async def settle(self) -> None:
        """Wait for the page being written, and count it."""
        writing = self._writing
        if writing is None:
            return
        # Cleared only once it is done: if this wait is cancelled, drain() still finds it.
        written, fetched = await writing
        self._writing = None
        p = self.progress
        p.pages += 1
        p.new += written.new
        p.changed += written.changed
        p.restored += written.restored
        p.deleted += written.deleted + written.vanished
        p.fetched += fetched
        self.vanished += written.vanished
        if self.on_page is not None:
            self.on_page(p)

    async def drain(self) -> None:
        """After a failure or a cancellation: let the page being written finish
        (its transaction commits whole or not at all), without raising over
        the error already on its way."""
        writing, self._writing = self._writing, None
        if writing is not None:
            await asyncio.wait([writing])
            if not writing.cancelled():
                writing.exception()  # retrieved: the error on its way is the one to report

    async def _fetch_whole(self, ids: list[str]) -> tuple[list[tuple[str, str, str | None]], list[str]]:
        """Fetch whole tickets, ``concurrency`` at a time. A ticket gone by now
        (404 between list and get) is reported back, not fatal."""
        if not ids:
            return [], []
        wholes: list[tuple[str, str, str | None]] = []
        found: set[str] = set()
        fetched = self.desk.get_ticket_records(ids, concurrency=self.concurrency, missing="skip")
        async for got in fetched:
            record = got.record
            found.add(got.ticket.id)
            wholes.append((got.ticket.id, json_dumps(record), db.clean_text(record.get("updatedAt"))))
        self.requests += len(ids)
        return wholes, [i for i in ids if i not in found]
