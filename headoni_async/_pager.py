"""The ticket stream: ``GET /tickets`` page by page, one page prefetched,
resumable from any ticket; and its sibling, the bulk-fetch window that runs
many single-ticket calls at once and hands them out in input order.

The API's cursor is a ticket id ("tickets whose id is less than it"), so the
stream's resume token is simply the id of the last ticket it handed out. A
page that fails is retried as that page (same cursor) by the request layer;
the stream never restarts, and it checks that ids strictly decrease, so a
misbehaving server cannot make it hand out a ticket twice.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import logging
import operator
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from types import TracebackType
from typing import Any, Final, TypeVar

from ._errors import (
    DeskClosed,
    HeadoniError,
    InvalidArgument,
    PoolTimeout,
    RateLimitTimeout,
    ResponseDecodeError,
    TicketNotFound,
)
from ._models import TicketPage, TicketSummary
from ._protocol import check_missing, check_positive_int, check_ticket_keys, peek_next_cursor, require_scope
from ._routes import ROUTES

__all__ = ["TicketStream", "await_tracked", "fetch_in_order", "fetch_many"]

logger: Final = logging.getLogger("headoni_async")

MAX_EMPTY_PAGES: Final = 100
"""Empty pages in a row, each with a ``nextCursor``, after which a stream gives
up with ``ResponseDecodeError``: a server may skip a stretch of ids with an
empty page now and then, but a cursor that only has to move down by one id
would otherwise keep a stream walking for ever."""

Peek = Callable[[bytes], bool]
FetchPage = Callable[[str | None, Peek | None], Coroutine[Any, Any, TicketPage]]
"""``fetch(cursor, peek)``: one page; ``peek``, when given, is called with the
body of a successful answer before it is decoded, and says whether it
started a fetch (which the caller then lets send its request first)."""
Track = Callable[[asyncio.Task[Any]], None]


class TicketStream:
    """An async iterator over ticket summaries, newest first.

    Made by ``AsyncDesk.tickets()``. ``async for ticket in stream`` yields
    ``TicketSummary`` objects; ``stream.pages()`` yields ``TicketPage``
    objects instead. While the caller works on one page the next is already
    being fetched (unless ``prefetch=False``): its request goes out as soon as
    this page's bytes arrive, while they are decoded. The stream is never more
    than one page ahead of the caller.

    ``cursor`` is the id of the last ticket handed out (or the starting
    cursor): pass it as ``cursor=`` to a new stream to resume right after that
    ticket, or iterate this stream again to go on where it stopped. Tickets
    created after a stream passed their place are not seen (ids grow over
    time, the stream walks down).

    Breaking out of the loop, cancelling the task, an error, ``aclose()`` or
    closing the desk cancels the prefetch and releases its connection.

    One iteration at a time: starting a new one ends the previous one (so
    ``async for`` after a ``break`` goes on from ``cursor``); the previous
    iterator is then finished and must not be used again (on Python 3.11 it
    raises ``RuntimeError`` instead of ``StopAsyncIteration``). Iterating raises
    whatever the requests raise (``HeadoniError`` subclasses),
    ``ResponseDecodeError`` if the server breaks the id order, and
    ``InvalidArgument`` if another task is inside an iteration of this stream
    at that moment.  A server that sends ``MAX_EMPTY_PAGES`` empty pages in a
    row, each with a ``nextCursor``, ends the stream with ``ResponseDecodeError``.
    """

    def __init__(
        self,
        fetch: FetchPage,
        *,
        cursor: str | None,
        prefetch: bool,
        track: Track,
        since_id: str | None = None,
    ) -> None:
        self._fetch = fetch
        self._cursor = cursor
        self._since = None if since_id is None else int(since_id)
        self._prefetch = prefetch
        # The fetches under way (prefetches), so that aclose() can wind them
        # down itself when the finalizer already has the iteration.
        fetches: set[asyncio.Task[Any]] = set()

        def track_fetch(task: asyncio.Task[Any]) -> None:
            track(task)
            fetches.add(task)
            task.add_done_callback(fetches.discard)

        self._track = track_fetch
        self._fetches = fetches
        self._exhausted = False
        # The iteration under way, held weakly: a caller that breaks out of a
        # loop drops its iterator, which is then closed at once by the loop's
        # async-generator finalizer (cancelling the prefetch). Held strongly,
        # stream and iterator would form a cycle, left to the garbage
        # collector, which finalizes the nested generators in any order and
        # had asyncio log "aclose(): asynchronous generator is already running".
        # (Neither ``track_fetch`` nor the fetches hold the stream, for the same reason.)
        self._active: weakref.ref[_Gen] | None = None

    @property
    def cursor(self) -> str | None:
        """The id of the last ticket handed out; ``None`` before the first one
        when the stream started at the newest ticket."""
        return self._cursor

    @property
    def exhausted(self) -> bool:
        """Whether the last page was reached and every ticket handed out."""
        return self._exhausted

    def __repr__(self) -> str:
        return f"<TicketStream cursor={self._cursor!r} exhausted={self._exhausted}>"

    def __aiter__(self) -> AsyncIterator[TicketSummary]:
        gen = self._walk(self._live(), tickets=True)
        self._active = weakref.ref(gen)
        return gen

    def pages(self) -> AsyncIterator[TicketPage]:
        """Iterate whole pages instead of tickets. After each page is handed
        out, ``cursor`` is the id of its last ticket."""
        gen = self._walk(self._live(), tickets=False)
        self._active = weakref.ref(gen)
        return gen

    async def aclose(self) -> None:
        """Stop the stream: cancel the prefetch and release its connection.
        Idempotent. Raises ``InvalidArgument`` while another task is inside an
        iteration of this stream (which then goes on)."""
        active = self._live()
        await _end(active)  # InvalidArgument while another task is inside it: still known after
        if self._live() is active:
            self._active = None
        # An iteration the caller dropped (a ``break``) is closed by the loop's
        # finalizer, in a task of its own: its fetches are waited for here too.
        for task in list(self._fetches):
            await _drop(task)

    def _live(self) -> _Gen | None:
        return None if self._active is None else self._active()

    async def __aenter__(self) -> TicketStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _walk(self, previous: _Gen | None, *, tickets: bool) -> AsyncGenerator[Any, None]:
        # One async generator per iteration (tickets or pages), never two nested:
        # nested ones that become garbage together (a reference cycle) are each
        # finalized in a task of their own, and the inner one is closed twice.
        await _end(previous)
        if self._exhausted:
            return
        cursor = self._cursor
        since = self._since
        if since is not None and cursor is not None and int(cursor) <= since + 1:
            self._exhausted = True
            return  # no id lies between the cursor and since_id: nothing to ask for
        # While the walk waits for a page, the prefetch of the one after it
        # starts as soon as that page's bytes arrive, before they are decoded:
        # ``peek`` reads the next cursor from the end of the body and starts
        # that fetch (``guess``). Once the page is decoded and checked, the guess
        # is the prefetch if the page names the same cursor, and is dropped
        # (cancelled, its outcome ignored) otherwise. A page that arrives while
        # the caller still works on the one before starts nothing: the stream
        # stays one page ahead, no more.
        # (``peek`` holds no reference to the stream: the fetches it starts
        # hold it, and a stream a caller dropped must be collectable, so that
        # its finalizer cancels them.)
        # A guess is started inside the fetch of the page before, while that
        # call runs (its span current, for tracing): it runs in the caller's
        # context instead, as a prefetch started by the walk does.
        guess: tuple[str, asyncio.Task[TicketPage]] | None = None
        empty = 0
        waiting = True
        callers = contextvars.copy_context()
        fetch, track, prefetch = self._fetch, self._track, self._prefetch

        def peek_for(page_cursor: str | None) -> Peek | None:
            """The ``peek`` of the fetch of the page at ``page_cursor``."""
            if not prefetch:
                return None

            def peek(body: bytes) -> bool:
                nonlocal guess
                if not waiting or guess is not None or empty + 1 >= MAX_EMPTY_PAGES:
                    return False
                following = peek_next_cursor(body)
                if (
                    following is None
                    or (since is not None and int(following) <= since + 1)
                    # A cursor that does not move down is refused by the order check: no request for it.
                    or (page_cursor is not None and _numeric(following) >= _numeric(page_cursor))
                ):
                    return False
                loop = asyncio.get_running_loop()
                task = loop.create_task(fetch(following, peek_for(following)), context=callers.copy())
                track(task)
                guess = following, task
                return True

            return peek

        ahead: asyncio.Task[TicketPage] | None = None
        try:
            page = await fetch(cursor, peek_for(cursor))
            while True:
                waiting = False
                try:
                    _check_order(page, cursor)
                    if since is not None:
                        page = _cut_at(page, since)
                except ValueError:  # int() of an id past 4,300 digits
                    raise _order_error("a ticket id or nextCursor has more digits than int() reads") from None
                following = page.next_cursor
                empty = empty + 1 if not page.tickets and following is not None else 0
                if empty >= MAX_EMPTY_PAGES:
                    raise _order_error(
                        f"the server sent {empty} empty pages in a row, each with a nextCursor "
                        f"(the last {following!r}): stopping instead of walking down one id at a time"
                    )
                if guess is not None:
                    guessed, task = guess
                    guess = None
                    if following is not None and guessed == following:
                        ahead = task
                    else:
                        await _drop(task)
                if ahead is None and following is not None and prefetch:
                    ahead = asyncio.ensure_future(fetch(following, peek_for(following)))
                    track(ahead)
                if tickets:
                    for ticket in page.tickets:
                        self._cursor = ticket.id
                        yield ticket
                else:
                    if page.tickets:
                        self._cursor = page.tickets[-1].id
                    yield page
                if following is None:
                    self._exhausted = True
                    return
                cursor = following
                waiting = True
                callers = contextvars.copy_context()
                if ahead is not None:
                    try:
                        page, ahead = await await_tracked(ahead), None
                    except (PoolTimeout, RateLimitTimeout):
                        # It waited (for the pool, or the desk's rate limit) while the caller
                        # worked, and gave up: nothing was sent. Ask now, as without prefetch.
                        ahead = None
                        page = await fetch(following, None)
                else:
                    page = await fetch(following, None)
        finally:
            waiting = False  # nothing starts from here on
            await _drop(ahead, None if guess is None else guess[1])


def _numeric(digits: str) -> tuple[int, str]:
    """A key that orders digit strings as the numbers they write, without
    ``int()`` (which refuses more than 4,300 digits)."""
    bare = digits.lstrip("0")
    return len(bare), bare


async def _drop(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel fetches no longer wanted, all of them first, and wait for them,
    so their connections are released before the stream goes on, and retrieve
    their outcomes, so asyncio does not warn about them."""
    present = [task for task in tasks if task is not None]
    for task in present:
        if not task.done():
            task.cancel()
    await settle(*present)


