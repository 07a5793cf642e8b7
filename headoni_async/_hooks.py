"""Hooks: callbacks that see every request a desk makes, as frozen values
that never hold the token, a header, a query or a concrete ticket id.

``AsyncDesk(hooks=Hooks(on_response=...))``. Each callback is a plain
function called in the caller's task, in this order for one call::

    on_request(attempt 1) -> on_response(attempt 1)
        [-> on_retry -> on_request(attempt 2) -> on_response(attempt 2) ...]
    -> on_call_end

A callback that raises an ``Exception`` is logged (WARNING, ``headoni_async``)
and otherwise ignored: observing a call never changes its outcome. A
``BaseException`` that is not an ``Exception`` (``KeyboardInterrupt``,
``SystemExit``) is not caught: it stops the call, as it would anywhere. Callbacks must not
block; they run on the event loop, and are never awaited (an ``async def``
callback is refused).
"""

from __future__ import annotations

import functools
import inspect
import itertools
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Final, NamedTuple

import attrs

from ._errors import InvalidArgumentType
from ._routes import Route

__all__ = ["NO_TRACE", "CallTrace", "HookSet", "Hooks", "RequestEvent", "Trace", "api_template"]

logger: Final = logging.getLogger("headoni_async")


class RequestEvent(NamedTuple):
    """What a hook is told about one attempt (or, for ``on_call_end``, the
    whole call). Immutable; never holds the token, a header, a query string
    or a concrete ticket id or number. (A named tuple: cheap to build on
    every request; read it by field name.)

    Attributes:
        call: a number for the call, the same in all its events, unique
            within the process (to pair ``on_request`` with ``on_call_end``).
        desk: the desk's slug.
        server_address, server_port: the API host and port requests go to.
        method: ``GET`` or ``POST``.
        route: the API's route template, e.g. ``/tickets/{idOrNumber}``.
        attempt: 1 for the first send; for ``on_call_end``, how many sends
            the call made (0 when it failed before its first send).
        status: the response's HTTP status, when one came back.
        error: the exception's class name (``"ReadTimeout"``,
            ``"TicketNotFound"``, ...) when the attempt or call failed.
        elapsed: seconds since the call started.
        wait: for ``on_retry``, the backoff in seconds before the next attempt.
    """

    call: int
    desk: str
    server_address: str
    server_port: int
    method: str
    route: str
    attempt: int
    status: int | None = None
    error: str | None = None
    elapsed: float = 0.0
    wait: float | None = None


Hook = Callable[[RequestEvent], object]


def _optional_callable(_: object, attribute: attrs.Attribute[Hook | None], value: object) -> None:
    if value is not None and not callable(value):
        raise InvalidArgumentType(f"{attribute.name} must be a callable taking a RequestEvent, or None")
    if inspect.iscoroutinefunction(value):
        raise InvalidArgumentType(
            f"{attribute.name} is an async function: hooks are called on the event loop, never awaited "
            "(use a plain function; start a task from it for async work)"
        )


@attrs.frozen(kw_only=True)
class Hooks:
    """Callbacks for the requests of a desk (``AsyncDesk(hooks=...)``; a list
    of ``Hooks`` is run in order). Each takes one ``RequestEvent``. One that
    raises an ``Exception`` is logged and skipped; a ``KeyboardInterrupt`` or
    ``SystemExit`` is not caught.

    Attributes:
        on_request: an attempt is about to be sent (after any rate-limit wait).
        on_response: an attempt ended, with a ``status`` or an ``error``.
        on_retry: a retry was scheduled after a failed attempt (``wait``).
        on_call_end: the call is over: its last ``status`` or its ``error``,
            the number of sends (0 when none was made, e.g. ``DeskClosed``),
            the total ``elapsed``. Called exactly once for every call that
            passed its local checks, cancellation included
            (``error="CancelledError"``).

    Raises:
        InvalidArgumentType: a callback that is not callable, or an ``async``
            function (callbacks are called, never awaited).
    """

    on_request: Hook | None = attrs.field(default=None, validator=_optional_callable)
    on_response: Hook | None = attrs.field(default=None, validator=_optional_callable)
    on_retry: Hook | None = attrs.field(default=None, validator=_optional_callable)
    on_call_end: Hook | None = attrs.field(default=None, validator=_optional_callable)


_KINDS: Final = ("on_request", "on_response", "on_retry", "on_call_end")
_calls: Final = itertools.count(1)


