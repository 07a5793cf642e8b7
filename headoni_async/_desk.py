"""AsyncDesk: the session's lifecycle, one generic ``_request()``, and thin
endpoint methods over it."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Final, Literal, TypeVar

import aiohttp

from . import _protocol as proto
from ._cache import TTLCache
from ._config import ENV_VARIABLES, RetryPolicy, Timeouts, env_settings
from ._errors import (
    DeskClosed,
    HeadoniError,
    InvalidArgument,
    InvalidArgumentType,
    ResponseDecodeError,
    ServerError,
    TicketNotFound,
    TransportError,
    error_from_response,
    note_unknown_outcome,
)
from ._loopbind import LoopBinding
from ._models import (
    CreatedTicket,
    Department,
    Priority,
    StatusType,
    Ticket,
    TicketPage,
    TicketRecord,
    TicketSummary,
    TicketType,
    decode_created,
    decode_departments,
    decode_page,
    decode_ticket,
    decode_ticket_record,
    decode_ticket_types,
)
from ._pager import TicketStream, await_tracked
from ._retry import call_with_retries
from ._routes import ROUTES, Route
from ._transport import DEFAULT_MAX_RESPONSE_BYTES, RawResponse, interrupt_reads, send
from ._version import VERSION
from ._watch import watch_tickets

__all__ = ["AsyncDesk"]

logger: Final = logging.getLogger("headoni_async")
_T = TypeVar("_T")
_USER_AGENT: Final = f"headoni-async/{VERSION} aiohttp/{aiohttp.__version__}"


class AsyncDesk:
    """An asyncio client for one Headoni desk, with one pooled, keep-alive session.

    ::

        async with AsyncDesk("acme", token="hd_...", scopes={"tickets:read"}) as desk:
            async for ticket in desk.tickets(status="open"):
                ...

    Args:
        desk: the desk's slug (``acme`` for ``acme.headoni.app``). A custom
            portal domain does not serve the API and is refused.
        token: the desk's API token (``hd_...``). It is sent only to this
            desk's API host and never appears in a repr, log or error.
        scopes: the scopes the token holds, if known. A call whose route needs
            another raises ``InsufficientScope`` before any network I/O.
            ``None`` checks nothing locally.
        base_url: replaces ``https://<desk>.headoni.app/api/v1`` (e.g. a local
            fake desk at ``http://127.0.0.1:8080/api/v1``); plain http is
            allowed only on loopback hosts.
        retry: the ``RetryPolicy``. timeouts: the per-attempt ``Timeouts``.
        max_connections: the pool's size (connections kept alive and reused).
        session: an ``aiohttp.ClientSession`` to use as is; it is never closed
            by the desk. With it, aiohttp's own single re-send of an idempotent
            request on a stale keep-alive connection stays on, and the
            session's proxy and ``.netrc`` settings apply.
        trust_env: let the desk's own session read proxies and ``.netrc``
            from the environment (off by default: no ambient credentials).
        max_response_bytes: a body past this is ``ResponseTooLarge``.
        cache_ttl: seconds that ``departments()`` and ``ticket_types()`` keep
            their answer (they change rarely); within it they send no request.
            0 (the default) caches nothing. ``clear_cache()`` forgets early.

    The desk may be used with ``async with`` or closed with ``await desk.close()``.

    Raises:
        InvalidArgument: a bad slug, token, base_url, scope or limit (a ``ValueError``).
        InvalidArgumentType: an argument of the wrong type (a ``TypeError``).
    """

    def __init__(
        self,
        desk: str,
        token: str,
        *,
        scopes: Iterable[str] | None = None,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        max_connections: int = 32,
        session: aiohttp.ClientSession | None = None,
        trust_env: bool = False,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        cache_ttl: float = 0.0,
    ) -> None:
        self._desk = proto.check_desk_slug(desk)
        self._base_url = proto.desk_base_url(self._desk, base_url)
        self._headers: Final = {**proto.auth_headers(proto.check_token(token)), "User-Agent": _USER_AGENT}
        self._scopes = proto.check_scopes(scopes)
        self._retry = _typed("retry", retry, RetryPolicy) or RetryPolicy()
        self._timeouts = _typed("timeouts", timeouts, Timeouts) or Timeouts()
        self._max_connections = _positive_int("max_connections", max_connections)
        self._max_bytes = _positive_int("max_response_bytes", max_response_bytes)
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise InvalidArgumentType("session must be an aiohttp.ClientSession")
        self._session = session
        self._owns_session = session is None
        self._trust_env = bool(trust_env)
        self._closed = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._inflight: set[aiohttp.ClientResponse] = set()
        self._client_timeout = self._make_timeout(None)
        self._retries = 0
        self._loop = LoopBinding(self.close, self._desk)
        self._cache = TTLCache(_seconds("cache_ttl", cache_ttl))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> AsyncDesk:
        """A desk configured from the environment (or ``environ``):

        - ``HEADONI_DESK`` (required): the desk's slug;
        - ``HEADONI_TOKEN`` (required): its API token;
        - ``HEADONI_BASE_URL`` (optional): replaces the desk's API URL;
        - ``HEADONI_SCOPES`` (optional): the token's scopes, separated by
          commas or spaces (``tickets:read,tickets:create``).

        An empty variable counts as unset. ``options`` are the other keyword
        arguments of ``AsyncDesk`` (``retry``, ``timeouts``, ``rate_limit``, ...).
        The values get the same checks as the constructor's arguments.

        Raises:
            InvalidArgument: a required variable is missing (the message names
                it), or a value fails its check (the message names the
                variable, never the token's value).
            InvalidArgumentType: ``options`` names ``desk``, ``token``,
                ``base_url`` or ``scopes`` (those come from the environment), or
                an option of the wrong type.
        """
        settings = env_settings(os.environ if environ is None else environ)
        clash = sorted(set(settings) & set(options))
        if clash:
            raise InvalidArgumentType(
                f"from_env() reads {', '.join(clash)} from the environment; do not pass them"
            )
        for name, variable in ENV_VARIABLES.items():
            try:
                _ENV_CHECKS[name](settings[name])
            except InvalidArgument as exc:
                raise InvalidArgument(f"{variable}: {exc}") from None
        return cls(settings.pop("desk"), settings.pop("token"), **settings, **options)

    # ------------------------------------------------------------------ lifecycle

    def __repr__(self) -> str:
        scopes = "unchecked" if self._scopes is None else sorted(self._scopes)
        state = "closed" if self._closed else "open"
        return f"<AsyncDesk {self._desk!r} base_url={self._base_url!r} scopes={scopes} {state}>"

    @property
    def desk(self) -> str:
        """The desk's slug."""
        return self._desk

    @property
    def base_url(self) -> str:
        """The API base URL requests go to."""
        return self._base_url

    @property
    def scopes(self) -> frozenset[str] | None:
        """The declared scopes, or ``None`` when they are not checked locally."""
        return self._scopes

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._closed

    @property
    def retries(self) -> int:
        """How many retries this desk has scheduled so far (for progress displays)."""
        return self._retries

    async def __aenter__(self) -> AsyncDesk:
        self._get_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Cancel prefetches and bulk fetches still running, and close the desk's
        own session (an injected session is left open). Idempotent."""
        self._closed = True
        await self._loop.release()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        interrupt_reads(self._inflight)
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        self._loop.check()
        if self._closed:
            raise DeskClosed(f"the desk {self._desk!r} is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0)
            session = aiohttp.ClientSession(
                connector=connector,
                trust_env=self._trust_env,
                auto_decompress=True,
            )
            # aiohttp re-sends an idempotent request once, silently, when a
            # kept-alive connection turns out stale. Our RetryPolicy already
            # retries that failure, so turn the hidden one off: `attempts`
            # is then the exact number of sends the server sees.
            if hasattr(session, "_retry_connection"):
                session._retry_connection = False
            self._session = session
        return self._session

    def _make_timeout(self, remaining: float | None) -> aiohttp.ClientTimeout:
        t = self._timeouts
        total = t.total
        if remaining is not None:
            total = remaining if total is None else min(total, remaining)
        return aiohttp.ClientTimeout(total=total, connect=t.connect, sock_read=t.read)

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ the request path

    async def _request(
        self,
        route: Route,
        *,
        path: str | None = None,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one API call with retries and return its decoded JSON body.

        Raises ``InsufficientScope`` before any I/O when the declared scopes
        lack the route's; ``APIError`` subclasses for error statuses;
        ``TransportError`` subclasses; ``ResponseDecodeError``; ``DeskClosed``.
        """
        proto.require_scope(route, self._scopes)
        session = self._get_session()
        url_path = path or route.path
        url = self._base_url + url_path
        headers: Mapping[str, str] = self._headers
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            headers = {**headers, "Content-Type": "application/json"}
        label = f"{route.method} {route.path}"
        sent = 0

        async def attempt(remaining: float) -> RawResponse:
            nonlocal sent
            sent += 1
            if self._closed:
                raise DeskClosed(f"the desk {self._desk!r} was closed during {label}")
            total = self._timeouts.total
            if total is not None and total <= remaining:
                timeout = self._client_timeout
            else:  # the retry deadline is nearer than the per-attempt total
                timeout = self._make_timeout(max(remaining, 0.001))
            started = time.perf_counter()
            try:
                raw = await send(
                    session,
                    route.method,
                    url,
                    path=route.path,
                    headers=headers,
                    params=params,
                    data=data,
                    timeout=timeout,
                    max_bytes=self._max_bytes,
                    inflight=self._inflight,
                )
            except TransportError as exc:
                _log_attempt(route.method, url_path, type(exc).__name__, sent, started)
                if self._closed:  # the failure is the close itself: say so, and do not retry
                    raise DeskClosed(f"the desk {self._desk!r} was closed during {label}") from None
                raise
            _log_attempt(route.method, url_path, raw.status, sent, started)
            if raw.status >= 300:
                raise error_from_response(
                    raw.status,
                    _loads_or_none(raw.body),
                    headers=raw.headers,
                    method=route.method,
                    path=route.path,
                )
            return raw

        try:
            raw = await call_with_retries(
                attempt,
                policy=self._retry,
                idempotent=route.idempotent,
                label=label,
                sleep=asyncio.sleep,
                on_retry=self._count_retry,
            )
        except (TransportError, ServerError) as exc:
            reached = exc.may_have_reached_server if isinstance(exc, TransportError) else True
            if not route.idempotent and reached:
                note_unknown_outcome(exc)
            raise
        try:
            return proto.json_loads(raw.body)
        except ValueError:
            raise ResponseDecodeError(
                f"the {raw.status} response body is not JSON", method=route.method, path=route.path
            ) from None

    def _count_retry(self) -> None:
        self._retries += 1

    # ------------------------------------------------------------------ endpoints

    async def create_ticket(
        self,
        *,
        email: str,
        subject: str,
        body: str,
        name: str | None = None,
        priority: Priority | str | None = None,
        department_id: str | None = None,
        ticket_type_id: str | None = None,
    ) -> CreatedTicket:
        """Create a ticket for the end user ``email`` (created on first use).

        Needs ``tickets:create``. Never sent twice: it is retried only when the
        connection was never established. If it fails after the request may
        have reached the server (``TransportError.may_have_reached_server``),
        the ticket may or may not exist: look it up before creating it again.

        Raises:
            InvalidArgumentType: a field of the wrong type (before any I/O).
            InvalidBody: the server refused a field; ``issues`` says which.
            DepartmentNotFound, TicketTypeNotFound: an unknown routing id.
            InsufficientScope, Unauthenticated, TokenDeskMismatch, TransportError,
            ResponseDecodeError: as for every call.
        """
        payload = proto.create_body(
            email=email,
            subject=subject,
            body=body,
            name=name,
            priority=priority,
            department_id=department_id,
            ticket_type_id=ticket_type_id,
        )
        route = ROUTES["create_ticket"]
        return decode_created(await self._request(route, body=payload))

    async def get_ticket(self, id_or_number: int | str) -> Ticket:
        """One ticket with its public messages, by number (``int``, e.g. 1247)
        or id (a str of digits). Needs ``tickets:read``.

        A digit string is sent as given; the server tries it as a number first.

        Raises:
            InvalidId: not all digits (before any I/O; also a ``ValueError``).
            InvalidArgumentType: a bool, float or other type.
            TicketNotFound: no such ticket on this desk (``id_or_number`` and
                the message name the ticket asked for).
            InsufficientScope, Unauthenticated, TokenDeskMismatch, TransportError,
            ResponseDecodeError: as for every call.
        """
        return decode_ticket(await self._ticket_body(id_or_number), path=ROUTES["get_ticket"].path)

    async def get_ticket_record(self, id_or_number: int | str) -> TicketRecord:
        """``get_ticket()`` plus the server's own JSON: a ``TicketRecord`` whose
        ``record`` is the response's ``ticket`` object exactly as sent (every
        field, known or not; no envelope), from the same single request.

        Raises what ``get_ticket()`` raises.
        """
        return decode_ticket_record(await self._ticket_body(id_or_number), path=ROUTES["get_ticket"].path)

    async def _ticket_body(self, id_or_number: int | str) -> Any:
        key = proto.id_or_number(id_or_number)
        try:
            return await self._request(ROUTES["get_ticket"], path=f"/tickets/{key}")
        except TicketNotFound as exc:
            exc.name_ticket(key)
            raise

    async def departments(self) -> list[Department]:
        """Every department of the desk, private ones included, by name. Needs ``tickets:read``.

        With ``cache_ttl``, an answer younger than that is returned without a
        request (a new list each time; a failure is never cached).

        Raises the errors every call raises (see ``HeadoniError``).
        """
        route = ROUTES["departments"]
        return list(await self._cached(route, lambda: self._lookup(route, decode_departments)))

    async def ticket_types(self) -> list[TicketType]:
        """Every non-archived ticket type, in the desk's order. Needs ``tickets:read``.

        With ``cache_ttl``, an answer younger than that is returned without a
        request (a new list each time; a failure is never cached).

        Raises the errors every call raises (see ``HeadoniError``).
        """
        route = ROUTES["ticket_types"]
        return list(await self._cached(route, lambda: self._lookup(route, decode_ticket_types)))

    def clear_cache(self) -> None:
        """Forget the cached departments and ticket types (see ``cache_ttl``)."""
        self._cache.clear()

    async def _cached(self, route: Route, fetch: Callable[[], Awaitable[Any]]) -> Any:
        proto.require_scope(route, self._scopes)
        if self._closed:
            raise DeskClosed(f"the desk {self._desk!r} is closed")
        return await self._cache.get(route.name, fetch)

    async def _lookup(self, route: Route, decode: Callable[[Any], _T]) -> _T:
        return decode(await self._request(route))

    async def ticket_page(
        self,
        *,
        cursor: str | None = None,
        page_size: int = proto.MAX_PAGE_SIZE,
        status: StatusType | str | int | None = None,
        requester_email: str | None = None,
    ) -> TicketPage:
        """One page of ``GET /tickets`` (most callers want ``tickets()``).

        Raises:
            InvalidArgument, InvalidStatus, InvalidArgumentType: before any I/O.
            InvalidQuery, InsufficientScope, ...: as for every call.
        """
        query = proto.list_query(
            limit=proto.check_page_size(page_size),
            cursor=proto.check_cursor(cursor),
            status=None if status is None else proto.status_filter(status),
            requester_email=_optional_str("requester_email", requester_email),
        )
        return await self._fetch_page(query)

    async def _fetch_page(self, query: Mapping[str, str]) -> TicketPage:
        return decode_page(await self._request(ROUTES["list_tickets"], params=query))

    def tickets(
        self,
        *,
        status: StatusType | str | int | None = None,
        requester_email: str | None = None,
        page_size: int = proto.MAX_PAGE_SIZE,
        cursor: str | None = None,
        prefetch: bool = True,
        since_id: str | None = None,
    ) -> TicketStream:
        """Stream ticket summaries, newest first, across every page.

        ``status`` is a ``StatusType``, a keyword or a numeric status id;
        ``requester_email`` is matched exactly (the server lowercases it);
        ``cursor`` resumes right after the ticket with that id (a previous
        stream's ``cursor``). ``since_id`` (a ticket id) yields only tickets
        whose id is greater and stops the walk at the first page that reaches
        it, requesting no page past it: what an incremental mirror needs.
        With ``prefetch`` the next page is fetched while the caller works on
        the current one. Each page's ``records`` are the server's own JSON of
        its tickets. Needs ``tickets:read``.

        Raises (here, before any I/O): ``InsufficientScope``,
        ``InvalidStatus``, ``InvalidArgument``, ``InvalidArgumentType``, and
        ``DeskClosed``. Iterating raises what every call raises.
        """
        proto.require_scope(ROUTES["list_tickets"], self._scopes)
        if self._closed:
            raise DeskClosed(f"the desk {self._desk!r} is closed")
        limit = proto.check_page_size(page_size)
        status_value = None if status is None else proto.status_filter(status)
        email = _optional_str("requester_email", requester_email)
        start = proto.check_cursor(cursor)
        since = proto.check_since_id(since_id)

        def fetch(page_cursor: str | None) -> Awaitable[TicketPage]:
            query = proto.list_query(
                limit=limit, cursor=page_cursor, status=status_value, requester_email=email
            )
            return self._fetch_page(query)

        return TicketStream(fetch, cursor=start, prefetch=bool(prefetch), track=self._track, since_id=since)

    def watch(self, *, interval: float = 10.0, since_id: str | None = None) -> AsyncIterator[TicketSummary]:
        """Watch for new tickets: yield each ticket created after ``since_id``
        (default: the newest ticket when watching starts), oldest first, then
        poll every ``interval`` seconds for more, until the caller stops.

        Each poll walks the newest-first list only down to the last ticket
        already handed out (usually one request). A poll that fails with a
        ``TransportError``, ``ServerError`` or ``RateLimited`` is logged
        (WARNING) and tried again after ``interval`` (or the 429's
        ``Retry-After``, if longer, up to 10 minutes); no ticket is skipped
        or repeated. ``break``, ``aclose()`` or cancelling the task stops the
        watch and releases its connection. Ids are assumed to grow with
        creation time, as the API's snowflake ids do. Needs ``tickets:read``.

        ::

            async for ticket in desk.watch(interval=5):
                await announce(f"New ticket [#{ticket.number}] {ticket.subject}")

        Raises (here, before any I/O): ``InvalidArgument`` for an interval
        that is not a positive number of seconds or a ``since_id`` that is not
        an id, ``InsufficientScope``, ``DeskClosed``. Iterating raises any
        other failure (``Unauthenticated``, ``InsufficientScope``,
        ``ResponseDecodeError``, ``DeskClosed``, ...).
        """
        wait = _seconds("interval", interval)
        if wait <= 0:
            raise InvalidArgument("interval must be a positive number of seconds")
        since = proto.check_since_id(since_id)
        proto.require_scope(ROUTES["list_tickets"], self._scopes)
        if self._closed:
            raise DeskClosed(f"the desk {self._desk!r} is closed")

        def stream(after: str | None, page_size: int) -> TicketStream:
            return self.tickets(since_id=after, page_size=page_size, prefetch=False)

        return watch_tickets(stream, since_id=since, interval=wait)

    def get_tickets(
        self,
        ids: Iterable[int | str],
        *,
        concurrency: int = 8,
        missing: Literal["raise", "skip"] = "raise",
    ) -> AsyncIterator[Ticket]:
        """Fetch many tickets (numbers or ids) with at most ``concurrency``
        requests in flight, yielding them in input order.

        The ids are checked before any request. The first failure is raised at
        its place in the order, after the tickets before it were yielded; the
        fetches after it are cancelled. Every failure names its ticket (a
        ``TicketNotFound`` in its message, any other in a note on the
        exception, which tracebacks show). With ``missing="skip"`` a ticket
        that does not exist (``TicketNotFound``) is left out and the rest go
        on; any other failure still stops the fetch.

        Raises:
            InvalidId, InvalidArgumentType, InvalidArgument: before any I/O.
            TicketNotFound and what every call raises, in order.
        """
        return self._fetch_many(ids, concurrency, missing, self.get_ticket, "get_tickets")

    def get_ticket_records(
        self,
        ids: Iterable[int | str],
        *,
        concurrency: int = 8,
        missing: Literal["raise", "skip"] = "raise",
    ) -> AsyncIterator[TicketRecord]:
        """Like ``get_tickets()``, yielding a ``TicketRecord`` (the typed ticket
        and the server's own JSON of it, from one request) per id, in input order.

        Raises what ``get_tickets()`` raises, at the same moments.
        """
        return self._fetch_many(ids, concurrency, missing, self.get_ticket_record, "get_ticket_records")

    async def _fetch_many(
        self,
        ids: Iterable[int | str],
        concurrency: int,
        missing: str,
        fetch: Callable[[str], Awaitable[_T]],
        name: str,
    ) -> AsyncIterator[_T]:
        keys = [proto.id_or_number(x) for x in _iterable("ids", ids)]
        limit = _positive_int("concurrency", concurrency)
        if missing not in ("raise", "skip"):
            raise InvalidArgument(f"missing must be 'raise' or 'skip', not {missing!r}")
        skip = missing == "skip"
        proto.require_scope(ROUTES["get_ticket"], self._scopes)
        gate = asyncio.Semaphore(limit)

        async def one(key: str) -> _T | None:
            async with gate:
                try:
                    return await fetch(key)
                except TicketNotFound:
                    if skip:
                        return None
                    raise
                except HeadoniError as exc:
                    exc.add_note(f"{name}: while fetching ticket {key}")
                    raise

        window: collections.deque[asyncio.Task[_T | None]] = collections.deque()
        pending = iter(keys)

        def launch() -> None:
            for key in pending:
                task = asyncio.ensure_future(one(key))
                self._track(task)
                window.append(task)
                if len(window) >= 2 * limit:  # keep the pipe full past a slow head
                    return

        try:
            launch()
            while window:
                item = await await_tracked(window[0])
                del window[0]
                launch()
                if item is not None:
                    yield item
        finally:
            for task in window:
                task.cancel()
            if window:
                with contextlib.suppress(BaseException):
                    await asyncio.gather(*window, return_exceptions=True)


_ENV_CHECKS: Final[Mapping[str, Any]] = {
    "desk": proto.check_desk_slug,
    "token": proto.check_token,
    "base_url": lambda url: url is None or proto.desk_base_url("acme", url),
    "scopes": proto.check_scopes,
}


def _log_attempt(method: str, path: str, outcome: int | str, number: int, started: float) -> None:
    # One DEBUG record per attempt: what was sent, what came of it, never a header.
    if logger.isEnabledFor(logging.DEBUG):
        elapsed = (time.perf_counter() - started) * 1000
        logger.debug("%s %s -> %s (attempt %d) in %.1f ms", method, path, outcome, number, elapsed)


def _loads_or_none(body: bytes) -> Any:
    try:
        return proto.json_loads(body) if body else None
    except ValueError:
        return None


def _typed(name: str, value: _T | None, cls: type[_T]) -> _T | None:
    if value is not None and not isinstance(value, cls):
        raise InvalidArgumentType(f"{name} must be a {cls.__name__}")
    return value


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentType(f"{name} must be an int")
    if value < 1:
        raise InvalidArgument(f"{name} must be at least 1, not {value}")
    return value


def _seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgumentType(f"{name} must be a number of seconds")
    if not 0 <= value < float("inf"):
        raise InvalidArgument(f"{name} must be a finite number of seconds, at least 0, not {value!r}")
    return float(value)


def _optional_str(name: str, value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InvalidArgumentType(f"{name} must be a str")
    return value


def _iterable(name: str, value: object) -> Iterable[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidArgumentType(f"{name} must be an iterable of ticket numbers or ids, not a single value")
    return value
