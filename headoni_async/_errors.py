"""The exception tree, and the pure map from a response to an exception.

Every exception this package raises is a :class:`HeadoniError`::

    HeadoniError
    ├── InvalidArgument (+ ValueError)      a bad argument, refused before any I/O
    ├── InvalidArgumentType (+ TypeError)   an argument of the wrong type, before any I/O
    ├── DeskClosed (+ RuntimeError)         a call on a desk that was closed
    ├── WrongEventLoop (+ RuntimeError)     a call from another event loop than the desk's first
    ├── APIError                            a response came back with an error status
    │   ├── UnexpectedRedirect              3xx: the API never redirects; not followed
    │   ├── BadRequest                      400
    │   │   ├── InvalidBody                 invalid_body
    │   │   ├── InvalidQuery                invalid_query
    │   │   ├── InvalidId (+ ValueError)    invalid_id (also raised locally)
    │   │   ├── InvalidStatus (+ ValueError) invalid_status (also raised locally)
    │   │   ├── DepartmentNotFound          department_not_found
    │   │   └── TicketTypeNotFound          ticket_type_not_found
    │   ├── Unauthenticated                 401
    │   ├── Forbidden                       403
    │   │   ├── InsufficientScope           insufficient_scope (also raised locally)
    │   │   └── TokenDeskMismatch           token_desk_mismatch
    │   ├── NotFound                        404
    │   │   └── TicketNotFound              ticket_not_found
    │   ├── ClientError                     any other 4xx
    │   │   └── RateLimited                 429, with .retry_after
    │   └── ServerError                     5xx, with .retry_after
    ├── TransportError                      no usable response came back
    │   ├── ConnectError                    the connection was never established
    │   │   └── ConnectTimeout (+ RequestTimeout)
    │   ├── TLSError                        the TLS handshake or certificate failed
    │   ├── NetworkError                    reset or closed early, body truncated
    │   ├── RequestTimeout (+ TimeoutError) a timeout fired
    │   │   ├── ReadTimeout
    │   │   ├── PoolTimeout                 no pooled connection came free in time; not sent
    │   │   └── RateLimitTimeout            the desk's rate limit would pass the deadline; not sent
    │   └── ProtocolError                   the peer did not speak valid HTTP
    ├── ResponseDecodeError                 a 2xx body that is not the documented JSON
    │   └── ResponseTooLarge                a body past the size cap
    └── SyncError                           a sync's SQLite database cannot be used
        ├── SyncLocked                      another sync is using that database
        ├── SyncMismatch (+ ValueError)     another desk or base URL, a later schema, not a sync db
        └── SyncStateDamaged (+ ValueError) the database's sync state fails validation

An error code the reference does not document still becomes the class for its
status (``BadRequest`` for an unknown 400 code, and so on), with ``.code`` kept.

No exception here ever holds the API token: messages are built from the
method, the path and the server's error body, and foreign exceptions that can
carry request headers are never chained (see ``_transport``).
"""

from __future__ import annotations

import builtins
import math
import re
import time
from collections.abc import Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import Any, Final

from ._routes import SCOPES

__all__ = [
    "APIError",
    "BadRequest",
    "ClientError",
    "ConnectError",
    "ConnectTimeout",
    "DepartmentNotFound",
    "DeskClosed",
    "Forbidden",
    "HeadoniError",
    "InsufficientScope",
    "InvalidArgument",
    "InvalidArgumentType",
    "InvalidBody",
    "InvalidId",
    "InvalidQuery",
    "InvalidStatus",
    "NetworkError",
    "NotFound",
    "PoolTimeout",
    "ProtocolError",
    "RateLimitTimeout",
    "RateLimited",
    "ReadTimeout",
    "RequestTimeout",
    "ResponseDecodeError",
    "ResponseTooLarge",
    "ServerError",
    "SyncError",
    "SyncLocked",
    "SyncMismatch",
    "SyncStateDamaged",
    "TLSError",
    "TicketNotFound",
    "TicketTypeNotFound",
    "TokenDeskMismatch",
    "TransportError",
    "Unauthenticated",
    "UnexpectedRedirect",
    "WrongEventLoop",
    "error_from_response",
    "parse_retry_after",
]


class HeadoniError(Exception):
    """Root of every exception raised by headoni_async."""


# How much server-sent text one message shows; the whole text stays on the
# exception's attributes (``detail``). A proxy's megabyte error page must not
# become a megabyte log line.
DETAIL_LIMIT: Final = 500
_CODE_LIMIT: Final = 100
_LINE_BREAKS: Final = re.compile(r"\s*[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+\s*")


