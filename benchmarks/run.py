"""Benchmarks: headoni-async against the floor (bare aiohttp) and the peer
(httpx + pydantic v2), as ratios measured in one run.

    python -m pip install -e '.[bench]'
    python -m benchmarks.run            # the full table (about two minutes)
    python -m benchmarks.run --quick    # tiny sizes, seconds: proves it runs (CI)
    python -m benchmarks.run --write    # also rewrite benchmarks/RESULTS.md

Servers run in their own processes (benchmarks/server.py), so client and
server never share an event loop. Each figure is the median of its rounds,
with the spread (min..max) beside it; the rounds of the things compared are
interleaved, so a noisy neighbour hits all of them alike.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import aiohttp
import attrs

from headoni_async import AsyncDesk, RetryPolicy

HERE = Path(__file__).resolve().parent
TOKEN = "hd_benchmark"


# ---------------------------------------------------------------- servers


@contextlib.contextmanager
def server(tickets: int, latency: float = 0.0) -> Iterator[str]:
    """Start benchmarks/server.py in its own process; yield its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.server", "--tickets", str(tickets), "--latency", str(latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=HERE.parent,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the benchmark server did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _stats(root: str, reset: bool = False) -> dict[str, int]:
    async with aiohttp.ClientSession() as session:
        if reset:
            async with session.post(root + "/_reset") as r:
                await r.read()
        async with session.get(root + "/_stats") as r:
            data: dict[str, int] = await r.json()
            return data


# ---------------------------------------------------------------- the three clients


def _loads() -> Callable[[bytes], Any]:
    try:
        import orjson

        return orjson.loads
    except ImportError:  # the floor uses the fastest decoder installed
        return json.loads


async def floor_stream(root: str, limit: int) -> int:
    """The floor: bare aiohttp following nextCursor, JSON to dicts, no models."""
    loads = _loads()
    seen = 0
    cursor = None
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as session:
        while seen < limit:
            params = {"limit": "100"} if cursor is None else {"limit": "100", "cursor": cursor}
            async with session.get(root + "/api/v1/tickets", params=params, headers=headers) as resp:
                page = loads(await resp.read())
            seen += len(page["tickets"])
            cursor = page["nextCursor"]
            if cursor is None:
                break
    return min(seen, limit)


async def ours_stream(root: str, limit: int, *, prefetch: bool = True, work: float = 0.0) -> int:
    """headoni-async: AsyncDesk.tickets() yielding frozen attrs models."""
    seen = 0
    async with (
        AsyncDesk("acme", TOKEN, base_url=root + "/api/v1") as desk,
        desk.tickets(page_size=100, prefetch=prefetch) as stream,
    ):
        async for page in stream.pages():
            seen += len(page.tickets)
            if work:
                await asyncio.sleep(work)
            if seen >= limit:
                break
    return min(seen, limit)


async def ours_stream_tickets(root: str, limit: int) -> int:
    seen = 0
    async with (
        AsyncDesk("acme", TOKEN, base_url=root + "/api/v1") as desk,
        desk.tickets(page_size=100) as stream,
    ):
        async for _ in stream:
            seen += 1
            if seen >= limit:
                break
    return seen


