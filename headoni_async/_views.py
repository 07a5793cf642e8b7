"""What a ``with_options()`` view of a desk replaces, and what it shares.

A view is a shallow copy of its desk with other ``CallOptions`` (a small
frozen value: retry policy, timeouts, extra headers); everything else is the
desk's own object, the ``Shared`` state included, so that closing the desk is
seen by every view at once."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from ._config import RetryPolicy, Timeouts
from ._protocol import check_extra_headers, check_instance

__all__ = ["CallOptions", "Shared"]


@attrs.frozen(kw_only=True)
class CallOptions:
    """The settings of a desk's (or a view's) calls. ``timeouts`` ``None``
    means the transport's own; ``headers`` are added to every request."""

    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    timeouts: Timeouts | None = None
    headers: Mapping[str, str] | None = None

    def replaced(
        self,
        *,
        retry: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> CallOptions:
        """These options with those given in their place (``headers`` added
        to the current ones); ``None`` keeps the current value.

        Raises:
            InvalidArgumentType: an option of the wrong type.
            InvalidArgument: a header that may not be set or sent as is.
        """
        if retry is not None:
            retry = check_instance("retry", retry, RetryPolicy)
        if timeouts is not None:
            timeouts = check_instance("timeouts", timeouts, Timeouts)
        if headers is not None:
            headers = {**(self.headers or {}), **check_extra_headers(headers)}
        return CallOptions(
            retry=retry or self.retry,
            timeouts=self.timeouts if timeouts is None else timeouts,
            headers=self.headers if headers is None else headers,
        )


class Shared:
    """The mutable state a desk shares with its ``with_options()`` views."""

    __slots__ = ("closed", "retries")

    def __init__(self) -> None:
        self.closed = False
        self.retries = 0
