"""FakeDesk: a real HTTP server (aiohttp.web) on a loopback port that answers
like a Headoni desk, with fault injection and a request log."""

from __future__ import annotations

import asyncio
import codecs
import collections
import contextlib
import ipaddress
import json
import threading
import time
import warnings
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, TypeVar

import attrs
from aiohttp import web

from ._faults import Fault, FaultRule, request_numbers
from ._store import ALL_SCOPES, ApiFailure, DeskStore, StoredTicket

__all__ = ["FakeDesk", "LoggedRequest"]

_JSON: Final = "application/json"
_R = TypeVar("_R")
# The fake keeps its own reading of the reference rather than importing the
# client's route table: a mistake there must show up as a test failure, not be
# shared by client and server alike.
_ROUTES: Final = {
    # name: (method, path, scope)
    "create_ticket": ("POST", "/tickets", "tickets:create"),
    "list_tickets": ("GET", "/tickets", "tickets:read"),
    "get_ticket": ("GET", "/tickets/{id_or_number}", "tickets:read"),
    "departments": ("GET", "/departments", "tickets:read"),
    "ticket_types": ("GET", "/ticket-types", "tickets:read"),
}
_LOOPBACK_NAMES: Final = frozenset({"localhost"})
_HTML: Final = "<html><head><title>{0}</title></head><body><h1>{0} Bad Gateway</h1><hr>proxy</body></html>"


@attrs.frozen
class LoggedRequest:
    """One request as the fake desk saw it. It never holds the token:
    ``authorized`` only says whether an ``Authorization`` header was present."""

    number: int
    route: str
    method: str
    path: str
    query: dict[str, str]
    authorized: bool
    connection: int
    status: int | None
    fault: str | None
    received_at: float = 0.0
    """``time.monotonic()`` when the request arrived (for rate measurements)."""


def _dumps(value: Any) -> bytes:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:
        # A lone surrogate (a create may carry "\\ud800") cannot be UTF-8:
        # write it as its JSON escape, which is still valid JSON.
        return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode()


