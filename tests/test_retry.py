"""The retry decision (a pure predicate), the foreign-exception map, and the
deadline, tested with an injected clock and sleep: no wall time."""

from __future__ import annotations

import asyncio
import random
import ssl
from typing import Any

import aiohttp
import pytest
from aiohttp.client_exceptions import UnixClientConnectorError
from aiohttp.client_reqrep import ConnectionKey
from hypothesis import given
from hypothesis import strategies as st

from headoni_async import (
    ConnectError,
    ConnectTimeout,
    HeadoniError,
    InvalidArgument,
    InvalidArgumentType,
    InvalidBody,
    NetworkError,
    PoolTimeout,
    ProtocolError,
    RateLimitTimeout,
    ReadTimeout,
    ResponseDecodeError,
    RetryPolicy,
    TLSError,
    TransportError,
)
from headoni_async._errors import error_from_response
from headoni_async._retry import backoff_ceiling, call_with_retries, is_retryable
from headoni_async._routes import ROUTES
from headoni_async._transport import map_exception

from .conftest import CANARY

R = frozenset({502, 503, 504})


@pytest.mark.parametrize(
    ("exc", "idempotent", "statuses", "expected"),
    [
        (ConnectError("x", may_have_reached_server=False), True, frozenset(), True),
        (
            ConnectError("x", may_have_reached_server=False),
            False,
            frozenset(),
            True,
        ),  # a create never reached
        (ConnectTimeout("x", may_have_reached_server=False), False, frozenset(), True),
        (NetworkError("reset"), True, frozenset(), True),
        (NetworkError("reset"), False, frozenset(), False),  # a create may have landed
        (ReadTimeout("slow"), True, frozenset(), True),
        (ReadTimeout("slow"), False, frozenset(), False),
        (TLSError("bad cert", may_have_reached_server=False), True, frozenset(), False),
        (PoolTimeout("no free connection", may_have_reached_server=False), True, frozenset(), True),
        (PoolTimeout("no free connection", may_have_reached_server=False), False, frozenset(), True),  # never sent: even a create
        (RateLimitTimeout("past the deadline", may_have_reached_server=False), True, R, False),
        (RateLimitTimeout("past the deadline", may_have_reached_server=False), False, R, False),
        (ProtocolError("bad http"), True, frozenset(), False),
        (TransportError("other"), True, frozenset(), False),
        (ResponseDecodeError("bad json"), True, frozenset(), False),
        (error_from_response(400, {"error": "invalid_body"}), True, R, False),
        (error_from_response(401, None), True, R, False),
        (error_from_response(429, None), True, R, False),
        (error_from_response(502, None), True, frozenset(), False),  # 5xx is opt-in
        (error_from_response(502, None), True, R, True),
        (error_from_response(503, None), True, frozenset({503}), True),
        (error_from_response(504, None), True, frozenset({503}), False),
        (error_from_response(500, None), True, R, False),
        (error_from_response(503, None), False, R, False),  # never a create
        (asyncio.CancelledError(), True, R, False),
        (KeyboardInterrupt(), True, R, False),
        (InvalidArgument("x"), True, R, False),
    ],
)
def test_is_retryable_table(
    exc: BaseException, idempotent: bool, statuses: frozenset[int], expected: bool
) -> None:
    assert is_retryable(exc, idempotent=idempotent, retry_statuses=statuses) is expected


@given(st.integers(min_value=400, max_value=499), st.booleans())
def test_no_4xx_is_ever_retryable(status: int, idempotent: bool) -> None:
    exc = error_from_response(status, {"error": "x"}, headers={"Retry-After": "1"})
    assert not is_retryable(exc, idempotent=idempotent, retry_statuses=R)


# ---------------------------------------------------------------- the foreign-exception map


def _all_subclasses(cls: type[BaseException]) -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for sub in cls.__subclasses__():
        if sub.__module__.startswith("aiohttp"):
            found.add(sub)
        found |= _all_subclasses(sub)
    return found


def _request_info() -> aiohttp.RequestInfo:
    from multidict import CIMultiDict, CIMultiDictProxy
    from yarl import URL

    headers = CIMultiDictProxy(CIMultiDict({"Authorization": f"Bearer {CANARY}"}))
    url = URL("https://acme.headoni.app/api/v1/tickets")
    return aiohttp.RequestInfo(url, "GET", headers, url)


