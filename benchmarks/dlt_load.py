"""The dlt source into DuckDB: a first load of N tickets, then a run with nothing
new, each in a fresh process (time, peak RSS), against a fake desk in its own
process that counts the requests it answers. For comparison, in the same run,
a plain ``desk.tickets()`` walk over the same tickets in a fresh process.

    python -m pip install -e '.[dlt]'
    python -m benchmarks.dlt_load --tickets 100000 [--loader-file-format jsonl]

Timings are what one run on this machine gave; the ratio to the plain walk is
the figure to compare across machines. Nothing here decides a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web


def serve(tickets: int) -> None:
    """A FakeDesk in this process, plus ``GET /_stats`` with its request counts."""
    from headoni_async.testing import FakeDesk

    async def main() -> None:
        fake = FakeDesk("acme", tickets=tickets, seed=1)
        app = fake.make_app()

        async def stats(request: web.Request) -> web.Response:
            return web.json_response({"all": fake.count(), "list_tickets": fake.count("list_tickets")})

        app.router.add_get("/_stats", stats)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        token = fake.mint_token({"tickets:read"})
        print(f"READY {runner.addresses[0][1]} {token}", flush=True)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        await reader.read()  # until the parent closes our stdin
        await runner.cleanup()

    asyncio.run(main())


def load(base_url: str, work: str, file_format: str) -> None:
    """One pipeline run (a fresh process each time; the token from dlt's
    secrets in the environment); prints a JSON line."""
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    os.environ["DLT_DATA_DIR"] = work
    started = time.perf_counter()
    import dlt

    from headoni_async.dlt import headoni_source

    pipeline = dlt.pipeline(
        "bench",
        pipelines_dir=os.path.join(work, "pipelines"),
        destination=dlt.destinations.duckdb(os.path.join(work, "warehouse.duckdb")),
        dataset_name="acme",
    )
    options = {} if file_format == "default" else {"loader_file_format": file_format}
    pipeline.run(headoni_source(desk="acme", base_url=base_url), **options)
    elapsed = time.perf_counter() - started
    steps = {s.step: (s.finished_at - s.started_at).total_seconds() for s in pipeline.last_trace.steps}
    rows = pipeline.last_trace.last_normalize_info.row_counts.get("tickets", 0)
    print(json.dumps({"seconds": elapsed, "rss_mb": _peak_mb(), "rows": rows, "steps": steps}))


def walk(base_url: str) -> None:
    """The same tickets through ``desk.tickets()`` alone (a fresh process)."""
    from headoni_async import AsyncDesk

    token = os.environ["SOURCES__HEADONI__TOKEN"]

    async def main() -> int:
        async with AsyncDesk("acme", token, base_url=base_url) as desk:
            return sum([len(page.records) async for page in desk.tickets().pages()])

    started = time.perf_counter()
    count = asyncio.run(main())
    print(json.dumps({"seconds": time.perf_counter() - started, "rss_mb": _peak_mb(), "rows": count}))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@contextmanager
def _server(tickets: int) -> Iterator[tuple[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.dlt_load", "--serve", "--tickets", str(tickets)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        if not line or line[0] != "READY":
            raise RuntimeError(f"the fake desk did not start: {line!r}")
        yield f"http://127.0.0.1:{line[1]}", line[2]
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)


def _child(token: str, *args: str) -> dict[str, Any]:
    # The token goes by environment (dlt's secrets provider), never on a command line.
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.dlt_load", *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "SOURCES__HEADONI__TOKEN": token},
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def _stats(root: str) -> dict[str, int]:
    with urllib.request.urlopen(root + "/_stats") as response:  # noqa: S310 - loopback, our server
        result: dict[str, int] = json.load(response)
        return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--loader-file-format", default="default", help="dlt's loader_file_format (e.g. jsonl)"
    )
    parser.add_argument("--load", nargs=2, metavar=("BASE_URL", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--walk", metavar="BASE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.tickets)
    if args.load:
        return load(*args.load, args.loader_file_format)
    if args.walk:
        return walk(args.walk)
    with _server(args.tickets) as (root, token), tempfile.TemporaryDirectory() as work:
        base_url = root + "/api/v1"
        plain = _child(token, "--walk", base_url)
        before = _stats(root)
        first = _child(token, "--load", base_url, work, "--loader-file-format", args.loader_file_format)
        middle = _stats(root)
        again = _child(token, "--load", base_url, work, "--loader-file-format", args.loader_file_format)
        after = _stats(root)
    print(f"{args.tickets:,} tickets, loader_file_format {args.loader_file_format}; a fresh process per line")
    print(f"  plain desk.tickets() walk   {plain['seconds']:7.2f} s  peak RSS {plain['rss_mb']:6.0f} MB")
    print(
        f"  dlt first load into DuckDB  {first['seconds']:7.2f} s  peak RSS {first['rss_mb']:6.0f} MB"
        f"  ({first['seconds'] / plain['seconds']:.1f}x the walk; rows {first['rows']:,};"
        f" list requests {middle['list_tickets'] - before['list_tickets']},"
        f" all {middle['all'] - before['all']}); steps "
        + ", ".join(f"{k} {v:.2f} s" for k, v in first["steps"].items() if k != "run")
    )
    print(
        f"  dlt run with nothing new    {again['seconds']:7.2f} s  peak RSS {again['rss_mb']:6.0f} MB"
        f"  (rows {again['rows']}; list requests {after['list_tickets'] - middle['list_tickets']},"
        f" all {after['all'] - middle['all']})"
    )


if __name__ == "__main__":
    main()
