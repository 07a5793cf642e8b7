"""AsyncDesk: the desk's lifecycle, one generic ``_request()`` (the retry loop
around the transport's ``send`` and the pure response step), and thin
endpoint methods over it. Everything aiohttp lives in ``_transport``."""

from __future__ import annotations

import asyncio
import copy
import math
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any, Final, Literal, NoReturn, SupportsIndex, TypeVar

from . import _protocol as proto
from ._cache import TTLCache
from ._config import RetryPolicy, Timeouts, env_settings
from ._errors import (
    APIError,
    DeskClosed,
    HeadoniError,
    InvalidArgument,
    RateLimited,
    ResponseDecodeError,
    ServerError,
    TicketNotFound,
    TransportError,
    note_unknown_outcome,
    parse_retry_after,
)
from ._hooks import Hooks, HookSet
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
    page_from_bytes,
)
from ._pager import TicketStream, fetch_many
from ._ratelimit import Pacer, RateLimit
from ._redact import Redactor, drop_frames, without_frames
from ._retry import call_with_retries
from ._routes import ROUTES, Route
from ._transport import DEFAULT_MAX_RESPONSE_BYTES, Request, Sender, Session, Transport
from ._views import CallOptions, Shared
from ._watch import watch_tickets

__all__ = ["AsyncDesk"]