def _instance(cls: type[BaseException]) -> BaseException:
    """An instance of any aiohttp exception class, built the way aiohttp builds it."""
    key = ConnectionKey("acme.headoni.app", 443, True, True, None, None, None)
    if issubclass(cls, aiohttp.ClientConnectorCertificateError):
        return cls(key, ssl.SSLCertVerificationError("certificate verify failed"))
    if issubclass(cls, UnixClientConnectorError):
        return cls("/run/desk.sock", key, OSError(111, "Connection refused"))
    if issubclass(cls, aiohttp.ClientConnectorError):
        return cls(key, OSError(111, "Connection refused"))
    if issubclass(cls, aiohttp.ClientResponseError):
        return cls(_request_info(), (), status=400, message="Got more than 8190 bytes")
    if issubclass(cls, aiohttp.ServerFingerprintMismatch):
        return cls(b"a", b"b", "acme.headoni.app", 443)
    if issubclass(cls, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return cls("ftp://x")
    return cls("boom")


AIOHTTP_CLASSES = sorted(_all_subclasses(aiohttp.ClientError), key=lambda c: c.__name__)

# The allowlist: the aiohttp failures that are retried on an idempotent route.
RETRIED = {
    "ClientConnectionError",
    "ClientConnectionResetError",
    "ClientConnectorDNSError",
    "ClientConnectorError",
    "ClientOSError",
    "ClientPayloadError",
    "ClientProxyConnectionError",
    "ConnectionTimeoutError",
    "ServerConnectionError",
    "ServerDisconnectedError",
    "ServerTimeoutError",
    "SocketTimeoutError",
    "UnixClientConnectorError",
}
# ... and the ones that are retried even for a create: nothing reached the server.
RETRIED_FOR_CREATE = {
    "ClientConnectorDNSError",
    "ClientConnectorError",
    "ClientProxyConnectionError",
    "ConnectionTimeoutError",
    "UnixClientConnectorError",
}


LIST = ROUTES["list_tickets"]


def test_the_table_covers_every_aiohttp_exception() -> None:
    assert len(AIOHTTP_CLASSES) >= 25  # aiohttp's tree is walked, not an empty list
    assert {c.__name__ for c in AIOHTTP_CLASSES} >= RETRIED | {"ClientResponseError", "InvalidURL"}


@pytest.mark.parametrize("cls", AIOHTTP_CLASSES, ids=lambda c: c.__name__)
def test_every_aiohttp_exception_maps_to_ours(cls: type[BaseException]) -> None:
    mapped = map_exception(_instance(cls), LIST)
    assert isinstance(mapped, HeadoniError)
    assert CANARY not in str(mapped) and CANARY not in repr(mapped)
    retried = is_retryable(mapped, idempotent=True, retry_statuses=R)
    assert retried is (cls.__name__ in RETRIED)
    for_create = is_retryable(mapped, idempotent=False, retry_statuses=R)
    assert for_create is (cls.__name__ in RETRIED_FOR_CREATE)


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (TimeoutError(), ReadTimeout),
        (ConnectionResetError(104, "reset"), NetworkError),
        (BrokenPipeError(32, "pipe"), NetworkError),
        (OSError(5, "io"), NetworkError),
        (RuntimeError("other"), TransportError),
    ],
)
def test_builtin_failures_map(exc: BaseException, cls: type[HeadoniError]) -> None:
    assert type(map_exception(exc, LIST)) is cls


def test_timeouts_are_builtin_timeouts() -> None:
    assert isinstance(map_exception(aiohttp.SocketTimeoutError(), LIST), TimeoutError)
    assert isinstance(map_exception(aiohttp.ConnectionTimeoutError(), LIST), TimeoutError)


# ---------------------------------------------------------------- backoff and deadline


