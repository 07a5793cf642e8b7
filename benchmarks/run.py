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
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import aiohttp
import attrs

from headoni_async import AsyncDesk, RetryPolicy

from . import micro
from .common import Row, fastest_loads, sample

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


PageDecoder = Callable[[bytes], tuple[int, str | None]]
"""Page bytes -> (tickets on the page, next cursor): what a bare-aiohttp walker needs."""


def dict_pages() -> PageDecoder:
    """The floor: JSON into dicts with the fastest decoder installed, no models."""
    loads = fastest_loads()

    def decode(body: bytes) -> tuple[int, str | None]:
        page = loads(body)
        return len(page["tickets"]), page["nextCursor"]

    return decode


def no_pages() -> PageDecoder:
    """Transport only: the bytes are not parsed; the cursor is found by a byte search."""

    def decode(body: bytes) -> tuple[int, str | None]:
        return body.count(b'"number":'), _tail_cursor(body)

    return decode


def msgspec_pages() -> PageDecoder:
    """The typed-decode limit: msgspec Structs straight from the bytes."""
    import msgspec

    from .peers import MPage

    loads = msgspec.json.Decoder(MPage).decode

    def decode(body: bytes) -> tuple[int, str | None]:
        page = loads(body)
        return len(page.tickets), page.next_cursor

    return decode


def pydantic_pages() -> PageDecoder:
    """The peer's models on our transport: pydantic v2 validating the bytes."""
    from .peers import Page

    def decode(body: bytes) -> tuple[int, str | None]:
        page = Page.model_validate_json(body)
        return len(page.tickets), page.next_cursor

    return decode


def our_model_pages() -> PageDecoder:
    """headoni-async's models without the client: each page's bytes through the
    desk's own page decoder (msgspec when installed, else JSON and the converter),
    with no pager, request path, order check or per-ticket iteration around it.
    The limit any walk that builds these models can reach."""
    from headoni_async._json import json_loads
    from headoni_async._models import decode_page, page_from_bytes

    def decode(body: bytes) -> tuple[int, str | None]:
        page = page_from_bytes(body) or decode_page(json_loads(body))
        return len(page.tickets), page.next_cursor

    return decode


async def bare_stream(root: str, limit: int, decode: PageDecoder) -> int:
    """Bare aiohttp following nextCursor; ``decode`` turns each page's bytes into something."""
    seen = 0
    cursor = None
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as session:
        while seen < limit:
            params = {"limit": "100"} if cursor is None else {"limit": "100", "cursor": cursor}
            async with session.get(root + "/api/v1/tickets", params=params, headers=headers) as resp:
                count, cursor = decode(await resp.read())
            seen += count
            if cursor is None:
                break
    return min(seen, limit)


def _tail_cursor(body: bytes) -> str | None:
    """The ``nextCursor`` at the end of a page body (the benchmark server writes it last)."""
    marker = b'"nextCursor":'
    cursor = body[body.rindex(marker) + len(marker) : -1].strip()
    return None if cursor == b"null" else cursor.strip(b'"').decode()


async def bare_stream_ahead(root: str, limit: int, decode: PageDecoder) -> int:
    """Bare aiohttp one page ahead, as ours is: the next page's request is sent as
    soon as a page's bytes arrive (its cursor read from the end of the body) and
    the page is decoded while the server works on it."""
    seen = 0
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as session:

        async def get(cursor: str | None) -> bytes:
            params = {"limit": "100"} if cursor is None else {"limit": "100", "cursor": cursor}
            async with session.get(root + "/api/v1/tickets", params=params, headers=headers) as resp:
                return await resp.read()

        body = await get(None)
        while True:
            guess = _tail_cursor(body)
            ahead = None if guess is None else asyncio.ensure_future(get(guess))
            if ahead is not None:
                await asyncio.sleep(0)  # let it send its request
            count, cursor = decode(body)
            seen += count
            if ahead is None or seen >= limit:
                break
            assert cursor == guess
            body = await ahead
        if ahead is not None and not ahead.done():
            ahead.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ahead
    return min(seen, limit)


@contextlib.contextmanager
def plain_json_path() -> Iterator[None]:
    """headoni-async as if msgspec were not installed (the orjson/stdlib decode path)."""
    from headoni_async import _models

    saved = _models._decode_page_struct
    _models._decode_page_struct = None
    try:
        yield
    finally:
        _models._decode_page_struct = saved


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


