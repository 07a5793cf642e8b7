"""What every benchmark module shares: a measured figure, a table row, and
the fastest JSON decoder installed (the floor's)."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from typing import Any

import attrs


@attrs.frozen
class Sample:
    median: float
    low: float
    high: float

    def fmt(self, unit: str = "", scale: float = 1.0, digits: int = 0) -> str:
        m, lo, hi = (v * scale for v in (self.median, self.low, self.high))
        return f"{m:,.{digits}f}{unit} ({lo:,.{digits}f}..{hi:,.{digits}f})"


def sample(values: list[float]) -> Sample:
    return Sample(statistics.median(values), min(values), max(values))


@attrs.frozen
class Row:
    scenario: str
    measured: str
    ratio: float | None
    target: str
    ok: bool | None


def fastest_loads() -> Callable[[bytes], Any]:
    """orjson's ``loads`` when installed, else the stdlib's: what the floor uses."""
    try:
        import orjson

        loads: Callable[[bytes], Any] = orjson.loads
        return loads
    except ImportError:  # the floor uses the fastest decoder installed
        return json.loads