def shorten(text: str, limit: int = DETAIL_LIMIT) -> str:
    """``text`` on one line and cut to ``limit`` characters, saying how much was
    left out. Pure; never raises."""
    line = _LINE_BREAKS.sub(" ", text[:limit])
    if len(text) <= limit:
        return line
    return f"{line}... ({len(text) - limit} more characters)"


class InvalidArgument(HeadoniError, ValueError):
    """An argument was refused before any request was made.

    The message says which argument and why; it never repeats a token.
    """


class InvalidArgumentType(HeadoniError, TypeError):
    """An argument had the wrong type; raised before any request was made."""


class DeskClosed(HeadoniError, RuntimeError):
    """The desk was closed; no further requests can be made on it."""


class WrongEventLoop(HeadoniError, RuntimeError):
    """The desk was used from another event loop than the one it was first
    used in (a second ``asyncio.run()``, or another thread's loop). A desk's
    connections belong to its first loop: make one desk per event loop. When
    that loop ended, the desk already closed its connections."""


# --------------------------------------------------------------------------- API errors


class APIError(HeadoniError):
    """The server answered with an error status.

    Attributes:
        status: the HTTP status (for errors raised locally, the status the
            server would have answered with).
        code: the ``error`` string of the body, or ``None`` when the body was
            not a Headoni error document (an HTML page from a proxy, say).
        detail: the ``detail`` string, if any.
        issues: the ``issues`` list exactly as the server sent it (its shape is
            not documented), or an empty tuple.
        method, path: the request that failed (never the token).
    """

    def __init__(
        self,
        status: int,
        code: str | None = None,
        detail: str | None = None,
        issues: Sequence[Any] = (),
        *,
        method: str = "",
        path: str = "",
    ) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        self.issues = tuple(issues)
        self.method = method
        self.path = path
        super().__init__(self._message())

    def _message(self) -> str:
        where = f"{self.method} {self.path}: " if self.method else ""
        what = shorten(self.code, _CODE_LIMIT) if self.code is not None else "(no error code)"
        text = f"{where}{self.status} {what}"
        if self.detail:
            text += f": {shorten(self.detail)}"
        if self.issues:
            text += f" ({len(self.issues)} issue{'s' if len(self.issues) != 1 else ''})"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, code={self.code!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_api_error,
            (type(self), self.status, self.code, self.detail, self.issues, self.method, self.path),
            self.__dict__,
        )


def _rebuild_api_error(
    cls: type[APIError],
    status: int,
    code: str | None,
    detail: str | None,
    issues: Sequence[Any],
    method: str,
    path: str,
) -> APIError:
    return cls(status, code, detail, issues, method=method, path=path)


class UnexpectedRedirect(APIError):
    """The server answered 3xx. The API never redirects, so it is not followed:
    following it could send the token to another host. ``location`` is the
    ``Location`` header, if any."""

    location: str | None = None


class BadRequest(APIError):
    """400: the request was refused as invalid."""


class InvalidBody(BadRequest):
    """400 ``invalid_body``: the create body failed validation; see ``issues``."""


class InvalidQuery(BadRequest):
    """400 ``invalid_query``: a query parameter failed validation; see ``issues``."""


class InvalidId(BadRequest, InvalidArgument):
    """400 ``invalid_id``: a ticket id or number that is not all digits.

    Raised locally, before any I/O, for an id the server would refuse; it is
    also a ``ValueError``.
    """


class InvalidStatus(BadRequest, InvalidArgument):
    """400 ``invalid_status``: a status filter that is neither a keyword nor a
    numeric id. Raised locally too; also a ``ValueError``."""


class DepartmentNotFound(BadRequest):
    """400 ``department_not_found``: the department is not on this desk or was deleted."""


class TicketTypeNotFound(BadRequest):
    """400 ``ticket_type_not_found``: the ticket type is not on this desk or was archived."""


class Unauthenticated(APIError):
    """401: the token is missing, unknown, revoked or expired."""


class Forbidden(APIError):
    """403: the token may not do this."""


class InsufficientScope(Forbidden):
    """403 ``insufficient_scope``: the token lacks the route's scope.

    Raised locally, before any I/O, when the desk was told the token's scopes
    and the route needs one it lacks; raised on the server's answer otherwise.
    ``required_scope`` names the scope when known.
    """

    required_scope: str | None = None


class TokenDeskMismatch(Forbidden):
    """403 ``token_desk_mismatch``: the token belongs to another desk."""


class NotFound(APIError):
    """404: no such resource."""