async def ours_stream_tickets(root: str, limit: int, *, plain: bool = False, prefetch: bool = True) -> int:
    """headoni-async's stream, ticket by ticket; ``plain``: without the msgspec path."""
    seen = 0
    with plain_json_path() if plain else contextlib.nullcontext():
        async with (
            AsyncDesk("acme", TOKEN, base_url=root + "/api/v1") as desk,
            desk.tickets(page_size=100, prefetch=prefetch) as stream,
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
    loads = fastest_loads()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as session:
        for n in numbers:
            async with session.get(f"{root}/api/v1/tickets/{n}", headers=headers) as resp:
                loads(await resp.read())


async def floor_fan_out(root: str, numbers: list[int], concurrency: int) -> None:
    """Bare aiohttp: the same GETs, at most ``concurrency`` in flight on a pool of that size."""
    loads = fastest_loads()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    gate = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(n: int) -> Any:
            async with gate, session.get(f"{root}/api/v1/tickets/{n}", headers=headers) as resp:
                return loads(await resp.read())

        got = await asyncio.gather(*(one(n) for n in numbers))
    assert len(got) == len(numbers)


async def ours_get_many(root: str, numbers: list[int]) -> None:
    async with AsyncDesk("acme", TOKEN, base_url=root + "/api/v1") as desk:
        for n in numbers:
            await desk.get_ticket(n)


async def ours_fan_out(root: str, numbers: list[int], concurrency: int, pool: int = 32) -> None:
    policy = RetryPolicy(attempts=1)
    async with AsyncDesk(
        "acme", TOKEN, base_url=root + "/api/v1", retry=policy, max_connections=pool
    ) as desk:
        got = [t async for t in desk.get_tickets(numbers, concurrency=concurrency)]
    assert len(got) == len(numbers)


# ---------------------------------------------------------------- measuring


async def timed(fn: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


async def interleaved(rounds: int, cases: dict[str, Callable[[], Awaitable[Any]]]) -> dict[str, list[float]]:
    """Run every case once untimed (imports, connection pools, the server's caches and
    the CPU's frequency settle), then ``rounds`` timed rounds, one case after the other."""
    for fn in cases.values():
        await fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            times[name].append(await timed(fn))
    return times


# ---------------------------------------------------------------- scenarios


async def throughput(root: str, tickets: int, rounds: int) -> list[Row]:
    """Scenario 1. The targets compare like with like, in the setting they
    were set for: serial walks (ours with ``prefetch=False``) against serial
    bare walks. As information: the same clients one page ahead (the next
    request sent as soon as a page's bytes arrive, as ``desk.tickets()`` does
    by default), and ours as shipped against the serial bare rows (what a user
    switching from hand-written aiohttp code sees)."""
    transport, dicts, structs, pydantic = no_pages(), dict_pages(), msgspec_pages(), pydantic_pages()
    models = our_model_pages()
    times = await interleaved(
        rounds,
        {
            "transport": lambda: bare_stream(root, tickets, transport),
            "floor": lambda: bare_stream(root, tickets, dicts),
            "msgspec": lambda: bare_stream(root, tickets, structs),
            "pydantic": lambda: bare_stream(root, tickets, pydantic),
            "models": lambda: bare_stream(root, tickets, models),
            "serial": lambda: ours_stream_tickets(root, tickets, prefetch=False),
            "serial plain": lambda: ours_stream_tickets(root, tickets, plain=True, prefetch=False),
            "floor ahead": lambda: bare_stream_ahead(root, tickets, dicts),
            "pydantic ahead": lambda: bare_stream_ahead(root, tickets, pydantic),
            "ours": lambda: ours_stream_tickets(root, tickets),
            "plain": lambda: ours_stream_tickets(root, tickets, plain=True),
            "peer": lambda: peer_stream(root, tickets),
        },
    )
    rate = {k: sample([tickets / t for t in v]) for k, v in times.items()}

    def speed(ours: str, other: str) -> float:
        """How many times faster ``ours`` is than ``other``: the median of the per-round ratios."""
        return statistics.median(o / u for u, o in zip(times[ours], times[other], strict=True))

    def model_cost(ours: str, other: str) -> float:
        """The same, counting only what each adds to the transport-only walk of that round."""
        return statistics.median(
            (o - t) / (u - t) for t, u, o in zip(times["transport"], times[ours], times[other], strict=True)
        )

    def rated(name: str, key: str) -> Row:
        return Row(f"1. stream: {name}", rate[key].fmt(" t/s"), None, "", None)

    def ratio(name: str, value: float, target: float | None) -> Row:
        if target is None:
            return Row(f"1. stream: {name}", f"{value:.2f}x", value, "info", None)
        return Row(f"1. stream: {name}", f"{value:.2f}x", value, f">= {target:g}x", value >= target)

    return [
        rated("serial: transport only (aiohttp, bytes not parsed)", "transport"),
        rated("serial: floor (aiohttp + orjson dicts)", "floor"),
        rated("serial: typed limit (aiohttp + msgspec structs)", "msgspec"),
        rated("serial: peer's models (aiohttp + pydantic)", "pydantic"),
        rated("serial: our models alone (aiohttp + headoni-async's page decoder, no client)", "models"),
        rated("serial: headoni-async (prefetch=False)", "serial"),
        rated("serial: headoni-async without msgspec (prefetch=False)", "serial plain"),
        rated("one page ahead: floor (aiohttp + orjson dicts)", "floor ahead"),
        rated("one page ahead: peer's models (aiohttp + pydantic)", "pydantic ahead"),
        rated("one page ahead: headoni-async (as shipped)", "ours"),
        rated("one page ahead: headoni-async without msgspec", "plain"),
        rated("peer (httpx + pydantic, serial)", "peer"),
        ratio("serial: ours / floor", speed("serial", "floor"), 0.65),
        ratio("serial: ours without msgspec / floor", speed("serial plain", "floor"), 0.55),
        ratio("serial: ours / peer's models", speed("serial", "pydantic"), 1.6),
        ratio("one page ahead: ours / floor", speed("ours", "floor ahead"), None),
        ratio("one page ahead: ours without msgspec / floor", speed("plain", "floor ahead"), None),
        ratio("one page ahead: ours / peer's models", speed("ours", "pydantic ahead"), None),
        ratio("serial: our models alone / peer's models", speed("models", "pydantic"), None),
        ratio("serial: ours / our models alone (the client around them)", speed("serial", "models"), None),
        ratio("serial: ours / typed limit", speed("serial", "msgspec"), None),
        ratio(
            "serial: model cost over transport, peer's models / ours",
            model_cost("serial", "pydantic"),
            None,
        ),
        ratio("as shipped vs as most write it: ours / serial floor", speed("ours", "floor"), None),
        ratio("as shipped vs as most write it: ours / serial peer's models", speed("ours", "pydantic"), None),
        ratio("ours / peer", speed("ours", "peer"), 2.0),
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


async def concurrency(root: str, count: int, rounds: int) -> list[Row]:
    """get_tickets at concurrency 64 on a fast server vs bare aiohttp with the same pool size."""
    numbers = [1001 + (i % 500) for i in range(count)]
    await ours_get_many(root, numbers[:500])  # the server renders each ticket once, before timing
    times = await interleaved(
        rounds,
        {
            "floor": lambda: floor_fan_out(root, numbers, 64),
            "ours": lambda: ours_fan_out(root, numbers, 64, pool=64),
        },
    )
    ratio = statistics.median(f / o for f, o in zip(times["floor"], times["ours"], strict=True))
    rate = {k: sample([count / t for t in v]) for k, v in times.items()}
    return [
        Row(
            f"7. get_tickets x{count:,} at concurrency 64: ours / bare aiohttp (pool 64)",
            f"{rate['ours'].fmt(' t/s')} vs {rate['floor'].fmt(' t/s')}",
            ratio,
            "info",
            None,
        )
    ]


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
    fan_fast: int
    held: int
    hide: int
    fan: int
    mem_small: int
    mem_large: int
    calls: int
    rounds: int


FULL = Sizes(
    stream=100_000,
    fan_fast=5_000,
    held=100_000,
    hide=10_000,
    fan=500,
    mem_small=20_000,
    mem_large=200_000,
    calls=2_000,
    rounds=5,
)
QUICK = Sizes(
    stream=2_000,
    fan_fast=200,
    held=2_000,
    hide=1_000,
    fan=20,
    mem_small=2_000,
    mem_large=4_000,
    calls=100,
    rounds=1,
)


async def run(quick: bool) -> list[Row]:
    z = QUICK if quick else FULL
    rows: list[Row] = []
    with server(max(z.stream, z.mem_large)) as fast:
        rows += await throughput(fast, z.stream, z.rounds)
        rows += memory(fast, z.mem_small, z.mem_large, max(1, z.rounds // 2))
        rows += await overhead(fast, z.calls, z.rounds)
        rows += await concurrency(fast, z.fan_fast, z.rounds)
    with server(z.hide, latency=0.005) as slow:
        rows += await latency_hiding(slow, z.hide, max(1, z.rounds - 2))
    with server(z.fan + 1, latency=0.02) as slower:
        rows += await fan_out(slower, z.fan, max(1, z.rounds - 3))
    rows += micro.decode_cost(50 if quick else 500)
    rows += micro.memory_held(z.held)
    return sorted(rows, key=lambda r: int(r.scenario.split(".")[0]))


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
