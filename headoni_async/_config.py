"""Configuration as small frozen values, changed with ``attrs.evolve``."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from ._errors import InvalidArgument, InvalidArgumentType

__all__ = ["ENV_VARIABLES", "RetryPolicy", "Timeouts", "env_settings"]


MAX_SECONDS: Final = 7 * 24 * 3600.0
"""The longest timeout, backoff or deadline a policy takes (a week): past it a
value is a mistake, and ``inf`` would overflow the event loop's clock."""


def _positive(_: object, attribute: attrs.Attribute[float], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgumentType(f"{attribute.name} must be a number of seconds, not {type(value).__name__}")
    if not 0 < value <= MAX_SECONDS or (isinstance(value, float) and not math.isfinite(value)):
        raise InvalidArgument(
            f"{attribute.name} must be a positive number of seconds, at most {MAX_SECONDS:.0f}, not {value!r}"
        )


def _optional_positive(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _positive(instance, attribute, value)


def _status_set(value: object) -> frozenset[int]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidArgumentType("retry_statuses must be a collection of ints such as {502, 503}")
    items = list(value)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        raise InvalidArgumentType("retry_statuses must hold ints such as 502, 503 and 504")
    return frozenset(items)


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
        InvalidArgument: for a value out of range (seconds must be positive,
            finite and at most ``MAX_SECONDS``).
        InvalidArgumentType: for a value of the wrong type.
    """

    attempts: int = attrs.field(default=3)
    backoff_initial: float = attrs.field(default=0.2, validator=_positive)
    backoff_max: float = attrs.field(default=5.0, validator=_positive)
    deadline: float = attrs.field(default=60.0, validator=_positive)
    retry_statuses: frozenset[int] = attrs.field(
        default=frozenset(), converter=_status_set, validator=_valid_statuses
    )

    @attempts.validator
    def _check_attempts(self, _: attrs.Attribute[int], value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidArgumentType(f"attempts must be an int, not {type(value).__name__}")
        if value < 1:
            raise InvalidArgument("attempts must be an int of at least 1")


@attrs.frozen(kw_only=True)
class Timeouts:
    """Timeouts for one attempt, in seconds (``None``: no limit of that kind).

    Attributes:
        pool: to wait for a free connection of the desk's pool
            (``max_connections``). Past it the attempt is a ``PoolTimeout``:
            nothing was sent, so even a create may be retried.
        connect: to open a new connection (DNS, TCP and TLS).
        read: between two reads of the socket.
        total: for one attempt, from send to the last byte of the body. The
            retry deadline also bounds every attempt, and every wait.

    Raises:
        InvalidArgument: for a value that is not positive, not finite or past
            ``MAX_SECONDS``.
        InvalidArgumentType: for a value that is not a number or ``None``.
    """

    pool: float | None = attrs.field(default=10.0, validator=_optional_positive)
    connect: float | None = attrs.field(default=10.0, validator=_optional_positive)
    read: float | None = attrs.field(default=30.0, validator=_optional_positive)
    total: float | None = attrs.field(default=60.0, validator=_optional_positive)


ENV_VARIABLES: Final[Mapping[str, str]] = {
    "desk": "HEADONI_DESK",
    "token": "HEADONI_TOKEN",
    "base_url": "HEADONI_BASE_URL",
    "scopes": "HEADONI_SCOPES",
}
_REQUIRED: Final = ("desk", "token")
_SCOPE_SEPARATORS: Final = re.compile(r"[\s,]+")


def env_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """The desk's settings from ``HEADONI_*`` variables, by ``AsyncDesk``
    argument name. Values are not checked here (the constructor does that),
    except that a required variable must be set and not empty.

    Raises ``InvalidArgument`` naming the first missing variable.
    """
    missing = [ENV_VARIABLES[name] for name in _REQUIRED if not environ.get(ENV_VARIABLES[name], "").strip()]
    if missing:
        raise InvalidArgument(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: "
            "AsyncDesk.from_env() needs HEADONI_DESK (the desk's slug) and HEADONI_TOKEN"
        )
    settings: dict[str, Any] = {
        "desk": environ[ENV_VARIABLES["desk"]].strip(),
        "token": environ[ENV_VARIABLES["token"]].strip(),
        "base_url": environ.get(ENV_VARIABLES["base_url"], "").strip() or None,
        "scopes": None,
    }
    scopes = [s for s in _SCOPE_SEPARATORS.split(environ.get(ENV_VARIABLES["scopes"], "")) if s]
    if scopes:
        settings["scopes"] = frozenset(scopes)
    return settings
