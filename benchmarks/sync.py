"""What `headoni sync` costs, counted at the fake desk and measured by the OS.

    python -m benchmarks.sync                  # requests per scenario on a 100,000-ticket desk
    python -m benchmarks.sync --time           # also: first sync vs export, wall time and peak RSS
    python -m benchmarks.sync --kills 50       # also: SIGKILL a sync 50 times at random, rerun, compare
    python -m benchmarks.sync --only-time      # just the time and RSS comparison

Requests are counted at the server (``FakeDesk.count``), so retries or hidden
re-sends would show. Time and peak RSS come from ``/usr/bin/time -v`` around
the CLI, each command in a fresh process against a fake desk in another one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from headoni_async import AsyncDesk, sync_desk
from headoni_async.testing import FakeDesk

CLI = [sys.executable, "-m", "headoni_async.cli"]
ROUTES = ("list_tickets", "get_ticket", "departments", "ticket_types")


def _counts(fake: FakeDesk, before: dict[str, int]) -> str:
    parts = [f"{r}={fake.count(r) - before.get(r, 0)}" for r in ROUTES]
    total = sum(fake.count(r) - before.get(r, 0) for r in ROUTES)
    return f"{total} requests ({', '.join(parts)})"


def _snapshot(fake: FakeDesk) -> dict[str, int]:
    return {r: fake.count(r) for r in ROUTES}


async def requests(tickets: int, db: Path) -> None:
    fake = FakeDesk("acme", tickets=tickets, seed=1)
    with fake.serve_in_thread():
        async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url) as desk:
            steps: list[tuple[str, dict[str, Any]]] = [("first sync (summaries)", {})]
            for label, options in steps:
                before = _snapshot(fake)
                r = await sync_desk(desk, db, **options)
                print(f"{label}: {r.new} new in {r.seconds:.1f} s, {_counts(fake, before)}")
            before = _snapshot(fake)
            r = await sync_desk(desk, db)
            print(f"nothing new: {_counts(fake, before)}; result.requests={r.requests}")
            fake.add_tickets(250)
            before = _snapshot(fake)
            r = await sync_desk(desk, db)
            print(f"250 new: {r.new} new, {_counts(fake, before)}")
            before = _snapshot(fake)
            r = await sync_desk(desk, db, refresh=True, full=True, concurrency=16)
            print(
                f"first --refresh --full (whole tickets for all): {r.fetched} fetched in {r.seconds:.1f} s, "
                f"{_counts(fake, before)}"
            )
            rng = random.Random(7)
            numbers = rng.sample(range(1001, 1001 + tickets), 30)
            for n in numbers:
                fake.edit_ticket(n, subject=f"edited {n}")
            before = _snapshot(fake)
            r = await sync_desk(desk, db, refresh=True, full=True)
            print(
                f"--refresh --full with 30 changed: {r.changed} changed, {r.fetched} fetched whole, "
                f"{_counts(fake, before)}"
            )


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    proc = subprocess.run(
        ["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True, check=True
    )
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    cpu = [float(x) for x in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", proc.stderr)]
    assert wall is not None and rss is not None and len(cpu) == 2, proc.stderr
    hours, minutes, seconds = wall.groups()
    elapsed = int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    summary = proc.stderr.strip().splitlines()[0]
    return elapsed, sum(cpu), int(rss.group(1)) // 1024, summary


def _serve(tickets: int) -> tuple[subprocess.Popen[str], dict[str, str]]:
    server = subprocess.Popen(  # port 0: a free port, printed in its export line
        [*CLI, "fake-desk", "--port", "0", "--tickets", str(tickets)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    env = os.environ.copy()
    for line in server.stdout:
        if line.startswith("export "):
            for pair in line.split()[1:]:
                key, value = pair.split("=", 1)
                env[key] = value
            break
    return server, env


def time_vs_export(tickets: int, folder: Path) -> None:
    server, env = _serve(tickets)
    try:
        cli = [sys.executable, "-m", "headoni_async.cli"]
        for _ in range(2):  # interleaved, twice
            db = folder / f"t{time.monotonic_ns()}.db"
            out = folder / f"t{time.monotonic_ns()}.jsonl"
            s_time, s_cpu, s_rss, s_line = _timed([*cli, "sync", "--db", str(db)], env)
            e_time, e_cpu, e_rss, e_line = _timed([*cli, "export", "--out", str(out)], env)
            print(f"first sync of {tickets}: {s_time:.1f} s, CPU {s_cpu:.1f} s, peak RSS {s_rss} MB")
            print(f"  ({s_line})")
            print(f"export of {tickets}:     {e_time:.1f} s, CPU {e_cpu:.1f} s, peak RSS {e_rss} MB")
            print(f"  ({e_line})")
            ratios = f"time {s_time / e_time:.2f}x, CPU {s_cpu / e_cpu:.2f}x, RSS {s_rss / e_rss:.2f}x"
            print(f"  sync/export: {ratios}")
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=20)


def kills(count: int, tickets: int, folder: Path) -> None:
    """SIGKILL `headoni sync --full` at random moments (new tickets and edits
    arriving between runs), then run it to the end and compare with the desk."""
    fake = FakeDesk("acme", tickets=tickets, seed=3)
    db = folder / "kill.db"
    rng = random.Random()
    seed = rng.randrange(10**6)
    rng.seed(seed)
    with fake.serve_in_thread():
        env = {**os.environ, "HEADONI_DESK": "acme", "HEADONI_BASE_URL": fake.base_url}
        env["HEADONI_TOKEN"] = fake.mint_token()
        fake.latency = 0.002
        killed = finished = 0
        for round_ in range(count):
            if round_ % 3 == 1:
                fake.add_tickets(rng.randint(1, 200))
            args = ["sync", "--db", str(db), "--full"] + (["--refresh"] if round_ % 4 == 3 else [])
            if round_ % 5 == 4:  # edits and deletions, for the refresh rounds to find
                ids = fake.store.all_ids_desc()
                for key in rng.sample(ids, 5):
                    fake.edit_ticket(key, extra={"round": round_})
                fake.remove_ticket(rng.choice(fake.store.all_ids_desc()))
            start = fake.count()
            proc = subprocess.Popen(
                [sys.executable, "-m", "headoni_async.cli", *args], env=env, stderr=subprocess.DEVNULL
            )
            while fake.count() == start and proc.poll() is None:
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 1.0))
            if proc.poll() is None:
                proc.kill()
                killed += 1
            else:
                finished += 1
            proc.wait()
        fake.latency = 0
        subprocess.run(
            [sys.executable, "-m", "headoni_async.cli", "sync", "--db", str(db), "--refresh", "--full"],
            env=env,
            check=True,
        )
        verdict = asyncio.run(_compare(fake, db))
    print(f"kill test (seed {seed}): {killed} SIGKILLs, {finished} runs finished first")
    print(f"final rerun: {verdict}")


async def _compare(fake: FakeDesk, db: Path) -> str:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    got = {r["id"]: dict(r) for r in conn.execute("SELECT * FROM tickets")}
    conn.close()
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url) as desk:
        listed = [r async for page in desk.tickets().pages() for r in page.records]
        alive = sorted(i for i, r in got.items() if r["deleted_at"] is None)
        problems = []
        if alive != sorted(r["id"] for r in listed):
            problems.append(f"ids differ ({len(alive)} alive in the db, {len(listed)} listed)")
        wrong = [r["id"] for r in listed if r["id"] in got and json.loads(got[r["id"]]["summary"]) != r]
        async for found in desk.get_ticket_records([r["id"] for r in listed], concurrency=16):
            row = got.get(found.ticket.id)
            if row is None or row["ticket"] is None or json.loads(row["ticket"]) != found.record:
                wrong.append(found.ticket.id)
        if wrong:
            problems.append(f"{len(wrong)} tickets differ")
    same = f"equal: {len(listed)} tickets once each, every field and whole ticket equal"
    return "; ".join(problems) or same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--time", action="store_true")
    parser.add_argument("--kills", type=int, default=0)
    parser.add_argument("--kill-tickets", type=int, default=2000)
    parser.add_argument("--only-time", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if not args.only_time:
            asyncio.run(requests(args.tickets, folder / "requests.db"))
        if args.time or args.only_time:
            time_vs_export(args.tickets, folder)
        if args.kills:
            kills(args.kills, args.kill_tickets, folder)


if __name__ == "__main__":
    main()
