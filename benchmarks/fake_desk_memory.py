"""The fake desk's memory over many connections: RSS of a process serving a
FakeDesk (on its own thread) while a plain socket client opens N connections,
sends one request on each and closes it. A flat line is the point: the request
log is a bounded ring and nothing is kept per closed connection.

    python -m benchmarks.fake_desk_memory            # 30,000 connections
    python -m benchmarks.fake_desk_memory --connections 3000

Prints RSS (MiB) at a few points, the log's length and the connections the
desk still tracks. No timing is measured; nothing decides a test.
"""

from __future__ import annotations

import argparse
import gc
import socket
from pathlib import Path
from urllib.parse import urlsplit

from headoni_async.testing import FakeDesk


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_connection(host: str, port: int, request: bytes) -> None:
    with socket.create_connection((host, port)) as sock:
        sock.sendall(request)
        while sock.recv(65536):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=30_000)
    args = parser.parse_args()
    fake = FakeDesk("acme", tickets=100, seed=1)
    token = fake.mint_token()
    with fake.serve_in_thread() as base_url:
        parts = urlsplit(base_url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        request = (
            f"GET {parts.path}/departments HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        ).encode()
        checkpoints = sorted({1000, args.connections // 3, 2 * args.connections // 3, args.connections})
        print(f"{'connections':>12} {'RSS MiB':>8} {'log':>6} {'tracked':>8}")
        for n in range(args.connections + 1):
            if n:
                one_connection(host, port, request)
            if n == 0 or n in checkpoints:
                gc.collect()
                tracked = getattr(fake, "tracked_connections", "-")  # absent before the fix
                print(f"{n:>12} {rss_mib():>8.1f} {len(fake.requests):>6} {tracked!s:>8}")
        assert fake.count() == args.connections


if __name__ == "__main__":
    main()