class TicketNotFound(NotFound):
    """404 ``ticket_not_found``: no such ticket on this desk.

    ``id_or_number`` is the ticket that was asked for (as sent in the path),
    and the message names it, when the error came from a lookup.
    """

    id_or_number: str | None = None

    def _message(self) -> str:
        text = super()._message()
        return text if self.id_or_number is None else f"{text} (asked for ticket {self.id_or_number})"

    def name_ticket(self, id_or_number: str) -> None:
        """Record the ticket that was asked for, and say it in the message."""
        self.id_or_number = id_or_number
        self.args = (self._message(),)

    def __setstate__(self, state: dict[str, Any] | None) -> None:
        self.__dict__.update(state or {})
        self.args = (self._message(),)


class ClientError(APIError):
    """A 4xx status the reference does not document (405, 409, 413, 429, ...)."""


class _RetryAfterMixin:
    retry_after: float | None = None
    """Seconds the server asked us to wait (``Retry-After``), or ``None``."""


class RateLimited(ClientError, _RetryAfterMixin):
    """429: too many requests. ``retry_after`` is the server's ``Retry-After``
    in seconds, or ``None``. Never retried automatically."""


class ServerError(APIError, _RetryAfterMixin):
    """5xx: the server or a proxy in front of it failed. ``retry_after`` is the
    ``Retry-After`` in seconds, or ``None``. Retried only on reads, and only
    when ``RetryPolicy.retry_statuses`` opts in."""


# --------------------------------------------------------------------------- transport


class TransportError(HeadoniError):
    """No usable response came back.

    ``method`` and ``path`` name the request. ``may_have_reached_server`` is
    ``False`` only when the connection was provably never established; a
    create that failed with it ``True`` may or may not have made a ticket.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        path: str = "",
        may_have_reached_server: bool = True,
    ) -> None:
        self.method = method
        self.path = path
        self.may_have_reached_server = may_have_reached_server
        where = f"{method} {path}: " if method else ""
        super().__init__(f"{where}{shorten(message, 2 * DETAIL_LIMIT)}")


def note_unknown_outcome(exc: HeadoniError, *, idempotent: bool) -> None:
    """Say in ``exc``'s message that a create may or may not have happened,
    when it did not succeed on a route that is not idempotent and the request
    may have reached the server (a 5xx answer, or a transport failure after
    the connection was made)."""
    if idempotent or not isinstance(exc, TransportError | ServerError):
        return
    if isinstance(exc, TransportError) and not exc.may_have_reached_server:
        return
    exc.args = (f"{exc}; the ticket may or may not have been created: look it up before creating it again",)


class ConnectError(TransportError):
    """The connection could not be established (refused, DNS failure, unreachable).
    Nothing reached the server, so even a create is safe to retry."""


class TLSError(TransportError):
    """The TLS handshake or the certificate check failed. Never retried."""


class NetworkError(TransportError):
    """The connection was reset or closed early, or the body arrived truncated."""


class RequestTimeout(TransportError, builtins.TimeoutError):
    """A timeout fired. Also a builtin ``TimeoutError``."""


class ConnectTimeout(ConnectError, RequestTimeout):
    """The connect timeout fired before the connection was established."""


class ReadTimeout(RequestTimeout):
    """The response (or part of it) did not arrive in time."""


class PoolTimeout(RequestTimeout):
    """No connection of the desk's pool came free within ``Timeouts.pool``.

    The request certainly did not reach the server (``may_have_reached_server``
    is ``False``): nothing was sent, so even a create may be sent again, and
    the retry policy does so. Not a ``ConnectError``: the server was never
    tried. Raise ``max_connections``, or lower the concurrency."""


class RateLimitTimeout(RequestTimeout):
    """The desk's own rate limit (``AsyncDesk(rate_limit=...)``, or the pause
    after a 429's ``Retry-After``) would have held the request past the
    call's deadline, so it was not sent (``may_have_reached_server`` is
    ``False``). Never retried: waiting longer would pass the deadline."""


class ProtocolError(TransportError):
    """The server's bytes were not valid HTTP (bad status line, headers past
    aiohttp's limits, ...). Never retried."""


class ResponseDecodeError(HeadoniError):
    """A 2xx response whose body is not JSON, or not the documented shape."""

    def __init__(self, message: str, *, method: str = "", path: str = "") -> None:
        self.method = method
        self.path = path
        where = f"{method} {path}: " if method else ""
        super().__init__(f"{where}{shorten(message, 2 * DETAIL_LIMIT)}")


class ResponseTooLarge(ResponseDecodeError):
    """The body passed the desk's ``max_response_bytes`` cap and was not read."""


class SyncError(HeadoniError):
    """``sync_desk`` cannot use its SQLite database (it failed, or is not one
    this sync may write). Nothing the run had not committed is in it."""