_T = TypeVar("_T")


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
        max_connections: the pool's size (connections kept alive and reused),
            and so the most requests this desk and its views run at once (with
            an injected ``session`` too). A request waits at most
            ``Timeouts.pool`` for one, then fails with ``PoolTimeout``.
        session: an ``aiohttp.ClientSession`` to use as is; it is never closed
            by the desk. With it, aiohttp's own single re-send of an idempotent
            request on a stale keep-alive connection stays on, and the
            session's proxy and ``.netrc`` settings apply.
        trust_env: let the desk's own session read proxies and ``.netrc``
            from the environment (off by default: no ambient credentials).
            It applies to an https base URL only: a plain-http (loopback)
            one never goes through a proxy, which would see the token.
        max_response_bytes: a body past this is ``ResponseTooLarge``.
        cache_ttl: seconds that ``departments()`` and ``ticket_types()`` keep
            their answer (they change rarely); within it they send no request.
            0 (the default) caches nothing. ``clear_cache()`` forgets early.
        hooks: a ``Hooks`` (or a list of them) told about every request, as
            ``RequestEvent`` values that never hold the token or a header
            (``headoni_async.otel.otel_hooks()`` builds OpenTelemetry spans on them).
        rate_limit: a ``RateLimit`` (or an int: requests per second) shared by
            every request of this desk and its ``with_options()`` views:
            lookups, creates, stream pages, prefetches, bulk fetches, retries.
            A 429 with ``Retry-After`` (still raised as ``RateLimited``) then
            holds every later request until that time (capped by
            ``RateLimit.max_retry_after``); a wait that would pass a call's
            deadline is a ``RateLimitTimeout`` instead.

    The desk may be used with ``async with`` or closed with ``await desk.close()``.
    It cannot be pickled or deep-copied (``TypeError``): it holds the token and live
    connections; make one per process, and ``with_options()`` for a variant.

    Raises:
        InvalidArgument: a bad slug, token, base_url, scope or limit (a ``ValueError``).
        InvalidArgumentType: an argument of the wrong type (a ``TypeError``),
            ``hooks`` that are not ``Hooks`` values, or a ``rate_limit`` that is
            neither a ``RateLimit`` nor an int.
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
        session: Session | None = None,
        trust_env: bool = False,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        cache_ttl: float = 0.0,
        hooks: Hooks | Iterable[Hooks] | None = None,
        rate_limit: RateLimit | int | None = None,
        _transport: Sender | None = None,
    ) -> None:
        try:
            self._desk = proto.check_desk_slug(desk)
            self._base_url = proto.desk_base_url(self._desk, base_url)
            self._scopes = proto.check_scopes(scopes)
            # A view replaces these (with_options); the desk's own timeouts are the transport's.
            self._options = CallOptions().replaced(retry=retry)
            self._hooks = HookSet(hooks)
            limit = RateLimit(requests=rate_limit) if isinstance(rate_limit, int) else rate_limit
            limit = proto.check_instance("rate_limit", limit, RateLimit)
            self._pacer = None if limit is None else Pacer(limit)
            token = proto.check_token(token)
            # Takes the token out of any text the server echoes into an error.
            self._redact: Final = Redactor(token)
            # A Sender given by a test replaces the aiohttp transport (and its settings).
            self._transport: Final = _transport or Transport(
                self._base_url,
                token,
                timeouts=proto.check_instance("timeouts", timeouts, Timeouts) or Timeouts(),
                max_connections=proto.check_positive_int("max_connections", max_connections),
                max_response_bytes=proto.check_positive_int("max_response_bytes", max_response_bytes),
                session=session,
                # Never an environment proxy (nor .netrc) for plain http: the token
                # would reach the proxy in clear text (plain http is loopback only).
                trust_env=proto.check_bool("trust_env", trust_env) and self._base_url.startswith("https://"),
                pace=self._pacer,
            )
            # A with_options() view shares everything but _options and _is_view.
            self._shared = Shared()
            self._tasks: set[asyncio.Task[Any]] = set()
            self._is_view = False
            self._where = proto.server_of(self._base_url)
            self._loop = LoopBinding(self.close, self._desk)
            self._cache = TTLCache(proto.check_seconds("cache_ttl", cache_ttl))
        except Exception as exc:  # noqa: BLE001 - any refusal, whatever its type, loses these frames
            # The refusal of any argument passes through this frame, whose
            # locals an error tracker captures: the token leaves it first,
            # and the frames of the checks that held it are cut.
            del token
            raise without_frames(exc)  # noqa: B904 - re-raised as itself, not chained

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
        try:
            settings = env_settings(os.environ if environ is None else environ)
            proto.check_env_settings(settings, options)
            return cls(settings.pop("desk"), settings.pop("token"), **settings, **options)
        except Exception as exc:  # noqa: BLE001 - any refusal, whatever its type, loses these frames
            # The environment and the settings read from it hold the token:
            # neither stays in this frame's locals, nor the checks' frames.
            environ = settings = None
            raise without_frames(exc)  # noqa: B904 - re-raised as itself, not chained

    # ------------------------------------------------------------------ lifecycle

    def __copy__(self) -> AsyncDesk:
        # A with_options() view: the same objects, the view's options set after.
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        return view

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        # Pickling would write the token in clear, and a deep copy or an
        # unpickled desk would not share the pool, the rate limit or the close.
        raise TypeError(
            "an AsyncDesk cannot be pickled or copied: it holds the token and live connections "
            "(make one per process, e.g. AsyncDesk.from_env(); with_options() for a variant)"
        )

    def __repr__(self) -> str:
        scopes = "unchecked" if self._scopes is None else sorted(self._scopes)
        state = "closed" if self._shared.closed else "open"
        view = " (a with_options view)" if self._is_view else ""
        return f"<AsyncDesk {self._desk!r} base_url={self._base_url!r} scopes={scopes} {state}{view}>"

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
        """Whether ``close()`` was called (on the desk, for a view)."""
        return self._shared.closed

    @property
    def retries(self) -> int:
        """How many retries this desk has scheduled so far (for progress displays)."""
        return self._shared.retries

    def with_options(
        self,
        *,
        retry: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncDesk:
        """A view of this desk whose calls use these settings instead.

        The view shares everything else: the connection pool, the rate limit,
        the hooks, the cache and the lifecycle (closing the desk closes every
        view; a view's own ``close()`` and ``async with`` do nothing). Options
        not given are the desk's (or the view's, for a view of a view);
        ``headers`` are added to every request (and to the view's own extra
        headers), except that they may not set ``Authorization``, ``Host``,
        ``Content-Type``, ``Content-Length``, ``Transfer-Encoding``,
        ``Connection`` or ``Cookie``. ::

            fast = desk.with_options(timeouts=Timeouts(total=2), retry=RetryPolicy(attempts=1))
            ticket = await fast.get_ticket(1247)

        Raises:
            InvalidArgumentType: an option of the wrong type.
            InvalidArgument: a header that may not be set, or one whose name
                or value could not be sent as is (CR, LF, NUL, non-ASCII).
        """
        options = self._options.replaced(retry=retry, timeouts=timeouts, headers=headers)
        view = copy.copy(self)
        view._is_view, view._options = True, options
        return view

    async def __aenter__(self) -> AsyncDesk:
        self._loop.check()
        self._check_open()
        self._transport.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Cancel prefetches and bulk fetches still running, and close the desk's
        own session (an injected session is left open). Idempotent. On a
        ``with_options()`` view it does nothing: close the desk itself."""
        if self._is_view:
            return
        self._shared.closed = True
        await self._loop.release()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._transport.close()

    def _check_open(self) -> None:
        if self._shared.closed:
            raise DeskClosed(f"the desk {self._desk!r} is closed")

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ the request path

    async def _request(
        self,
        route: Route,
        *,
        url_path: str | None = None,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, str] | None = None,
        fast: Callable[[bytes], Any] | None = None,
        decode: Callable[[Any], Any] | None = None,
        peek: Callable[[bytes], bool] | None = None,
    ) -> Any:
        """Send one API call with retries and return its decoded JSON body, or
        what ``fast`` makes of the body's bytes when it makes anything but ``None``,
        passed through ``decode`` when given (so that its errors, like every
        other, have the token taken out of any text the server sent).
        ``peek(body)`` sees a successful answer's body before it is decoded;
        when it says it started work (``True``), that work runs up to its first
        wait before the decoding starts (the stream's prefetch sends its
        request there).

        Raises ``InsufficientScope`` before any I/O when the declared scopes
        lack the route's; ``APIError`` subclasses for error statuses;
        ``TransportError`` subclasses; ``ResponseDecodeError``; ``DeskClosed``;
        ``WrongEventLoop``.
        """
        proto.require_scope(route, self._scopes)
        self._loop.check()
        self._check_open()
        path = url_path or route.format()
        shared, pacer, options = self._shared, self._pacer, self._options
        request = Request(route, path, params, proto.json_body(body), options.timeouts, options.headers)
        trace = self._hooks.trace(self._desk, self._where, route)
        sent = 0
        status: int | None = None

        async def attempt(remaining: float) -> Any:
            nonlocal sent, status
            status = None
            if shared.closed:
                raise self._closed_during(route)
            sent += 1
            trace.request(sent)
            try:
                raw = await self._transport.send(request, remaining=remaining, attempt=sent)
            except (TransportError, DeskClosed) as exc:
                trace.response(sent, None, exc)
                if shared.closed:  # the failure is the close itself: say so, and do not retry
                    raise self._closed_during(route) from None
                raise
            status = raw.status
            if peek is not None and status < 300 and peek(raw.body):
                await asyncio.sleep(0)
            if fast is not None and status < 300:
                value = fast(raw.body)
                if value is not None:
                    trace.response(sent, status, None)
                    return value
            try:
                result = proto.decipher_response(route, raw.status, raw.headers, raw.body)
            except HeadoniError as exc:
                trace.response(sent, status, exc)
                if pacer is not None and isinstance(exc, RateLimited):
                    # Every later request of the desk waits (a wait past a day, which
                    # retry_after does not hold, for the longest pause).
                    pause = parse_retry_after(raw.headers.get("Retry-After"), too_long=math.inf)
                    if pause is not None:
                        pacer.pause(pause)
                raise
            trace.response(sent, status, None)
            return result

        def on_retry(failure: BaseException | None, number: int, wait: float) -> None:
            shared.retries += 1
            trace.retry(number, failure, wait)

        try:
            result = await call_with_retries(
                attempt,
                policy=options.retry,
                idempotent=route.idempotent,
                label=route.label,
                sleep=asyncio.sleep,
                on_retry=on_retry,
            )
            if decode is not None:
                result = decode(result)
        except BaseException as exc:
            if isinstance(exc, TransportError | ServerError):
                note_unknown_outcome(exc, idempotent=route.idempotent)
            if isinstance(exc, HeadoniError):
                self._redact(exc)
            trace.end(sent, status, exc)
            if isinstance(exc, APIError | ResponseDecodeError):
                # The frames below this one hold what the server sent (body,
                # headers, decoded JSON), which may echo the token: an error
                # tracker capturing frame locals must not see them.
                result = None
                drop_frames(exc)
                raise exc.with_traceback(None)  # noqa: B904 - exc is the exception being handled
            raise
        trace.end(sent, status, None)
        return result

    def _closed_during(self, route: Route) -> DeskClosed:
        return DeskClosed(f"the desk {self._desk!r} was closed during {route.label}")

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
        created: CreatedTicket = await self._request(
            ROUTES["create_ticket"], body=payload, decode=decode_created
        )
        return created

    async def get_ticket(self, id_or_number: int | str) -> Ticket:
        """One ticket with its public messages, by number (``int``, e.g. 1247)
        or id (a str of digits). Needs ``tickets:read``.

        A digit string is sent as given; the server tries it as a number first.

        Raises:
            InvalidId: not all digits (before any I/O; also a ``ValueError``).
            InvalidArgumentType: a bool, float or other type.
            TicketNotFound: no such ticket on this desk (``id_or_number`` and
                the message name the ticket asked for).
            ResponseDecodeError: also when the server answers with another
                ticket than the one asked for (neither its number nor its id).
            InsufficientScope, Unauthenticated, TokenDeskMismatch, TransportError,
            ResponseDecodeError: as for every call.
        """
        ticket: Ticket = await self._ticket_body(id_or_number, decode_ticket)
        return ticket

    async def get_ticket_record(self, id_or_number: int | str) -> TicketRecord:
        """``get_ticket()`` plus the server's own JSON: a ``TicketRecord`` whose
        ``record`` is the response's ``ticket`` object exactly as sent (every
        field, known or not; no envelope), from the same single request.

        Raises what ``get_ticket()`` raises.
        """
        record: TicketRecord = await self._ticket_body(id_or_number, decode_ticket_record)
        return record

    async def _ticket_body(self, id_or_number: int | str, decode: Callable[[Any], _T]) -> _T:
        key = proto.id_or_number(id_or_number)
        route = ROUTES["get_ticket"]

        def checked(body: Any) -> _T:
            proto.check_ticket_answer(route, key, body)
            return decode(body)

        try:
            result: _T = await self._request(route, url_path=route.format(id_or_number=key), decode=checked)
        except TicketNotFound as exc:
            exc.name_ticket(key)
            raise
        return result

    async def departments(self) -> list[Department]:
        """Every department of the desk, private ones included, by name. Needs ``tickets:read``.

        With ``cache_ttl``, an answer younger than that is returned without a
        request (a new list each time; a failure is never cached).

        Raises the errors every call raises (see ``HeadoniError``).
        """
        return list(await self._cached(ROUTES["departments"], decode_departments))

    async def ticket_types(self) -> list[TicketType]:
        """Every non-archived ticket type, in the desk's order. Needs ``tickets:read``.

        With ``cache_ttl``, an answer younger than that is returned without a
        request (a new list each time; a failure is never cached).

        Raises the errors every call raises (see ``HeadoniError``).
        """
        return list(await self._cached(ROUTES["ticket_types"], decode_ticket_types))

    def clear_cache(self) -> None:
        """Forget the cached departments and ticket types (see ``cache_ttl``)."""
        self._cache.clear()

    async def _cached(self, route: Route, decode: Callable[[Any], _T]) -> _T:
        proto.require_scope(route, self._scopes)
        self._loop.check()  # a cache hit sends nothing, but the desk still has one loop
        self._check_open()

        async def fetch() -> _T:
            result: _T = await self._request(route, decode=decode)
            return result

        result: _T = await self._cache.get(route.name, fetch)
        return result

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
        query = proto.list_filters(page_size=page_size, status=status, requester_email=requester_email)
        return await self._fetch_page(query(proto.check_cursor(cursor)))

    async def _fetch_page(
        self, query: Mapping[str, str], peek: Callable[[bytes], bool] | None = None
    ) -> TicketPage:
        # With msgspec installed a page goes straight from bytes to models; any
        # body that path does not take whole is decoded the ordinary way.
        # ``peek`` sees the body of a successful answer before either (the
        # stream's prefetch starts there).
        page: TicketPage = await self._request(
            ROUTES["list_tickets"], params=query, fast=page_from_bytes, decode=_as_page, peek=peek
        )
        return page

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
        the current one (its request leaves as soon as the current page's
        bytes arrive, before they are decoded); without it, nothing is
        requested before the caller asks. Each page's ``records`` are the server's own JSON of
        its tickets. Needs ``tickets:read``.

        Raises (here, before any I/O): ``InsufficientScope``,
        ``InvalidStatus``, ``InvalidArgument``, ``InvalidArgumentType``, and
        ``DeskClosed``. Iterating raises what every call raises.
        """
        proto.require_scope(ROUTES["list_tickets"], self._scopes)
        self._check_open()
        query = proto.list_filters(page_size=page_size, status=status, requester_email=requester_email)
        start = proto.check_cursor(cursor)
        since = proto.check_since_id(since_id)
        return TicketStream(
            lambda page_cursor, peek: self._fetch_page(query(page_cursor), peek),
            cursor=start,
            prefetch=bool(prefetch),
            track=self._track,
            since_id=since,
        )

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
        wait = proto.check_seconds("interval", interval)
        if wait <= 0:
            raise InvalidArgument("interval must be a positive number of seconds")
        since = proto.check_since_id(since_id)
        proto.require_scope(ROUTES["list_tickets"], self._scopes)
        self._check_open()

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

        ``ids`` is read lazily, only as the window of requests has room, so
        an endless iterable (``itertools.count()``, broken out of) works and a
        huge one is never copied. Each id is checked before its request; a bad
        one fails at its place in the order, and no id after it is read. The
        first failure is raised at its place in the order, after the tickets
        before it were yielded; the fetches after it are cancelled. Every failure names its ticket (a
        ``TicketNotFound`` in its message, any other in a note on the
        exception, which tracebacks show). With ``missing="skip"`` a ticket
        that does not exist (``TicketNotFound``) is left out and the rest go
        on; any other failure still stops the fetch.

        Raises:
            InvalidArgumentType, InvalidArgument: a wrong ``ids`` (a single
                value, an async iterable or an awaitable), ``concurrency`` or ``missing``, before any I/O.
            InvalidId: a bad id, before its request, in order.
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

    def _fetch_many(
        self,
        ids: Iterable[int | str],
        concurrency: int,
        missing: str,
        fetch: Callable[[str], Awaitable[_T]],
        name: str,
    ) -> AsyncIterator[_T]:
        return fetch_many(
            fetch,
            ids,
            concurrency=concurrency,
            missing=missing,
            scopes=self._scopes,
            pool=getattr(self._transport, "pool_size", None),  # a test's fake transport has none
            track=self._track,
            name=name,
        )


def _as_page(data: Any) -> TicketPage:
    # The fast path made the page already; the ordinary one gives JSON.
    return data if isinstance(data, TicketPage) else decode_page(data)