async def peer_stream(root: str, limit: int) -> int:
    """The peer: httpx.AsyncClient, each page validated into pydantic v2 models."""
    import httpx

    from .peers import Page

    seen = 0
    cursor = None
    async with httpx.AsyncClient(base_url=root, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        while seen < limit:
            params = {"limit": "100"} if cursor is None else {"limit": "100", "cursor": cursor}
            resp = await client.get("/api/v1/tickets", params=params)
            page = Page.model_validate_json(resp.content)
            seen += len(page.tickets)
            cursor = page.next_cursor
            if cursor is None:
                break
    return min(seen, limit)


async def floor_get_many(root: str, numbers: list[int]) -> None:
    loads = _loads()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as session:
        for n in numbers:
            async with session.get(f"{root}/api/v1/tickets/{n}", headers=headers) as resp:
                loads(await resp.read())


async def ours_get_many(root: str, numbers: list[int]) -> None:
    async with AsyncDesk("acme", TOKEN, base_url=root + "/api/v1") as desk:
        for n in numbers:
            await desk.get_ticket(n)


async def ours_fan_out(root: str, numbers: list[int], concurrency: int) -> None:
    policy = RetryPolicy(attempts=1)
    async with AsyncDesk("acme", TOKEN, base_url=root + "/api/v1", retry=policy) as desk:
        got = [t async for t in desk.get_tickets(numbers, concurrency=concurrency)]
    assert len(got) == len(numbers)


# ---------------------------------------------------------------- measuring


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


async def timed(fn: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


async def interleaved(rounds: int, cases: dict[str, Callable[[], Awaitable[Any]]]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            times[name].append(await timed(fn))
    return times


@attrs.frozen
class Row:
    scenario: str
    measured: str
    ratio: float | None
    target: str
    ok: bool | None


# ---------------------------------------------------------------- scenarios


async def throughput(root: str, tickets: int, rounds: int) -> list[Row]:
    times = await interleaved(
        rounds,
        {
            "floor": lambda: floor_stream(root, tickets),
            "ours": lambda: ours_stream_tickets(root, tickets),
            "peer": lambda: peer_stream(root, tickets),
        },
    )
    rate = {k: sample([tickets / t for t in v]) for k, v in times.items()}
    vs_floor = statistics.median(f / o for f, o in zip(times["floor"], times["ours"], strict=True))
    vs_peer = statistics.median(p / o for p, o in zip(times["peer"], times["ours"], strict=True))
    return [
        Row("1. stream: floor (aiohttp + dicts)", rate["floor"].fmt(" t/s"), None, "", None),
        Row("1. stream: headoni-async models", rate["ours"].fmt(" t/s"), None, "", None),
        Row("1. stream: peer (httpx + pydantic)", rate["peer"].fmt(" t/s"), None, "", None),
        Row("1. stream: ours / floor", f"{vs_floor:.2f}x", vs_floor, ">= 0.5x", vs_floor >= 0.5),
        Row("1. stream: ours / peer", f"{vs_peer:.2f}x", vs_peer, ">= 2x", vs_peer >= 2.0),
    ]


async def latency_hiding(root: str, tickets: int, rounds: int) -> list[Row]:
    times = await interleaved(
        rounds,
        {
            "prefetch": lambda: ours_stream(root, tickets, prefetch=True, work=0.005),
            "plain": lambda: ours_stream(root, tickets, prefetch=False, work=0.005),
        },
    )
    ratio = statistics.median(a / b for a, b in zip(times["prefetch"], times["plain"], strict=True))
    on, off = sample(times["prefetch"]), sample(times["plain"])
    return [
        Row(
            "2. prefetch / no prefetch (5 ms server, 5 ms work)",
            f"{on.fmt(' s', digits=2)} vs {off.fmt(' s', digits=2)}",
            ratio,
            "<= 0.6x",
            ratio <= 0.6,
        )
    ]


async def fan_out(root: str, count: int, rounds: int) -> list[Row]:
    numbers = list(range(1001, 1001 + count))
    await _stats(root, reset=True)
    times = await interleaved(
        rounds,
        {"c16": lambda: ours_fan_out(root, numbers, 16), "c1": lambda: ours_fan_out(root, numbers, 1)},
    )
    # Connections of one concurrency-16 run, counted at the server.
    await _stats(root, reset=True)
    await ours_fan_out(root, numbers, 16)
    connections = (await _stats(root))["connections"]
    speedup = statistics.median(b / a for a, b in zip(times["c16"], times["c1"], strict=True))
    return [
        Row(
            f"3. get_tickets x{count}, 20 ms: c=16 vs c=1",
            f"{sample(times['c16']).fmt(' s', digits=2)} vs {sample(times['c1']).fmt(' s', digits=2)}",
            speedup,
            ">= 10x",
            speedup >= 10,
        ),
        Row("3. TCP connections at c=16", str(connections), None, "<= 16", connections <= 16),
    ]


def _child_rss(root: str, tickets: int) -> float:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--child-memory", root, str(tickets)],
        capture_output=True,
        check=True,
        cwd=HERE.parent,
    )
    return float(out.stdout.decode().split()[-1])


def memory(root: str, small: int, large: int, rounds: int) -> list[Row]:
    growth, peaks = [], []
    for _ in range(rounds):
        low, high = _child_rss(root, small), _child_rss(root, large)
        growth.append(high - low)
        peaks.append(high)
    g = sample(growth)
    return [
        Row(
            f"4. peak RSS, {large:,} vs {small:,} tickets streamed",
            f"+{g.fmt(' MB', digits=1)} (peak {statistics.median(peaks):.0f} MB)",
            g.median,
            "< 10 MB",
            g.median < 10,
        )
    ]


async def overhead(root: str, calls: int, rounds: int) -> list[Row]:
    numbers = [1001 + (i % 500) for i in range(calls)]
    await ours_get_many(root, numbers[:500])  # the server renders each ticket once, before timing
    times = await interleaved(
        rounds, {"floor": lambda: floor_get_many(root, numbers), "ours": lambda: ours_get_many(root, numbers)}
    )
    ratio = statistics.median(o / f for f, o in zip(times["floor"], times["ours"], strict=True))
    per_call = {k: sample([t / calls for t in v]) for k, v in times.items()}
    return [
        Row(
            f"5. {calls:,} sequential get_ticket: ours / bare aiohttp",
            f"{per_call['ours'].fmt(' us', 1e6)} vs {per_call['floor'].fmt(' us', 1e6)} per call",
            ratio,
            "<= 1.3x",
            ratio <= 1.3,
        )
    ]


def decode_cost(number: int) -> list[Row]:
    import msgspec

    from headoni_async._models import decode_page
    from headoni_async._protocol import json_loads
    from headoni_async.testing import DeskStore
    from headoni_async.testing._fake import _summary_bytes

    store = DeskStore(tickets=100, seed=1)
    body = (
        b'{"tickets":[' + b",".join(_summary_bytes(t) for t in store.iter_tickets()) + b'],"nextCursor":"1"}'
    )
    from .peers import MPage, Page

    decoder = msgspec.json.Decoder(MPage)
    cases = {
        "headoni-async (json + cattrs -> attrs)": lambda: decode_page(json_loads(body)),
        "pydantic v2 (model_validate_json)": lambda: Page.model_validate_json(body),
        "msgspec (Struct decoder)": lambda: decoder.decode(body),
    }
    rows = []
    for name, fn in cases.items():
        runs = [timeit.timeit(fn, number=number) / number for _ in range(5)]
        rows.append(
            Row(f"6. decode one 100-ticket page: {name}", sample(runs).fmt(" us", 1e6), None, "info", None)
        )
    return rows


# ---------------------------------------------------------------- the run


def _environment() -> str:
    libs = ", ".join(
        f"{name} {version(name)}"
        for name in (
            "headoni-async",
            "aiohttp",
            "attrs",
            "cattrs",
            "tenacity",
            "orjson",
            "httpx",
            "pydantic",
            "msgspec",
        )
    )
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}; {libs}"
    )


