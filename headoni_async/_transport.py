"""The one seam to aiohttp: the session and connector, the timeouts, the
responses being read, and ``send``: one frozen ``Request`` in, one
``RawResponse`` out, every aiohttp failure turned into one of ours.

Nothing else on the request path imports aiohttp. ``map_exception`` is the
complete map of foreign exceptions (tests walk every subclass of
``aiohttp.ClientError`` through it). Exceptions that can carry the request's
headers (``ClientResponseError`` holds ``request_info``, token included) are
never chained to ours, so no traceback or ``__cause__`` can leak the token.
The token itself is held by an object whose repr is redacted, and the headers
that carry it are built in the call to aiohttp, never kept in a local here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Final, Protocol, TypeAlias

import aiohttp
import attrs

from ._config import Timeouts
from ._errors import (
    ConnectError,
    ConnectTimeout,
    DeskClosed,
    HeadoniError,
    InvalidArgument,
    InvalidArgumentType,
    NetworkError,
    PoolTimeout,
    ProtocolError,
    ReadTimeout,
    ResponseTooLarge,
    TLSError,
    TransportError,
)
from ._protocol import RESERVED_HEADERS
from ._redact import without_frames
from ._routes import Route
from ._version import VERSION

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "USER_AGENT",
    "Pace",
    "RawResponse",
    "Request",
    "Sender",
    "Session",
    "Transport",
    "map_exception",
]

logger: Final = logging.getLogger("headoni_async")

DEFAULT_MAX_RESPONSE_BYTES: Final = 64 * 1024 * 1024
USER_AGENT: Final = f"headoni-async/{VERSION} aiohttp/{aiohttp.__version__}"

Session: TypeAlias = aiohttp.ClientSession
"""The session type a caller may inject (``AsyncDesk(session=...)``)."""


@attrs.frozen
class Request:
    """One API call as the desk hands it to the transport. Holds no secret.

    ``url_path`` is the concrete path (``route.format(...)``); ``body`` is
    JSON bytes or ``None``; ``timeouts`` replaces the transport's own for
    this call when given; ``headers`` are extra headers (checked by
    ``_protocol.check_extra_headers``: never one the credentials set).
    """

    route: Route
    url_path: str
    params: Mapping[str, str] | None = None
    body: bytes | None = None
    timeouts: Timeouts | None = None
    headers: Mapping[str, str] | None = None


Pace = Callable[[Route, "float | None"], Awaitable[Callable[[], None]]]
"""Waits for the rate limit's slot for one send, given the seconds left of
the call's deadline, and returns the release to call when the answer ended;
raises ``RateLimitTimeout`` when the wait would pass the deadline."""


@attrs.frozen
class RawResponse:
    """What came back: the status, headers and the whole (bounded) body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class Sender(Protocol):
    """What the desk needs of a transport: ``Transport``, or a test's fake
    that answers ``send`` with raw responses and never opens a socket."""

    def open(self) -> object:
        """Get ready to send (the desk calls it on ``async with``)."""

    async def send(
        self, request: Request, *, remaining: float | None = None, attempt: int = 1
    ) -> RawResponse:
        """One attempt: a raw response, or a ``TransportError``."""

    async def close(self) -> None:
        """Release everything; idempotent."""


class _Credentials:
    """The headers every request carries, token included; the repr never shows them."""

    __slots__ = ("_json", "_plain")

    def __init__(self, token: str) -> None:
        self._plain: Final = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        self._json: Final = {**self._plain, "Content-Type": "application/json"}

    def headers(self, *, json_body: bool, extra: Mapping[str, str] | None = None) -> Mapping[str, str]:
        own = self._json if json_body else self._plain
        if not extra:
            return own
        # A caller's extra headers may replace the User-Agent or add their
        # own; never the credentials or the framing (whatever their case).
        return {**own, **{k: v for k, v in extra.items() if k.lower() not in RESERVED_HEADERS}}

    def __repr__(self) -> str:
        return "<credentials (redacted)>"