_Gen = AsyncGenerator[Any, None]
_T = TypeVar("_T")


class _Skipped:
    """The result of a fetch left out (``skip_missing``): never handed out."""


_SKIPPED: Final = _Skipped()


def fetch_many(
    fetch: Callable[[str], Awaitable[_T]],
    ids: object,
    *,
    concurrency: object,
    missing: object,
    scopes: frozenset[str] | None,
    pool: int | None,
    track: Track,
    name: str,
) -> AsyncGenerator[_T, None]:
    """``AsyncDesk.get_tickets()`` and its siblings: the arguments checked as
    the iteration starts (before any I/O), a warning when ``concurrency`` is
    above the desk's ``pool`` of connections, then ``fetch_in_order``.

    Raises ``InvalidArgumentType``/``InvalidArgument`` for bad arguments and
    ``InsufficientScope`` when ``scopes`` lack ``get_ticket``'s, then what
    ``fetch_in_order`` raises. (One async generator, not one wrapping another:
    nested ones freed together by the garbage collector are closed twice.)
    """

    def checked() -> tuple[Iterable[str], int, bool]:
        keys = check_ticket_keys(ids)
        limit = check_positive_int("concurrency", concurrency)
        skip = check_missing(missing)
        require_scope(ROUTES["get_ticket"], scopes)
        size = limit if pool is None else pool
        if limit > size:
            logger.warning(
                "%s(concurrency=%d) is above the desk's pool of %d connection%s: at most %d requests "
                "run at once (raise AsyncDesk(max_connections=...) to run more)",
                name, limit, size, "" if size == 1 else "s", size,
            )  # fmt: skip
        return keys, limit, skip

    return fetch_in_order(fetch, checked, track=track, name=name)