class FakeTime:
    """A clock that only moves when the code under test sleeps (or an attempt takes time)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@given(
    st.floats(min_value=0.001, max_value=5),
    st.floats(min_value=0.001, max_value=60),
    st.integers(min_value=1, max_value=40),
)
def test_backoff_ceiling_bounds(initial: float, maximum: float, retry: int) -> None:
    policy = RetryPolicy(backoff_initial=initial, backoff_max=maximum)
    ceiling = backoff_ceiling(policy, retry)
    assert 0 < ceiling <= maximum
    assert ceiling <= initial * 2 ** (retry - 1) + 1e-9


async def _run(
    policy: RetryPolicy,
    failures: list[BaseException],
    t: FakeTime,
    *,
    idempotent: bool = True,
    attempt_cost: float = 0.0,
) -> tuple[Any, int, list[float]]:
    calls = 0
    remaining_seen: list[float] = []

    async def attempt(remaining: float) -> str:
        nonlocal calls
        calls += 1
        remaining_seen.append(remaining)
        t.now += attempt_cost
        if failures:
            raise failures.pop(0)
        return "ok"

    result: Any
    try:
        result = await call_with_retries(
            attempt,
            policy=policy,
            idempotent=idempotent,
            label="GET /t",
            sleep=t.sleep,
            clock=t.clock,
            rng=random.Random(1),
        )
    except HeadoniError as exc:
        result = exc
    return result, calls, remaining_seen


async def test_retries_until_success() -> None:
    t = FakeTime()
    result, calls, _ = await _run(RetryPolicy(attempts=3), [NetworkError("a"), NetworkError("b")], t)
    assert (result, calls, len(t.sleeps)) == ("ok", 3, 2)


async def test_stops_at_attempt_limit_and_raises_the_last_failure() -> None:
    t = FakeTime()
    last = NetworkError("third")
    result, calls, _ = await _run(RetryPolicy(attempts=3), [NetworkError("1"), NetworkError("2"), last], t)
    assert result is last and calls == 3


async def test_non_retryable_is_raised_at_once() -> None:
    t = FakeTime()
    bad = error_from_response(400, {"error": "invalid_body"})
    result, calls, _ = await _run(RetryPolicy(attempts=5), [bad], t)
    assert isinstance(result, InvalidBody) and calls == 1 and t.sleeps == []


async def test_create_is_not_retried_after_it_may_have_landed() -> None:
    t = FakeTime()
    result, calls, _ = await _run(RetryPolicy(attempts=5), [NetworkError("reset")], t, idempotent=False)
    assert isinstance(result, NetworkError) and calls == 1


async def test_create_is_retried_when_never_connected() -> None:
    t = FakeTime()
    failure = ConnectError("refused", may_have_reached_server=False)
    result, calls, _ = await _run(RetryPolicy(attempts=5), [failure], t, idempotent=False)
    assert result == "ok" and calls == 2


@given(
    deadline=st.floats(min_value=0.01, max_value=30),
    initial=st.floats(min_value=0.001, max_value=10),
    attempt_cost=st.floats(min_value=0, max_value=5),
    attempts=st.integers(min_value=1, max_value=50),
)
async def test_never_runs_past_the_deadline(
    deadline: float, initial: float, attempt_cost: float, attempts: int
) -> None:
    t = FakeTime()
    start = t.now
    policy = RetryPolicy(
        attempts=attempts, backoff_initial=initial, backoff_max=max(initial, 8.0), deadline=deadline
    )
    failures: list[BaseException] = [NetworkError(str(i)) for i in range(attempts + 5)]
    _, calls, remaining = await _run(policy, failures, t, attempt_cost=attempt_cost)
    # Every attempt starts before the deadline and is told exactly what is left of it.
    assert calls <= attempts
    assert all(0 < r <= deadline for r in remaining)
    for k, left in enumerate(remaining):
        assert deadline - left == pytest.approx(k * attempt_cost + sum(t.sleeps[:k]))
    # Each attempt cost its time, each wait its own: the clock only moved by those.
    assert t.now - start == pytest.approx(calls * attempt_cost + sum(t.sleeps))
    # No wait is scheduled past the deadline: each ends before it.
    for i, slept in enumerate(t.sleeps, start=1):
        assert 0 <= slept <= backoff_ceiling(policy, i)
        assert i * attempt_cost + sum(t.sleeps[:i]) < deadline


async def test_retry_after_is_honoured_within_backoff_max() -> None:
    t = FakeTime()
    busy = error_from_response(503, None, headers={"Retry-After": "3"})
    policy = RetryPolicy(attempts=2, backoff_initial=0.01, backoff_max=5, retry_statuses={503})
    result, calls, _ = await _run(policy, [busy], t)
    assert result == "ok" and calls == 2 and t.sleeps == [3.0]


async def test_cancellation_is_never_retried() -> None:
    t = FakeTime()
    calls = 0

    async def attempt(remaining: float) -> str:
        nonlocal calls
        calls += 1
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await call_with_retries(
            attempt,
            policy=RetryPolicy(attempts=5),
            idempotent=True,
            label="GET /t",
            sleep=t.sleep,
            clock=t.clock,
        )
    assert calls == 1 and t.sleeps == []


def test_retry_policy_validates() -> None:
    for bad in (
        {"attempts": 0},
        {"backoff_initial": 0},
        {"deadline": -1},
        {"retry_statuses": {500}},
    ):
        with pytest.raises(InvalidArgument):
            RetryPolicy(**bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentType):  # a bool is not a count (nor a number of seconds)
        RetryPolicy(attempts=True)


def test_retry_logs_a_warning_without_the_token(caplog: pytest.LogCaptureFixture) -> None:
    t = FakeTime()
    caplog.set_level("DEBUG", logger="headoni_async")
    asyncio.run(_run(RetryPolicy(attempts=2), [NetworkError("reset")], t))
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "retrying GET /t after NetworkError" in warnings[0].getMessage()