class Transport:
    """Sends requests to one API base URL over one pooled aiohttp session.

    It owns the session and connector it makes (a ``session`` passed in is
    used as is and never closed), turns ``Timeouts`` into aiohttp's, keeps
    the responses whose bodies are being read so that ``close()`` can wake
    them, and maps every failure to a ``TransportError``.

    Raises:
        InvalidArgumentType: ``session`` is not an ``aiohttp.ClientSession``.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeouts: Timeouts,
        max_connections: int,
        max_response_bytes: int,
        session: Session | None = None,
        trust_env: bool = False,
        pace: Pace | None = None,
    ) -> None:
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise InvalidArgumentType("session must be an aiohttp.ClientSession")
        self._base_url = base_url
        self._credentials = _Credentials(token)
        self._timeouts = timeouts
        self._default_timeout = _client_timeout(timeouts, None)
        self._max_connections = max_connections
        self._max_bytes = max_response_bytes
        self._session = session
        self._owns_session = session is None
        self._trust_env = trust_env
        self._closed = False
        self._inflight: set[aiohttp.ClientResponse] = set()
        # The pool, as the desk sees it: a send holds one of these while it
        # has a connection. aiohttp's connector has as many connections, so
        # it never queues a request itself, and waiting here is the one
        # place a request waits for a connection (Timeouts.pool bounds it).
        self._gate = asyncio.Semaphore(max_connections)
        self._pace = pace

    def __repr__(self) -> str:
        return f"<Transport {self._base_url!r} {'closed' if self._closed else 'open'}>"

    def open(self) -> Session:
        """The session, made on first use. Raises ``DeskClosed`` after ``close()``."""
        if self._session is not None:
            return self._session
        if self._closed:
            raise DeskClosed("the transport is closed")
        connector = aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0)
        session = aiohttp.ClientSession(connector=connector, trust_env=self._trust_env, auto_decompress=True)
        # aiohttp re-sends an idempotent request once, silently, when a
        # kept-alive connection turns out stale. Our RetryPolicy already
        # retries that failure, so turn the hidden one off: `attempts` is
        # then the exact number of sends the server sees.
        if hasattr(session, "_retry_connection"):
            session._retry_connection = False
        self._session = session
        return session

    async def close(self) -> None:
        """Fail the body reads in progress and close the session this
        transport made (an injected one is left open). Idempotent."""
        self._closed = True
        _interrupt_reads(self._inflight)
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

    @property
    def pool_size(self) -> int:
        """How many requests may have a connection at once (``max_connections``)."""
        return self._max_connections

    async def send(
        self, request: Request, *, remaining: float | None = None, attempt: int = 1
    ) -> RawResponse:
        """Send one request and read its whole body; redirects are never followed.

        First it waits for the rate limit's slot, if any, then for a
        connection of the pool (``Timeouts.pool``); ``remaining`` (seconds left of the
        caller's deadline) bounds both waits and this attempt's total
        timeout. One DEBUG record names the request, its outcome, ``attempt``
        (its number among the call's sends) and how long it took; never a
        header. Raises a ``TransportError`` subclass (``PoolTimeout`` and
        ``RateLimitTimeout`` when nothing was sent), ``ResponseTooLarge``,
        ``InvalidArgument`` (a URL aiohttp refuses) or ``DeskClosed``; never
        an aiohttp exception.
        """
        session = self._session or self.open()
        timeouts = request.timeouts or self._timeouts
        started = time.perf_counter()
        gate = self._gate
        release = None
        try:
            # The rate limit first: a request waiting for its turn (or out a
            # 429's pause) holds no connection of the pool, so the pool is
            # never "busy" with requests that are only waiting.
            waited = False
            if self._pace is not None:
                release = await self._pace(request.route, remaining)
                waited = True
            try:
                if gate.locked():
                    await self._wait_for_connection(request.route, timeouts.pool, _left(remaining, started))
                    waited = True
                else:
                    await gate.acquire()  # free: returns at once
                try:
                    # Only a wait (rate limit, pool) takes time worth taking off the
                    # deadline; without one, ``remaining`` is the caller's figure as is,
                    # so a deadline equal to the default total reuses the default
                    # ClientTimeout instead of building one per attempt.
                    if waited and remaining is not None:
                        remaining = _left(remaining, started)
                    if request.timeouts is None:
                        total = timeouts.total
                        timeout = self._default_timeout
                        if remaining is not None and (total is None or total > remaining):
                            timeout = _client_timeout(timeouts, remaining)
                    else:
                        timeout = _client_timeout(timeouts, remaining)
                    raw = await self._send(session, request, timeout)
                finally:
                    gate.release()
            finally:
                if release is not None:
                    release()
        except (TransportError, ResponseTooLarge, InvalidArgument) as exc:
            _log_attempt(request, type(exc).__name__, attempt, started)
            raise
        _log_attempt(request, raw.status, attempt, started)
        return raw

    async def _wait_for_connection(self, route: Route, pool: float | None, remaining: float | None) -> None:
        limit = pool if remaining is None else remaining if pool is None else min(pool, remaining)
        try:
            async with asyncio.timeout(limit):
                await self._gate.acquire()
        except TimeoutError:
            raise PoolTimeout(
                f"no connection of the pool ({self._max_connections}) came free within {limit:g} s; "
                "nothing was sent",
                method=route.method,
                path=route.template,
                may_have_reached_server=False,
            ) from None

    async def _send(
        self, session: Session, request: Request, client_timeout: aiohttp.ClientTimeout
    ) -> RawResponse:
        route = request.route
        failure: HeadoniError | None = None
        try:
            async with session.request(
                route.method,
                self._base_url + request.url_path,
                headers=self._credentials.headers(json_body=request.body is not None, extra=request.headers),
                params=request.params,
                data=request.body,
                timeout=client_timeout,
                allow_redirects=False,
            ) as resp:
                self._inflight.add(resp)
                try:
                    body = await _read_capped(resp, self._max_bytes, route)
                finally:
                    self._inflight.discard(resp)
                return RawResponse(resp.status, resp.headers, body)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            mapped = map_exception(exc, route)
            if isinstance(exc, aiohttp.ClientResponseError):
                failure = mapped  # raised below, outside the handler: no __context__ to request_info
            else:
                # Kept as the cause (its type and message help), without its
                # frames: aiohttp's hold the request's headers in their locals,
                # which error trackers and `pytest -l` print.
                raise mapped from without_frames(exc)
        except asyncio.CancelledError as exc:
            # Cut aiohttp's frames (their locals hold the request's headers,
            # token included): asyncio.timeout() makes this the cause of its
            # TimeoutError, which tracebacks show.
            raise without_frames(exc)  # noqa: B904
        raise failure


def _log_attempt(request: Request, outcome: int | str, attempt: int, started: float) -> None:
    if logger.isEnabledFor(logging.DEBUG):
        elapsed = (time.perf_counter() - started) * 1000
        method, url_path = request.route.method, request.url_path
        logger.debug("%s %s -> %s (attempt %d) in %.1f ms", method, url_path, outcome, attempt, elapsed)


def _left(remaining: float | None, started: float) -> float | None:
    return None if remaining is None else remaining - (time.perf_counter() - started)


def _client_timeout(timeouts: Timeouts, remaining: float | None) -> aiohttp.ClientTimeout:
    total = timeouts.total
    if remaining is not None:
        remaining = max(remaining, 0.001)
        total = remaining if total is None else min(total, remaining)
    return aiohttp.ClientTimeout(total=total, connect=timeouts.connect, sock_read=timeouts.read)


_TLS_ERRORS: Final = (
    aiohttp.ClientConnectorCertificateError,
    aiohttp.ClientConnectorSSLError,
    aiohttp.ClientSSLError,
    aiohttp.ServerFingerprintMismatch,
)


def map_exception(exc: BaseException, route: Route) -> HeadoniError:
    """Our exception for a failure raised while sending ``route`` or reading its answer. Pure."""
    cls, message, reached = _classify(exc)
    if not issubclass(cls, TransportError):
        return cls(f"{route.label}: {message}")
    return cls(message, method=route.method, path=route.template, may_have_reached_server=reached)


def _classify(exc: BaseException) -> tuple[type[TransportError] | type[InvalidArgument], str, bool]:
    # Order matters: the most specific aiohttp classes come first (a
    # certificate error is also a ClientConnectorError; a connect timeout is
    # also a ServerTimeoutError). The bool: may the request have reached the server?
    name = type(exc).__name__
    if isinstance(exc, _TLS_ERRORS):
        return TLSError, f"TLS failed ({name}): {exc}", False
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ConnectTimeout, "timed out while connecting", False
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ConnectError, f"could not connect ({name}): {exc}", False
    if isinstance(exc, asyncio.TimeoutError):  # SocketTimeoutError, ServerTimeoutError, total
        return ReadTimeout, f"timed out waiting for the response ({name})", True
    if isinstance(exc, aiohttp.ClientPayloadError):
        return NetworkError, f"the response body was cut short ({name})", True
    if isinstance(exc, aiohttp.InvalidURL):
        return InvalidArgument, f"the request URL is invalid ({name})", False
    if isinstance(exc, aiohttp.ClientResponseError):
        # Bad HTTP from the peer, or headers past aiohttp's limits. Only the
        # message is kept: the exception's request_info holds our headers.
        return ProtocolError, f"invalid HTTP response ({name}): {exc.message}", True
    if isinstance(exc, aiohttp.ClientConnectionError | ConnectionError):
        return NetworkError, f"the connection failed ({name}): {exc}", True
    if isinstance(exc, OSError):
        return NetworkError, f"the connection failed ({name}: {exc.strerror or exc})", True
    return TransportError, f"the request failed ({name})", True


def _interrupt_reads(inflight: set[aiohttp.ClientResponse]) -> None:
    """Fail every body read in progress, before its session closes.

    aiohttp's ``ResponseHandler.close()`` drops the body's reader before the
    connection-lost callback would fail it, so a read in progress when the
    session closes would otherwise wait for its read timeout (aiohttp 3.14).
    """
    for resp in list(inflight):
        resp.content.set_exception(aiohttp.ClientConnectionError("the desk was closed"))


async def _read_capped(resp: aiohttp.ClientResponse, max_bytes: int, route: Route) -> bytes:
    declared = resp.content_length
    if declared is not None and declared > max_bytes:
        raise ResponseTooLarge(
            f"the server announced {declared} bytes, past the cap of {max_bytes}",
            method=route.method,
            path=route.template,
        )
    chunks: list[bytes] = []
    size = 0
    # Counted after decompression, so a small gzip bomb is stopped too.
    while chunk := await resp.content.readany():
        size += len(chunk)
        if size > max_bytes:
            raise ResponseTooLarge(
                f"the body passed the cap of {max_bytes} bytes", method=route.method, path=route.template
            )
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
