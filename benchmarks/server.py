"""A benchmark server in its own process: pre-rendered pages, so the server
is not what is measured.

    python -m benchmarks.server --tickets 200000 --latency 0.005

prints ``PORT <n>`` when it is ready. Routes: ``GET /api/v1/tickets`` (keyset
pages, pre-rendered for ``limit=100``), ``GET /api/v1/tickets/{number}``
(rendered once, then cached), ``GET /_stats`` (connections and requests seen)
and ``POST /_reset``. Every API route waits ``--latency`` seconds first. Any
bearer token is accepted: auth is not what is measured either.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from aiohttp import web

from headoni_async.testing import DeskStore
from headoni_async.testing._fake import _summary_bytes, _ticket_document

PAGE = 100


def _render_pages(store: DeskStore) -> dict[str | None, bytes]:
    pages: dict[str | None, bytes] = {}
    tickets = list(store.iter_tickets())
    cursor: str | None = None
    for start in range(0, len(tickets), PAGE):
        chunk = tickets[start : start + PAGE]
        more = start + PAGE < len(tickets)
        nxt = json.dumps(str(chunk[-1].id) if more else None).encode()
        pages[cursor] = (
            b'{"tickets":[' + b",".join(_summary_bytes(t) for t in chunk) + b'],"nextCursor":' + nxt + b"}"
        )
        cursor = str(chunk[-1].id)
    return pages


def make_app(tickets: int, latency: float) -> web.Application:
    store = DeskStore("acme", tickets=tickets, seed=1)
    pages = _render_pages(store)
    singles: dict[str, bytes] = {}
    connections: set[int] = set()
    keep: list[object] = []
    counts = {"requests": 0}

    def seen(request: web.Request) -> None:
        counts["requests"] += 1
        key = id(request.protocol)
        if key not in connections:
            connections.add(key)
            keep.append(request.protocol)  # so ids are never reused

    async def listing(request: web.Request) -> web.Response:
        seen(request)
        if latency:
            await asyncio.sleep(latency)
        if request.query.get("limit") == str(PAGE):
            body = pages.get(request.query.get("cursor"))
            if body is not None:
                return web.Response(body=body, content_type="application/json")
        found, nxt = store.page(request.query)
        body = json.dumps(
            {"tickets": [json.loads(_summary_bytes(t)) for t in found], "nextCursor": nxt}
        ).encode()
        return web.Response(body=body, content_type="application/json")

    async def single(request: web.Request) -> web.Response:
        seen(request)
        if latency:
            await asyncio.sleep(latency)
        key = request.match_info["key"]
        body = singles.get(key)
        if body is None:
            body = singles[key] = json.dumps({"ticket": _ticket_document(store, store.find(key))}).encode()
        return web.Response(body=body, content_type="application/json")

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"connections": len(connections), "requests": counts["requests"]})

    async def reset(request: web.Request) -> web.Response:
        connections.clear()
        counts["requests"] = 0
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/api/v1/tickets", listing)
    app.router.add_get("/api/v1/tickets/{key}", single)
    app.router.add_get("/_stats", stats)
    app.router.add_post("/_reset", reset)
    return app


async def serve(tickets: int, latency: float) -> None:
    runner = web.AppRunner(make_app(tickets, latency), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"PORT {runner.addresses[0][1]}", flush=True)
    # Stop when the parent closes our stdin (or dies).
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.read()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    asyncio.run(serve(args.tickets, args.latency))


if __name__ == "__main__":
    main()