async def fetch_in_order(
    fetch: Callable[[str], Awaitable[_T]],
    checked: Callable[[], tuple[Iterable[str], int, bool]],
    *,
    track: Track,
    name: str = "fetch",
) -> AsyncGenerator[_T, None]:
    """``fetch(key)`` for every key, at most ``concurrency`` at once, yielded
    in the keys' order, where ``checked()`` gives ``(keys, concurrency,
    skip_missing)`` as the iteration starts (so that the caller's argument
    checks raise at the first ``anext``, not at the call).

    ``keys`` is read lazily, only as the window has room, so an endless
    iterator works; one whose ``next()`` raises (a bad id, or the iterator's own error)
    fails at its place in the order, and no key after it is read.

    Up to twice ``concurrency`` fetches are started ahead, so one slow head
    does not drain the pipe. The first failure is raised at its place in the
    order, after the results before it were yielded, with a note naming its
    key (``name`` says which call); the fetches after it are cancelled (and
    awaited) when the generator ends, however it ends. With ``skip_missing``
    a ``TicketNotFound`` leaves its key out instead.
    """
    keys, concurrency, skip_missing = checked()
    gate = asyncio.Semaphore(concurrency)

    async def one(key: str) -> _T | _Skipped:
        async with gate:
            try:
                return await fetch(key)
            except TicketNotFound:
                if skip_missing:
                    return _SKIPPED
                raise
            except HeadoniError as exc:
                exc.add_note(f"{name}: while fetching ticket {key}")
                raise

    window: collections.deque[asyncio.Task[_T | _Skipped]] = collections.deque()
    pending = iter(keys)
    more = True

    def launch() -> None:
        nonlocal more
        while more and len(window) < 2 * concurrency:  # keep the pipe full past a slow head
            try:
                key = next(pending)
            except StopIteration:
                more = False
                return
            except Exception as exc:  # noqa: BLE001 - a bad key, or the ids' own iterator failing:
                more = False  # raised at its place, after the results before it; nothing after it starts
                task: asyncio.Task[_T | _Skipped] = asyncio.ensure_future(_fail(exc))
            else:
                task = asyncio.ensure_future(one(key))
            track(task)
            window.append(task)

    try:
        launch()
        while window:
            result = await await_tracked(window[0])
            del window[0]
            launch()
            if not isinstance(result, _Skipped):
                yield result
    finally:
        for task in window:
            task.cancel()
        await settle(*window)


