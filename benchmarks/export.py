"""Time and peak memory of `headoni export` against a fake desk in its own process.

    python -m benchmarks.export --tickets 100000            # summaries
    python -m benchmarks.export --tickets 5000 --full       # whole tickets, one request each

The fake desk (`headoni fake-desk`) runs in one process, the export in another,
timed from outside; its peak RSS is the export process's own (getrusage of the
waited child). The export runs twice: the first pass also makes the fake desk
render each summary once, the second is the one reported. Nothing here decides
a test.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    desk = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "headoni_async.cli",
            "fake-desk",
            "--port",
            "0",
            "--tickets",
            str(args.tickets),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert desk.stdout is not None
        desk.stdout.readline()
        settings = dict(part.split("=", 1) for part in desk.stdout.readline().split()[1:])
        env = {**os.environ, **settings}
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "tickets.jsonl"
            argv = [sys.executable, "-m", "headoni_async.cli", "export", "--out", str(out)]
            argv += ["--full"] if args.full else []
            for attempt in ("warm-up", "measured"):
                before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
                started = time.perf_counter()
                subprocess.run(argv, env=env, check=True, stderr=subprocess.DEVNULL)
                took = time.perf_counter() - started
                peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
                lines = sum(1 for _ in out.open("rb"))
                size = out.stat().st_size
                print(
                    f"{attempt}: {lines:,} tickets ({size / 1e6:.1f} MB) in {took:.2f} s, "
                    f"{lines / took:,.0f} tickets/s; peak RSS of the export process "
                    f"{max(peak, before) / 1024:.0f} MB (max over the runs so far)"
                )
    finally:
        desk.send_signal(signal.SIGINT)
        desk.wait(timeout=10)


if __name__ == "__main__":
    main()
