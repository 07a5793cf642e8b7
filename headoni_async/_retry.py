"""The retry decision as pure predicates; tenacity only drives them.

The policy (../shared/headoni-api.md, Retries): only network failures are
retried; a response with a 4xx status never is; a route that is not
idempotent (a create) is retried only when its connection was never
established; 502/503/504 on reads only when the caller opted in. Cancellation
is never retried (tenacity sees a ``CancelledError`` and the predicate says no).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import tenacity

from ._config import RetryPolicy
from ._errors import (
    ConnectError,
    NetworkError,
    PoolTimeout,
    RateLimitTimeout,
    RequestTimeout,
    ServerError,
    TLSError,
)

__all__ = ["backoff_ceiling", "call_with_retries", "is_retryable"]

_T = TypeVar("_T")
OnRetry = Callable[[BaseException | None, int, float], None]
logger: Final = logging.getLogger("headoni_async")


def is_retryable(exc: BaseException, *, idempotent: bool, retry_statuses: frozenset[int]) -> bool:
    """Whether a failed attempt may be sent again. Pure; the table in the tests is its spec.

    - never a cancellation, a TLS failure, a protocol error, a decode error
      or any response with a status (bar the opted-in 5xx on idempotent routes);
    - a ``ConnectError`` or a ``PoolTimeout`` always: nothing reached the server;
    - never a ``RateLimitTimeout``: waiting longer would pass the deadline;
    - a reset, a truncated body or a timeout only on an idempotent route,
      since a create may already have reached the server.
    """
    if not isinstance(exc, Exception) or isinstance(exc, TLSError | RateLimitTimeout):
        return False
    if isinstance(exc, ConnectError | PoolTimeout):
        return True
    if not idempotent:
        return False
    if isinstance(exc, NetworkError | RequestTimeout):
        return True
    return isinstance(exc, ServerError) and exc.status in retry_statuses


def backoff_ceiling(policy: RetryPolicy, retry_number: int) -> float:
    """The largest wait before retry ``retry_number`` (1 for the first retry)."""
    return min(policy.backoff_max, policy.backoff_initial * 2.0 ** (retry_number - 1))


def _wait(
    policy: RetryPolicy, uniform: Callable[[float, float], float]
) -> Callable[[tenacity.RetryCallState], float]:
    def wait(state: tenacity.RetryCallState) -> float:
        # Full jitter: uniform in [0, ceiling], so clients that failed together
        # do not retry together.
        delay = uniform(0.0, backoff_ceiling(policy, state.attempt_number))
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, float) and retry_after <= policy.backoff_max:
            delay = max(delay, retry_after)
        return delay

    return wait


def _stop(
    policy: RetryPolicy, clock: Callable[[], float], start: float
) -> Callable[[tenacity.RetryCallState], bool]:
    def stop(state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= policy.attempts:
            return True
        # Stop before a wait that would end past the deadline.
        return clock() - start + state.upcoming_sleep >= policy.deadline

    return stop


def _before_sleep(
    label: str, policy: RetryPolicy, on_retry: OnRetry | None
) -> Callable[[tenacity.RetryCallState], None]:
    def before_sleep(state: tenacity.RetryCallState) -> None:
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if on_retry is not None:
            on_retry(exc, state.attempt_number, state.upcoming_sleep)
        logger.warning(
            "retrying %s after %s (attempt %d of %d failed), waiting %.3f s",
            label,
            type(exc).__name__,
            state.attempt_number,
            policy.attempts,
            state.upcoming_sleep,
        )

    return before_sleep


async def call_with_retries(
    attempt: Callable[[float], Awaitable[_T]],
    *,
    policy: RetryPolicy,
    idempotent: bool,
    label: str,
    sleep: Callable[[float], Awaitable[None]],
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
    on_retry: OnRetry | None = None,
) -> _T:
    """Run ``attempt(remaining_seconds)`` until it succeeds or may not be retried.

    ``remaining_seconds`` is what is left of the policy's deadline, so that the
    caller bounds each attempt by it. The last failure is raised as it was.
    ``sleep``, ``clock`` and ``rng`` are injectable so the deadline and the
    backoff are tested without wall time. ``on_retry(failure, attempt, wait)``
    is called each time a retry is scheduled (``attempt`` is the number of
    the attempt that failed; ``wait`` the backoff before the next).
    """
    start = clock()
    statuses = policy.retry_statuses
    # Fast path: most calls succeed at once, and building a tenacity loop per
    # call costs tens of microseconds. The first attempt runs bare; only a
    # retryable failure starts tenacity, which is handed that failure as its
    # own first attempt (replayed, not re-sent), so the policy, the attempt
    # count, the waits and the logs are exactly what tenacity alone would do.
    try:
        return await attempt(policy.deadline)
    except BaseException as exc:
        if policy.attempts == 1 or not is_retryable(exc, idempotent=idempotent, retry_statuses=statuses):
            raise
        replay: list[BaseException] = [exc]

    def retry(state: tenacity.RetryCallState) -> bool:
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        return exc is not None and is_retryable(exc, idempotent=idempotent, retry_statuses=statuses)

    async def run() -> _T:
        if replay:
            raise replay.pop()
        return await attempt(policy.deadline - (clock() - start))

    retrying = tenacity.AsyncRetrying(
        sleep=sleep,
        stop=_stop(policy, clock, start),
        wait=_wait(policy, rng.uniform if rng is not None else random.uniform),
        retry=retry,
        before_sleep=_before_sleep(label, policy, on_retry),
        reraise=True,
    )
    return await retrying(run)