def table(rows: list[Row]) -> str:
    lines = [
        "| scenario | measured: median (min..max) | ratio | target | met |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        met = "" if r.ok is None else ("yes" if r.ok else "**no**")
        ratio = "" if r.ratio is None else f"{r.ratio:.2f}"
        lines.append(f"| {r.scenario} | {r.measured} | {ratio} | {r.target} | {met} |")
    return "\n".join(lines)


@attrs.frozen
class Sizes:
    stream: int
    hide: int
    fan: int
    mem_small: int
    mem_large: int
    calls: int
    rounds: int


FULL = Sizes(stream=100_000, hide=10_000, fan=500, mem_small=20_000, mem_large=200_000, calls=2_000, rounds=5)
QUICK = Sizes(stream=2_000, hide=1_000, fan=20, mem_small=2_000, mem_large=4_000, calls=100, rounds=1)


async def run(quick: bool) -> list[Row]:
    z = QUICK if quick else FULL
    rows: list[Row] = []
    with server(max(z.stream, z.mem_large)) as fast:
        rows += await throughput(fast, z.stream, z.rounds)
        rows += memory(fast, z.mem_small, z.mem_large, max(1, z.rounds // 2))
        rows += await overhead(fast, z.calls, z.rounds)
    with server(z.hide, latency=0.005) as slow:
        rows += await latency_hiding(slow, z.hide, max(1, z.rounds - 2))
    with server(z.fan + 1, latency=0.02) as slower:
        rows += await fan_out(slower, z.fan, max(1, z.rounds - 3))
    rows += decode_cost(50 if quick else 500)
    return sorted(rows, key=lambda r: r.scenario.split(".")[0])


def child_memory(root: str, tickets: int) -> None:
    asyncio.run(ours_stream(root, tickets))
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, one round: proves the benchmark runs"
    )
    parser.add_argument("--write", action="store_true", help="rewrite benchmarks/RESULTS.md with this table")
    parser.add_argument("--child-memory", nargs=2, metavar=("ROOT", "TICKETS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_memory:
        child_memory(args.child_memory[0], int(args.child_memory[1]))
        return
    rows = asyncio.run(run(args.quick))
    env = _environment()
    if args.quick:
        env += "\n\n(--quick: sizes too small for the targets to mean anything; it proves the benchmark runs)"
    text = f"{env}\n\n{table(rows)}\n"
    print(text)
    if args.write:
        (HERE / "RESULTS.md").write_text(
            "# Benchmark results\n\nThe latest full run of `python -m benchmarks.run --write` on this "
            "project's machine. See benchmarks/README.md for what each row means.\n\n" + text
        )


if __name__ == "__main__":
    main()