async def _fail(exc: Exception) -> Any:
    raise exc


async def await_tracked(task: asyncio.Task[_T]) -> _T:
    """Await a task the desk tracks. If the desk cancelled it (``close()``)
    while this task was not itself cancelled, say so with ``DeskClosed``
    instead of a bare ``CancelledError``."""
    try:
        return await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
    # Raised outside the handler: chained to the CancelledError, it would keep
    # the fetch's frames (aiohttp's hold the request's headers, token included).
    raise DeskClosed("the desk was closed while this call was in progress")


async def settle(*tasks: asyncio.Future[Any]) -> None:
    """Wait for helper tasks (cancelled or not) and retrieve their outcomes,
    without ever swallowing a cancellation of the task that waits: that one
    propagates, the helpers' own failures and cancellations do not. Every
    helper is waited for, even when the waiting task is cancelled on the way
    (its cancellation is raised at the end), so that none is left running."""
    cancelled: asyncio.CancelledError | None = None
    for task in tasks:
        try:
            await task
        except asyncio.CancelledError as exc:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                cancelled = exc
        except BaseException:  # noqa: BLE001, S110 - the helper's outcome (a hook's KeyboardInterrupt
            pass  # included: asyncio already raised that one from the helper's own step), retrieved
    if cancelled is not None:
        raise cancelled


async def _end(gen: _Gen | None) -> None:
    """Close an earlier iteration of a stream, unless another task is inside it."""
    if gen is None or getattr(gen, "ag_frame", None) is None:
        # Finished or closed. (CPython before 3.13 can leave ag_running set
        # after an aclose() whose cleanup awaited: the frame tells the truth.)
        return
    if getattr(gen, "ag_running", False):
        raise InvalidArgument("this TicketStream is being iterated by another task")
    with contextlib.suppress(RuntimeError):  # a finalizer is closing it already
        await gen.aclose()


def _cut_at(page: TicketPage, since: int) -> TicketPage:
    """The part of an (ordered) page above ``since``; its ``next_cursor`` is
    ``None`` when no ticket above ``since`` can follow."""
    tickets = page.tickets
    keep = len(tickets)
    for index, ticket in enumerate(tickets):
        if int(ticket.id) <= since:
            keep = index
            break
    nxt = page.next_cursor
    if keep < len(tickets) or (nxt is not None and int(nxt) <= since + 1):
        return TicketPage(tickets[:keep], None, page.records[:keep])
    return page


def _check_order(page: TicketPage, cursor: str | None) -> None:
    # Keyset pages hold ids strictly below the cursor, newest first. Anything
    # else would hand out a ticket twice or loop forever: refuse it. It runs on
    # every page of every stream, so it is written with C-level loops, and it
    # compares ids of one length as strings: for digit strings of equal length
    # that is their numeric order, with no int() parse. Ids of several lengths
    # (a page across a power of ten, or leading zeros) take the exact numeric path.
    ids = list(map(_ID, page.tickets))
    joined = "".join(ids)
    if ids and not (joined.isascii() and joined.isdigit() and all(ids)):
        raise _order_error("a ticket id is not all digits")
    nxt = page.next_cursor
    keys: list[Any] = ids if cursor is None else [cursor, *ids]
    if len(set(map(len, keys if nxt is None else [*keys, nxt]))) > 1:
        keys = list(map(int, keys))
        nxt_key: Any = None if nxt is None else int(nxt)
    else:
        nxt_key = nxt
    if not all(map(operator.gt, keys, keys[1:])):
        raise _order_error(f"ticket ids break the id-descending order after cursor {cursor!r}")
    # A next cursor above the page's last ticket (or the cursor itself) would walk back up.
    if nxt_key is not None and keys and (nxt_key > keys[-1] if ids else nxt_key >= keys[-1]):
        raise _order_error(f"nextCursor {nxt!r} does not move below the page's tickets")


_ID: Final = operator.attrgetter("id")


def _order_error(text: str) -> ResponseDecodeError:
    route = ROUTES["list_tickets"]
    return ResponseDecodeError(text, method=route.method, path=route.template)