class HookSet:
    """The callbacks of every ``Hooks`` given to a desk, by kind."""

    def __init__(self, hooks: Hooks | Iterable[Hooks] | None) -> None:
        if hooks is None:
            given: tuple[Hooks, ...] = ()
        elif isinstance(hooks, Hooks):
            given = (hooks,)
        elif isinstance(hooks, Iterable):
            given = tuple(hooks)
        else:
            raise InvalidArgumentType("hooks must be a Hooks or a list of them")
        for h in given:
            if not isinstance(h, Hooks):
                raise InvalidArgumentType(f"hooks must be Hooks values, not {type(h).__name__}")
        self.hooks = given
        self._by_kind: dict[str, tuple[Hook, ...]] = {
            kind: tuple(cb for h in given if (cb := getattr(h, kind)) is not None) for kind in _KINDS
        }
        self.active = any(self._by_kind.values())

    def __add__(self, other: HookSet) -> HookSet:
        return HookSet(self.hooks + other.hooks)

    def trace(self, desk: str, server: tuple[str, int], route: Route) -> Trace:
        """The events of one new call of ``route`` (``NO_TRACE`` when no hook is set)."""
        return CallTrace(self, desk, server, route) if self.active else NO_TRACE

    def wants(self, kind: str) -> bool:
        """Whether any callback of ``kind`` is set (else no event is built for it)."""
        return bool(self._by_kind[kind])

    def emit(self, kind: str, event: RequestEvent) -> None:
        """Run the callbacks of ``kind``; one that raises is logged and skipped."""
        for callback in self._by_kind[kind]:
            try:
                result = callback(event)
            except Exception as exc:
                logger.warning(
                    "a %s hook raised %s; the call goes on", kind, type(exc).__name__, exc_info=True
                )
                continue
            if inspect.isawaitable(result):
                if inspect.iscoroutine(result):
                    result.close()  # never awaited: close it rather than leave a RuntimeWarning
                logger.warning("a %s hook returned an awaitable, which is never awaited", kind)


class Trace:
    """The events of one call, dropped: what a desk without hooks traces with
    (a null object, so the request path has no ``if trace`` branches)."""

    __slots__ = ()

    def request(self, attempt: int) -> None:
        """Attempt ``attempt`` starts."""

    def response(self, attempt: int, status: int | None, error: BaseException | None) -> None:
        """Attempt ``attempt`` ended with a status, a failure, or both."""

    def retry(self, attempt: int, error: BaseException | None, wait: float) -> None:
        """A retry was scheduled after attempt ``attempt`` failed."""

    def end(self, attempts: int, status: int | None, error: BaseException | None) -> None:
        """The call is over after ``attempts`` sends."""


NO_TRACE: Final = Trace()


class CallTrace(Trace):
    """Builds and emits the events of one call; the clock starts here."""

    __slots__ = ("_call", "_desk", "_hooks", "_method", "_route", "_server", "_started")

    def __init__(self, hooks: HookSet, desk: str, server: tuple[str, int], route: Route) -> None:
        self._hooks = hooks
        self._call = next(_calls)
        self._desk = desk
        self._server = server
        self._method = route.method
        self._route = api_template(route.template)
        self._started = time.perf_counter()

    def _event(
        self, attempt: int, status: int | None, error: BaseException | None, wait: float | None = None
    ) -> RequestEvent:
        if status is None and error is not None:
            code = getattr(error, "status", None)
            status = code if type(code) is int else None
        host, port = self._server
        return RequestEvent(
            self._call,
            self._desk,
            host,
            port,
            self._method,
            self._route,
            attempt,
            status,
            None if error is None else type(error).__name__,
            time.perf_counter() - self._started,
            wait,
        )

    def request(self, attempt: int) -> None:
        if self._hooks.wants("on_request"):
            self._hooks.emit("on_request", self._event(attempt, None, None))

    def response(self, attempt: int, status: int | None, error: BaseException | None) -> None:
        if self._hooks.wants("on_response"):
            self._hooks.emit("on_response", self._event(attempt, status, error))

    def retry(self, attempt: int, error: BaseException | None, wait: float) -> None:
        if self._hooks.wants("on_retry"):
            self._hooks.emit("on_retry", self._event(attempt, None, error, wait))

    def end(self, attempts: int, status: int | None, error: BaseException | None) -> None:
        if self._hooks.wants("on_call_end"):
            self._hooks.emit("on_call_end", self._event(attempts, status, error))


_PLACEHOLDER: Final = re.compile(r"\{([a-z0-9]+(?:_[a-z0-9]+)+)\}")


@functools.lru_cache(maxsize=64)
def api_template(path_template: str) -> str:
    """A route's path template in the API's own spelling
    (``/tickets/{id_or_number}`` -> ``/tickets/{idOrNumber}``)."""
    return _PLACEHOLDER.sub(lambda m: "{" + _camel(m.group(1)) + "}", path_template)


def _camel(name: str) -> str:
    return re.sub(r"_([a-z0-9])", lambda c: c.group(1).upper(), name)
