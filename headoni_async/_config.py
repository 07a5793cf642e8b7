"""Configuration as small frozen values, changed with ``attrs.evolve``."""

from __future__ import annotations

from typing import Any

import attrs

from ._errors import InvalidArgument

__all__ = ["RetryPolicy", "Timeouts"]


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise InvalidArgument(f"{attribute.name} must be a positive number of seconds")


def _optional_positive(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value > 0:
        raise InvalidArgument(f"{attribute.name} must be None or a positive number of seconds")


def _valid_statuses(_: object, attribute: attrs.Attribute[frozenset[int]], value: frozenset[int]) -> None:
    allowed = {502, 503, 504}
    if not value <= allowed:
        raise InvalidArgument(
            f"{attribute.name} may hold only 502, 503 and 504 (got {sorted(value - allowed)})"
        )


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How failed requests are retried.

    Only network failures are retried (see the README's retry policy); a 4xx
    never is, and a create is retried only when its connection was never
    established.

    Attributes:
        attempts: sends at most, the first one included (1 disables retries).
        backoff_initial: the first backoff ceiling, in seconds; each retry
            doubles it up to ``backoff_max``. The wait is drawn uniformly
            from 0 to that ceiling ("full jitter").
        backoff_max: the largest single wait, in seconds.
        deadline: seconds one call may take across all its attempts and
            waits; no attempt starts, and no wait is scheduled, past it.
        retry_statuses: 5xx statuses to retry on reads (opt-in; only 502,
            503 and 504 are allowed). A ``Retry-After`` within
            ``backoff_max`` is honoured.

    Raises:
        InvalidArgument: for a value out of range.
    """

    attempts: int = attrs.field(default=3)
    backoff_initial: float = attrs.field(default=0.2, validator=_positive)
    backoff_max: float = attrs.field(default=5.0, validator=_positive)
    deadline: float = attrs.field(default=60.0, validator=_positive)
    retry_statuses: frozenset[int] = attrs.field(
        default=frozenset(), converter=frozenset, validator=_valid_statuses
    )

    @attempts.validator
    def _check_attempts(self, _: attrs.Attribute[int], value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidArgument("attempts must be an int of at least 1")


@attrs.frozen(kw_only=True)
class Timeouts:
    """Timeouts for one attempt, in seconds (``None``: no limit of that kind).

    Attributes:
        connect: to get a connection, from the pool or a new one.
        read: between two reads of the socket.
        total: for one attempt, from send to the last byte of the body. The
            retry deadline also bounds every attempt.

    Raises:
        InvalidArgument: for a value that is not positive.
    """

    connect: float | None = attrs.field(default=10.0, validator=_optional_positive)
    read: float | None = attrs.field(default=30.0, validator=_optional_positive)
    total: float | None = attrs.field(default=60.0, validator=_optional_positive)
