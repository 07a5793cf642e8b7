"""Faults the fake desk can inject, scriptable per route and per request number."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import attrs

__all__ = ["Fault", "FaultRule"]

FaultKind = Literal["latency", "reset", "reset_body", "truncate", "drip", "html", "error", "odd_enums"]


@attrs.frozen(kw_only=True)
class Fault:
    """One misbehaviour. Build it with the class methods; give it to ``FakeDesk.inject``."""

    kind: FaultKind
    seconds: float = 0.0
    at_byte: int | None = None
    status: int = 502
    code: str = "desk_blocklisted"
    retry_after: str | None = None
    chunk: int = 256

    @classmethod
    def latency(cls, seconds: float) -> Fault:
        """Answer normally after ``seconds``."""
        return cls(kind="latency", seconds=seconds)

    @classmethod
    def reset(cls) -> Fault:
        """Handle the request (a create does happen), then reset the connection
        before any byte of the answer."""
        return cls(kind="reset")

    @classmethod
    def reset_mid_body(cls, at_byte: int | None = None) -> Fault:
        """Send the headers and ``at_byte`` bytes of the body (default: half), then reset."""
        return cls(kind="reset_body", at_byte=at_byte)

    @classmethod
    def truncate(cls, at_byte: int | None = None) -> Fault:
        """Announce the whole body's length, send ``at_byte`` bytes of it, then close cleanly."""
        return cls(kind="truncate", at_byte=at_byte)

    @classmethod
    def drip(cls, *, chunk: int = 256, interval: float = 0.05) -> Fault:
        """Send the body ``chunk`` bytes at a time, ``interval`` seconds apart."""
        return cls(kind="drip", chunk=chunk, seconds=interval)

    @classmethod
    def html_error(cls, status: int = 502, *, retry_after: str | None = None) -> Fault:
        """Answer a proxy's HTML error page, with an optional ``Retry-After``."""
        return cls(kind="html", status=status, retry_after=retry_after)

    @classmethod
    def error(cls, status: int, code: str, *, retry_after: str | None = None) -> Fault:
        """Answer a JSON error body with any status and code (documented or not)."""
        return cls(kind="error", status=status, code=code, retry_after=retry_after)

    @classmethod
    def odd_enums(cls) -> Fault:
        """Answer normally, but with undocumented priority, status type and author kind values."""
        return cls(kind="odd_enums")


@attrs.define
class FaultRule:
    """Where a fault applies: a route (or every route), which request numbers
    of it (1-based, counted per route, or over all requests when ``route`` is
    ``None``), and how many more times."""

    fault: Fault
    route: str | None = None
    on: frozenset[int] | None = None
    times: int | None = None

    def matches(self, route: str, number: int) -> bool:
        if self.route is not None and self.route != route:
            return False
        if self.on is not None and number not in self.on:
            return False
        return self.times is None or self.times > 0

    def consume(self) -> None:
        if self.times is not None:
            self.times -= 1


def request_numbers(on: int | Iterable[int] | None) -> frozenset[int] | None:
    if on is None:
        return None
    if isinstance(on, int):
        return frozenset({on})
    return frozenset(on)
