"""Services benchmarks: what hooks and an idle rate limiter cost per call, and
how accurate the rate limit is at the server.

    python -m benchmarks.services            # the full run (about a minute)
    python -m benchmarks.services --quick    # tiny sizes: proves it runs (CI)

1. Overhead: 2,000 sequential ``get_ticket()`` calls against the benchmark
   server (its own process), rounds interleaved: a plain desk, one with four
   no-op hooks, one with an idle rate limiter (a limit it never reaches), and
   one with both (plus OpenTelemetry hooks on the SDK with no exporter, when
   installed). Measured as the client process's CPU time (the server is
   another process; wall time on a shared machine is mostly the neighbours).
   Each ratio is the median of the per-round ratios to the plain desk.
   Target: within 5 %.
2. Accuracy: 200 concurrent callers, one lookup each, against the fake desk
   on its own thread, at ``rate_limit=10`` and ``rate_limit=50``: the most
   requests that arrived in any one-second window (every window that starts
   at an arrival), and the rate achieved. Target: never above the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from headoni_async import AsyncDesk, Hooks, RateLimit
from headoni_async._hooks import HookSet
from headoni_async._ratelimit import Pacer
from headoni_async._routes import ROUTES
from headoni_async.testing import FakeDesk

from .common import Row, sample
from .run import TOKEN, server, table


@attrs.frozen
class Sizes:
    calls: int
    rounds: int
    callers: int
    rates: tuple[int, ...]


FULL = Sizes(calls=2000, rounds=7, callers=200, rates=(10, 50))
QUICK = Sizes(calls=50, rounds=1, callers=12, rates=(10,))

NO_OP = Hooks(
    on_request=lambda e: None, on_response=lambda e: None, on_retry=lambda e: None, on_call_end=lambda e: None
)
IDLE = RateLimit(requests=1_000_000)  # never reached: only the limiter's own cost is measured


def _otel_hooks() -> Hooks | None:
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.trace import TracerProvider

        from headoni_async.otel import otel_hooks
    except ImportError:  # the otel extra and the SDK are optional here
        return None
    return otel_hooks(tracer_provider=TracerProvider(), meter_provider=MeterProvider())


async def _lookups(root: str, numbers: list[int], **options: Any) -> None:
    async with AsyncDesk("acme", TOKEN, base_url=root + "/api/v1", **options) as desk:
        for n in numbers:
            await desk.get_ticket(n)


async def overhead(root: str, calls: int, rounds: int) -> list[Row]:
    numbers = [1001 + (i % 500) for i in range(calls)]
    await _lookups(root, numbers[:500])  # the server renders each ticket once, before timing
    cases: dict[str, Callable[[], Awaitable[None]]] = {
        "plain": lambda: _lookups(root, numbers),
        "hooks": lambda: _lookups(root, numbers, hooks=NO_OP),
        "limiter": lambda: _lookups(root, numbers, rate_limit=IDLE),
        "both": lambda: _lookups(root, numbers, hooks=NO_OP, rate_limit=IDLE),
    }
    otel = _otel_hooks()
    if otel is not None:
        cases["otel"] = lambda: _lookups(root, numbers, hooks=otel)
    times = await cpu_interleaved(rounds, cases)
    plain = times["plain"]
    components = await component_costs(20 * calls, statistics.median(plain) / calls)
    per_call = {k: sample([t / calls for t in v]) for k, v in times.items()}
    rows = [
        Row(
            f"S1. {calls:,} sequential get_ticket: plain desk (client CPU)",
            f"{per_call['plain'].fmt(' us', 1e6)} per call",
            None,
            "",
            None,
        )
    ]
    labels = {
        "hooks": "four no-op hooks",
        "limiter": "an idle rate limiter",
        "both": "hooks and an idle limiter",
        "otel": "OpenTelemetry hooks (SDK, no exporter)",
    }
    for key, label in labels.items():
        if key not in times:
            continue
        ratio = statistics.median(o / p for p, o in zip(plain, times[key], strict=True))
        target = "info" if key == "otel" else "<= 1.05x"
        rows.append(
            Row(
                f"S1. {calls:,} sequential get_ticket: {label} / plain",
                f"{per_call[key].fmt(' us', 1e6)} per call",
                ratio,
                target,
                None if key == "otel" else ratio <= 1.05,
            )
        )
    return rows + components


async def cpu_interleaved(
    rounds: int, cases: dict[str, Callable[[], Awaitable[None]]]
) -> dict[str, list[float]]:
    """Like ``run.interleaved``, but each case's cost is this process's CPU
    time: the server is another process, and on a shared, loaded machine the
    client's CPU time is what an overhead changes, wall time mostly what the
    neighbours do."""
    for fn in cases.values():
        await fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            start = time.process_time()
            await fn()
            times[name].append(time.process_time() - start)
    return times


async def component_costs(n: int, plain_per_call: float) -> list[Row]:
    """The CPU the hooks' machinery (a call's three events to four no-op
    callbacks) and an idle pacer add per call, measured alone (no I/O, so no
    neighbour's noise), as a share of the plain desk's CPU per call."""
    route = ROUTES["get_ticket"]
    hooks = HookSet(NO_OP)
    start = time.process_time()
    for _ in range(n):
        trace = hooks.trace("acme", ("127.0.0.1", 443), route)
        trace.request(1)
        trace.response(1, 200, None)
        trace.end(1, 200, None)
    traced = (time.process_time() - start) / n
    pacer = Pacer(IDLE)
    start = time.process_time()
    for _ in range(n):
        release = await pacer(route, 60.0)
        release()
    paced = (time.process_time() - start) / n
    return [
        Row(
            f"S1. hooks machinery alone, per call (share of the plain desk's {plain_per_call * 1e6:.0f} us)",
            f"{traced * 1e6:.2f} us",
            1 + traced / plain_per_call,
            "<= 1.05x",
            traced / plain_per_call <= 0.05,
        ),
        Row(
            "S1. idle rate limiter alone, per call (same share)",
            f"{paced * 1e6:.2f} us",
            1 + paced / plain_per_call,
            "<= 1.05x",
            paced / plain_per_call <= 0.05,
        ),
    ]


def busiest_window(times: list[float], width: float = 1.0) -> int:
    """The most arrivals within any window of ``width`` seconds."""
    times = sorted(times)
    return max(bisect.bisect_left(times, t + width) - i for i, t in enumerate(times))


async def _accuracy_once(fake: FakeDesk, rate: int, callers: int) -> tuple[int, float]:
    numbers = [t.number for t in fake.store.iter_tickets()]
    before = len(fake.requests)
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url, rate_limit=rate) as desk:
        await asyncio.gather(*(desk.get_ticket(numbers[i % len(numbers)]) for i in range(callers)))
    arrivals = [r.received_at for r in list(fake.requests)[before:]]
    span = max(arrivals) - min(arrivals)
    return busiest_window(arrivals), (len(arrivals) - 1) / span if span else float("inf")


def accuracy(callers: int, rates: tuple[int, ...]) -> list[Row]:
    rows = []
    fake = FakeDesk("acme", tickets=250, seed=1)
    with fake.serve_in_thread():
        for rate in rates:
            started = time.perf_counter()
            busiest, achieved = asyncio.run(_accuracy_once(fake, rate, callers))
            took = time.perf_counter() - started
            rows.append(
                Row(
                    f"S2. rate_limit={rate}: most requests in any 1 s window, {callers} concurrent callers",
                    f"{busiest} (achieved {achieved:.1f}/s over {took:.1f} s)",
                    busiest / rate,
                    f"<= {rate}",
                    busiest <= rate,
                )
            )
    return rows


async def _overhead_run(z: Sizes) -> list[Row]:
    with server(500) as root:
        return await overhead(root, z.calls, z.rounds)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one round: proves it runs")
    args = parser.parse_args()
    z = QUICK if args.quick else FULL
    rows = asyncio.run(_overhead_run(z))
    rows += accuracy(z.callers, z.rates)
    print(table(rows))


if __name__ == "__main__":
    main()