def _error(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> web.Response:
    body = _dumps({"error": code, "detail": detail})
    return web.Response(status=status, body=body, content_type=_JSON, headers=headers)


class FakeDesk:
    """A faithful local Headoni desk.

    ::

        async with FakeDesk("acme", tickets=1000, seed=1) as fake:
            token = fake.mint_token({"tickets:read"})
            async with AsyncDesk("acme", token, base_url=fake.base_url) as desk:
                ...

    Every route, rule and error of the reference is implemented (see
    ``DeskStore``). ``inject()`` scripts faults; ``requests`` logs what
    arrived. Use ``serve_in_thread()`` to run it on its own event loop (what
    the pytest plugin and the CLI demo do).
    """

    def __init__(
        self,
        slug: str = "acme",
        *,
        tickets: int = 0,
        seed: int = 0,
        latency: float = 0.0,
        log_size: int = 10_000,
    ) -> None:
        if isinstance(log_size, bool) or not isinstance(log_size, int):
            raise TypeError("log_size must be an int")
        if log_size < 1:
            raise ValueError(f"log_size must be at least 1, not {log_size}")
        self.store = DeskStore(slug, tickets=tickets, seed=seed)
        self.latency = latency
        """Seconds added before every answer (a slow network or desk)."""
        self.requests: collections.deque[LoggedRequest] = collections.deque(maxlen=log_size)
        """The last ``log_size`` requests, oldest first (a ring: older ones are dropped)."""
        self._total = 0
        self._rules: list[FaultRule] = []
        self._counts: dict[str, int] = {}
        # Connection numbers, held only while the connection's transport lives.
        self._connections: weakref.WeakKeyDictionary[asyncio.BaseTransport, int] = weakref.WeakKeyDictionary()
        self._connections_seen = 0
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._in_flight = 0
        self._odd_requests: dict[int, bool] = {}
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.max_in_flight = 0
        """The most requests the desk was answering at one time."""

    # ------------------------------------------------------------------ controls

    @property
    def slug(self) -> str:
        """The desk's slug."""
        return self.store.slug

    def mint_token(
        self, scopes: Iterable[str] = ALL_SCOPES, *, name: str = "test token", desk: str | None = None
    ) -> str:
        """Mint a token with ``scopes``; ``desk`` makes it another desk's token."""
        return self.store.mint_token(scopes, name=name, desk=desk)

    def revoke(self, token: str) -> None:
        """Revoke a token while the desk runs; its next request gets 401."""
        self.store.revoke(token)

    def inject(
        self,
        fault: Fault,
        *,
        route: str | None = None,
        on: int | Iterable[int] | None = None,
        times: int | None = None,
    ) -> None:
        """Apply ``fault`` to ``route`` (a client route name such as
        ``"list_tickets"``; ``None`` for every route), on request numbers
        ``on`` (1-based; ``None`` for every one), at most ``times`` times."""
        if route is not None and route not in _ROUTES:
            raise ValueError(f"unknown route {route!r}; one of {sorted(_ROUTES)}")
        self._rules.append(FaultRule(fault, route, request_numbers(on), times))

    def edit_ticket(
        self,
        key: int | str,
        *,
        subject: str | None = None,
        priority: str | None = None,
        status: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Change a ticket (``key``: its id as a str, or its number as an int) as
        an agent would: ``updatedAt`` moves strictly later, even for two edits
        in one millisecond. ``status`` is an internal type (``"closed"``) or a
        status id. ``extra`` adds (or replaces) fields the reference does not
        know, any JSON value, in both the summary and the whole ticket.

        Raises ``KeyError`` for an unknown ticket, ``ValueError`` for a
        priority or status the desk does not have or an ``extra`` key that is
        a documented field."""
        self._on_server(
            lambda: self.store.edit(key, subject=subject, priority=priority, status=status, extra=extra)
        )

    def remove_ticket(self, key: int | str) -> None:
        """Delete a ticket (id str or number int): it is no longer listed, and
        getting it answers 404. Raises ``KeyError`` for an unknown ticket."""
        self._on_server(lambda: self.store.remove(key))

    def add_tickets(self, count: int) -> list[str]:
        """Add ``count`` new tickets with ids above every other (as if just
        created); returns their ids, oldest first."""
        made: list[str] = self._on_server(lambda: self.store.add(count))
        return made

    def _on_server(self, change: Callable[[], _R]) -> _R:
        # Served from a thread, the store changes on the server's own loop, so
        # no request is answered from a half-changed store.
        loop = self._thread_loop
        if loop is None or not loop.is_running() or threading.current_thread() is self._thread:
            return change()

        async def run() -> _R:
            return change()

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=10)

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self._rules.clear()

    def count(self, route: str | None = None) -> int:
        """How many requests arrived (for one route, or in all), including
        those the bounded ``requests`` log has dropped."""
        if route is None:
            return self._total
        return self._counts.get(route, 0)

    @property
    def connections_seen(self) -> int:
        """How many distinct TCP connections have carried a request."""
        return self._connections_seen

    @property
    def tracked_connections(self) -> int:
        """How many connections the desk keeps a number for (only live ones)."""
        return len(self._connections)

    @property
    def open_connections(self) -> int:
        """How many connections the server holds open now."""
        server = self._runner.server if self._runner is not None else None
        return len(server.connections) if server is not None else 0

    # ------------------------------------------------------------------ serving

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/api/v1`` once started (for a wildcard bind,
        the loopback address of that family)."""
        if self._base_url is None:
            raise RuntimeError("the fake desk is not started")
        return self._base_url

    def make_app(self) -> web.Application:
        """The ``aiohttp.web`` application, for use with aiohttp's own test tools."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/api/v1/tickets", self._create)
        app.router.add_get("/api/v1/tickets", self._list)
        # Every path below /tickets/ is this route, so "" or "1/2" is the
        # documented 400 invalid_id rather than an unknown route.
        app.router.add_get("/api/v1/tickets/{id_or_number:.*}", self._get)
        app.router.add_get("/api/v1/departments", self._departments)
        app.router.add_get("/api/v1/ticket-types", self._ticket_types)
        app.router.add_get("/llms.txt", self._llms)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, allow_remote: bool = False) -> str:
        """Serve on ``host:port`` (0: a free port) in the running loop; returns the base URL.

        Only loopback hosts (``127.0.0.1``, ``::1``, ``localhost``) are served
        by default: the fake accepts any token it minted and has no TLS.
        ``allow_remote=True`` allows any other host (``""``, ``0.0.0.0``,
        ``::``, an interface address) and warns (``UserWarning``).

        Raises:
            ValueError: a non-loopback ``host`` without ``allow_remote``.
            OSError: the address cannot be bound.
        """
        _check_host(host, allow_remote)
        runner = web.AppRunner(self.make_app(), access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._base_url = _base_url_of(runner.addresses)
        return self._base_url

    async def close(self) -> None:
        """Stop serving and drop every connection."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> FakeDesk:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @contextlib.contextmanager
    def serve_in_thread(
        self, host: str = "127.0.0.1", port: int = 0, *, allow_remote: bool = False
    ) -> Iterator[str]:
        """Serve from a thread with its own event loop; yields the base URL.

        Client and server then do not share a loop, as with a real desk, and
        synchronous code (a pytest fixture, the CLI) can run it. ``host`` and
        ``allow_remote`` are as for ``start()`` (same errors).
        """
        _check_host(host, allow_remote)
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start(host, port, allow_remote=allow_remote))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            _drain(loop)

        thread = threading.Thread(target=run, name=f"fake-desk-{self.slug}", daemon=True)
        self._thread_loop, self._thread = loop, thread
        thread.start()
        ready.wait()
        if failure:
            thread.join(timeout=10)
            self._thread_loop = self._thread = None
            loop.close()
            raise failure[0]
        try:
            yield self.base_url
        finally:
            asyncio.run_coroutine_threadsafe(self.close(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            self._thread_loop = self._thread = None
            loop.close()

    # ------------------------------------------------------------------ the request path

    def _route_of(self, request: web.Request) -> str:
        info = request.match_info.route.resource
        canonical = info.canonical if info is not None else request.path
        for name, (method, path, _) in _ROUTES.items():
            if method == request.method and canonical == "/api/v1" + path:
                return name
        return "other"

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        route = self._route_of(request)
        number = self._counts.get(route, 0) + 1
        self._counts[route] = number
        self._total += 1
        overall = self._total
        delay, fault = self._pick_faults(route, number, overall)
        self.requests.append(
            LoggedRequest(
                number=overall,
                route=route,
                method=request.method,
                path=request.path,
                query=dict(request.query),
                authorized="Authorization" in request.headers,
                connection=self._connection_number(request.transport),
                status=None,
                fault=fault.kind if fault else None,
                received_at=time.monotonic(),
            )
        )
        self._in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            response = await self._respond(request, handler, delay, fault)
        except web.HTTPException as exc:  # no route, wrong method, body too large
            response = _http_error(exc)
        finally:
            self._in_flight -= 1
        status = (
            None
            if fault is not None and fault.kind in ("reset", "reset_body", "truncate")
            else response.status
        )
        self._log_status(overall, status)
        return response

    def _connection_number(self, transport: asyncio.BaseTransport | None) -> int:
        # Keyed by the transport itself, weakly: a closed connection leaves nothing behind.
        if transport is None:  # already gone
            self._connections_seen += 1
            return self._connections_seen
        known = self._connections.get(transport)
        if known is None:
            self._connections_seen += 1
            known = self._connections[transport] = self._connections_seen
        return known

    def _log_status(self, overall: int, status: int | None) -> None:
        # The ring holds requests numbered total-len+1 .. total, in order.
        index = overall - (self._total - len(self.requests)) - 1
        if index >= 0 and self.requests[index].number == overall:
            self.requests[index] = attrs.evolve(self.requests[index], status=status)

    async def _respond(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        delay: float,
        fault: Fault | None,
    ) -> web.StreamResponse:
        if delay:
            # The request arrived whole before the desk was slow: a create
            # still happens even if the client gives up waiting for the answer.
            await request.read()
            await asyncio.sleep(delay)
        if fault is not None and fault.kind in ("html", "error"):
            response = await self._answer_fault(request, fault)
        else:
            if fault is not None:
                self._odd_requests[id(request)] = fault.kind == "odd_enums"
            try:
                response = await handler(request)
            except ApiFailure as failure:
                response = web.Response(status=failure.status, body=_dumps(failure.body), content_type=_JSON)
            finally:
                self._odd_requests.pop(id(request), None)
            if fault is not None and fault.kind == "reset":
                # The request was handled (a create did happen); its answer is lost.
                _abort(request)
                return web.Response(status=599)
            if (
                fault is not None
                and fault.kind in ("drip", "reset_body", "truncate")
                and isinstance(response, web.Response)
            ):
                response = await self._stream_fault(request, response, fault)
        return response

    def _pick_faults(self, route: str, number: int, overall: int) -> tuple[float, Fault | None]:
        """The added latency and the one other fault (the first rule wins) for a request."""
        delay = self.latency
        chosen: Fault | None = None
        for rule in self._rules:
            counted = number if rule.route is not None else overall
            if not rule.matches(route, counted):
                continue
            if rule.fault.kind == "latency":
                rule.consume()
                delay += rule.fault.seconds
            elif chosen is None:
                rule.consume()
                chosen = rule.fault
        return delay, chosen

    async def _answer_fault(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        if fault.kind == "html":
            return web.Response(
                status=fault.status,
                text=_HTML.format(fault.status),
                content_type="text/html",
                headers=headers,
            )
        body = {"error": fault.code, "detail": "injected by the fake desk"}
        return web.Response(status=fault.status, body=_dumps(body), content_type=_JSON, headers=headers)

    async def _stream_fault(
        self, request: web.Request, response: web.Response, fault: Fault
    ) -> web.StreamResponse:
        body = response.body if isinstance(response.body, bytes) else b""
        stream = web.StreamResponse(status=response.status, headers={"Content-Type": response.content_type})
        stream.content_length = len(body)
        await stream.prepare(request)
        if fault.kind == "drip":
            with contextlib.suppress(ConnectionError):  # the client may go away mid-drip
                for start in range(0, len(body), max(1, fault.chunk)):
                    await stream.write(body[start : start + fault.chunk])
                    await asyncio.sleep(fault.seconds)
                await stream.write_eof()
            return stream
        cut = len(body) // 2 if fault.at_byte is None else max(0, min(fault.at_byte, len(body) - 1))
        if cut:
            await stream.write(body[:cut])
        await asyncio.sleep(0.005)  # let those bytes leave before the cut
        if fault.kind == "reset_body":
            _abort(request)
        elif request.transport is not None:
            request.transport.close()
        return stream

    # ------------------------------------------------------------------ routes

    def _auth(self, request: web.Request, route: str) -> None:
        self.store.authorize(request.headers.get("Authorization"), _ROUTES[route][2])

    def _odd(self, request: web.Request) -> bool:
        # Keyed by id() while the request is handled; request storage keys
        # (web.RequestKey) would need aiohttp 3.14.
        return self._odd_requests.get(id(request), False)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        self._auth(request, "create_ticket")
        payload = _json_body(await request.read(), request.charset)
        ticket = self.store.create(payload, datetime.now(UTC))
        created = {
            "id": str(ticket.id),
            "number": ticket.number,
            "subject": ticket.subject,
            "priority": "critical" if self._odd(request) else ticket.priority,
            "requester": {"email": ticket.email},
        }
        return web.Response(status=201, body=_dumps({"ticket": created}), content_type=_JSON)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        self._auth(request, "list_tickets")
        found, next_cursor = self.store.page(request.query)
        if self._odd(request):
            items = [_odd_summary(_summary(t)) for t in found]
            return web.Response(
                body=_dumps({"tickets": items, "nextCursor": next_cursor}), content_type=_JSON
            )
        parts = [_summary_bytes(t) for t in found]
        body = b'{"tickets":[' + b",".join(parts) + b'],"nextCursor":' + _dumps(next_cursor) + b"}"
        return web.Response(body=body, content_type=_JSON)

    async def _get(self, request: web.Request) -> web.StreamResponse:
        self._auth(request, "get_ticket")
        doc = _ticket_document(self.store, self.store.find(request.match_info["id_or_number"]))
        if self._odd(request):
            doc = _odd_summary(doc)
            for m in doc["messages"]:
                m["authorKind"] = "bot"
        return web.Response(body=_dumps({"ticket": doc}), content_type=_JSON)

    async def _departments(self, request: web.Request) -> web.StreamResponse:
        self._auth(request, "departments")
        items = [d.to_json() for d in self.store.listed_departments()]
        return web.Response(body=_dumps({"departments": items}), content_type=_JSON)

    async def _ticket_types(self, request: web.Request) -> web.StreamResponse:
        self._auth(request, "ticket_types")
        items = [t.to_json() for t in self.store.listed_ticket_types()]
        return web.Response(body=_dumps({"ticketTypes": items}), content_type=_JSON)

    async def _llms(self, request: web.Request) -> web.StreamResponse:
        return web.Response(
            text=f"# {self.slug} (fake Headoni desk)\nAPI: /api/v1\n", content_type="text/plain"
        )


def _json_body(raw: bytes, charset: str | None) -> Any:
    """A request body as JSON, or the 400 ``invalid_body`` the API would answer."""
    try:
        codecs.lookup(charset or "utf-8")
        return json.loads(raw.decode(charset or "utf-8"))
    except LookupError:
        detail, code = f"unknown charset {charset!r}", "invalid_charset"
    except (ValueError, RecursionError):  # not text in that charset, not JSON, too deep, huge ints
        detail, code = "body is not JSON", "invalid_json"
    raise ApiFailure(400, "invalid_body", detail, [{"path": [], "code": code, "message": detail}])


def _http_error(exc: web.HTTPException) -> web.Response:
    """aiohttp's own refusals, in the API's error shape instead of plain text."""
    if exc.status == 404:
        return _error(404, "not_found", "no such route")
    if exc.status == 405:
        allow = {"Allow": exc.headers.get("Allow", "")}
        return _error(405, "method_not_allowed", "method not allowed", allow)
    if exc.status == 413:
        return _error(413, "body_too_large", "the request body is too large")
    code = (exc.reason or "error").lower().replace(" ", "_")
    return _error(exc.status, code, exc.reason or "error", dict(exc.headers))


def _check_host(host: str, allow_remote: bool) -> None:
    if _is_loopback(host):
        return
    if not allow_remote:
        raise ValueError(
            f"the fake desk binds only loopback hosts (127.0.0.1, ::1, localhost), not {host!r}: "
            "it accepts any token it minted and has no TLS; pass allow_remote=True to serve other machines"
        )
    warnings.warn(
        f"the fake desk on {host!r} can be reached from other machines; it accepts any token it minted",
        UserWarning,
        stacklevel=3,
    )


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _base_url_of(addresses: list[Any]) -> str:
    """A well-formed base URL from the bound sockets: the first IPv4 socket if
    any; a wildcard address becomes the loopback address of its family."""
    sockaddr = next((a for a in addresses if len(a) == 2), addresses[0])
    address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    shown = str(address)
    if address.version == 6:
        scope = sockaddr[3] if len(sockaddr) > 3 and not address.is_loopback else 0
        shown = f"[{shown}%25{scope}]" if scope else f"[{shown}]"
    return f"http://{shown}:{sockaddr[1]}/api/v1"


def _drain(loop: asyncio.AbstractEventLoop) -> None:
    """Finish a stopped loop as ``asyncio.run`` does: cancel what still runs (a
    dripping answer, say), let closing transports run their callbacks, and
    shut down async generators, so no socket is left for the GC to find."""
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(asyncio.sleep(0.01))
    loop.run_until_complete(loop.shutdown_asyncgens())


def _abort(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()


def _summary(ticket: StoredTicket) -> dict[str, Any]:
    return {
        "id": str(ticket.id),
        "number": ticket.number,
        "subject": ticket.subject,
        "priority": ticket.priority,
        "status": ticket.status.to_json(),
        "requester": {"email": ticket.email, "name": ticket.name},
        "createdAt": ticket.created_at,
        "updatedAt": ticket.updated_at,
        **(ticket.extra or {}),
    }


def _ticket_document(store: DeskStore, ticket: StoredTicket) -> dict[str, Any]:
    """``GET /tickets/{idOrNumber}``'s ticket: public messages only, oldest first."""
    doc = _summary(ticket)
    doc["department"] = {"id": ticket.department.id, "name": ticket.department.name}
    doc["ticketType"] = {"id": ticket.ticket_type.id, "name": ticket.ticket_type.name}
    messages = sorted(
        (m for m in store.messages_of(ticket) if not m.internal), key=lambda m: (m.created_at, m.id)
    )
    doc["messages"] = [
        {"id": m.id, "authorKind": m.author_kind, "bodyMd": m.body_md, "createdAt": m.created_at}
        for m in messages
    ]
    return doc


def _summary_bytes(ticket: StoredTicket) -> bytes:
    if ticket.summary_json is None:
        ticket.summary_json = _dumps(_summary(ticket))
    return ticket.summary_json


def _odd_summary(doc: dict[str, Any]) -> dict[str, Any]:
    doc["priority"] = "critical"
    doc["status"] = {**doc["status"], "internalType": "on_hold"}
    return doc