class SyncLocked(SyncError):
    """Another sync (in this or another process) is using the database. Raised
    at once, before any request; the lock dies with the process that holds it."""


class SyncMismatch(SyncError, ValueError):
    """The database mirrors another desk or base URL, was written by a later
    version (a higher schema version), or is not a sync database at all."""


class SyncStateDamaged(SyncError, ValueError):
    """The database's sync state row fails validation. Nothing was changed;
    ``reset_state=True`` (``--reset-state``) makes the next sync walk the whole
    desk again, keeping every row."""


# --------------------------------------------------------------------------- the map

# The one place documented codes meet classes (see ../shared/headoni-api.md, Errors).
CODE_TO_CLASS: Mapping[str, type[APIError]] = {
    "invalid_body": InvalidBody,
    "invalid_query": InvalidQuery,
    "invalid_id": InvalidId,
    "invalid_status": InvalidStatus,
    "department_not_found": DepartmentNotFound,
    "ticket_type_not_found": TicketTypeNotFound,
    "unauthenticated": Unauthenticated,
    "insufficient_scope": InsufficientScope,
    "token_desk_mismatch": TokenDeskMismatch,
    "ticket_not_found": TicketNotFound,
}

STATUS_TO_CLASS: Mapping[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    429: RateLimited,
}


def class_for(status: int, code: str | None) -> type[APIError]:
    """The exception class for a status and an ``error`` code.

    A documented code wins only when it arrives with its documented status
    family, so a proxy's 502 that happens to say ``ticket_not_found`` is still
    a ``ServerError``.
    """
    base = STATUS_TO_CLASS.get(status)
    if base is None:
        if 300 <= status < 400:
            base = UnexpectedRedirect
        elif 400 <= status < 500:
            base = ClientError
        else:
            base = ServerError if status >= 500 else APIError
    if code is not None:
        specific = CODE_TO_CLASS.get(code)
        if specific is not None and issubclass(specific, base):
            return specific
    return base


# Retry-After past this is treated as absent: nobody waits a day inside a call.
_MAX_RETRY_AFTER = 24 * 3600.0


def parse_retry_after(
    value: str | None, *, now: float | None = None, too_long: float | None = None
) -> float | None:
    """Seconds from a ``Retry-After`` header, or ``None`` if absent or unusable.

    Accepts delta-seconds and HTTP dates. Anything else (negative, ``nan``,
    ``inf``, an unparsable date) gives ``None``; it never raises. A wait past
    a day (delta-seconds or a date) gives ``too_long`` (default ``None``).
    ``now`` is the POSIX time to measure a date against (default: the clock).
    """
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > 64:
        return None
    if text.isascii() and text.isdigit():
        seconds = float(int(text)) if len(text) <= 12 else math.inf
        return seconds if seconds <= _MAX_RETRY_AFTER else too_long
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    reference = time.time() if now is None else now
    try:
        seconds = when.timestamp() - reference
    except (OverflowError, OSError, ValueError):
        return None
    if not math.isfinite(seconds):
        return None
    if seconds > _MAX_RETRY_AFTER:
        return too_long
    return max(seconds, 0.0)


def error_from_response(
    status: int,
    body: Any,
    *,
    headers: Mapping[str, str] | None = None,
    method: str = "",
    path: str = "",
) -> APIError:
    """Build the exception for an error response. Pure: never raises itself.

    ``body`` is the decoded JSON (any value), or ``None`` when the body was not
    JSON. Fields of the wrong type are dropped rather than trusted.
    """
    code: str | None = None
    detail: str | None = None
    issues: Sequence[Any] = ()
    if isinstance(body, dict):
        raw_code = body.get("error")
        code = raw_code if isinstance(raw_code, str) else None
        raw_detail = body.get("detail")
        detail = raw_detail if isinstance(raw_detail, str) else None
        raw_issues = body.get("issues")
        issues = raw_issues if isinstance(raw_issues, list) else ()
    cls = class_for(status, code)
    exc = cls(status, code, detail, issues, method=method, path=path)
    headers = headers or {}
    if isinstance(exc, _RetryAfterMixin):
        exc.retry_after = parse_retry_after(headers.get("Retry-After"))
    if isinstance(exc, UnexpectedRedirect):
        exc.location = headers.get("Location")
    if isinstance(exc, InsufficientScope) and detail:
        exc.required_scope = _scope_from_detail(detail)
    return exc


def _scope_from_detail(detail: str) -> str | None:
    # The reference's example detail: 'requires "tickets:read"'.
    for scope in SCOPES:
        if scope in detail:
            return scope
    return None
