"""The in-process scenarios: what decoding one page costs, and what 100,000 decoded
summaries hold in memory. No network: the page bytes are rendered here, exactly as the
benchmark server serves them."""

from __future__ import annotations

import functools
import gc
import time
import timeit
import tracemalloc
from collections.abc import Callable
from typing import Any

from .common import Row, sample

# The bytes a list of 100,000 headoni-async summaries held in headoni-async 0.1.0
# (tracemalloc, this benchmark, Python 3.11); the target is not to grow past it.
HELD_BEFORE = 57_744_308


def page_bodies(tickets: int) -> list[bytes]:
    """The pages of a desk with ``tickets`` tickets, 100 per page, newest first."""
    from headoni_async.testing import DeskStore

    from .server import _render_pages

    return list(_render_pages(DeskStore("acme", tickets=tickets, seed=1)).values())


def ours_decoder(*, msgspec: bool = True) -> Callable[[bytes], Any]:
    """Page bytes -> ``TicketPage``, the way ``AsyncDesk`` decodes a page: through
    msgspec when it is installed and takes the body, else JSON then the converter.
    ``msgspec=False``: as if msgspec were not installed."""
    from headoni_async._json import json_loads
    from headoni_async._models import decode_page, page_from_bytes

    def plain(body: bytes) -> Any:
        return decode_page(json_loads(body))

    def fast(body: bytes) -> Any:
        page = page_from_bytes(body)
        return plain(body) if page is None else page

    return fast if msgspec else plain


def _others() -> dict[str, Callable[[bytes], Any]]:
    import msgspec

    from .common import fastest_loads
    from .peers import MPage, Page

    loads, structs = fastest_loads(), msgspec.json.Decoder(MPage).decode
    return {
        "dicts (orjson)": lambda body: loads(body)["tickets"],
        "pydantic v2 (model_validate_json)": lambda body: Page.model_validate_json(body).tickets,
        "msgspec (Struct decoder)": lambda body: structs(body).tickets,
    }


def _cases() -> dict[str, Callable[[bytes], Any]]:
    ours, plain = ours_decoder(), ours_decoder(msgspec=False)
    return {
        "headoni-async (speedups: msgspec -> attrs)": lambda body: ours(body).tickets,
        "headoni-async without msgspec (orjson + cattrs -> attrs)": lambda body: plain(body).tickets,
        **_others(),
    }


def decode_cost(number: int) -> list[Row]:
    """Microseconds of CPU to turn one 100-ticket page (bytes) into objects, with the
    garbage collector ON, as in a real program (``timeit`` turns it off by default).
    CPU time of this process, not wall time: on a shared machine a neighbour's burst
    would otherwise land in whichever row was running; alone, the two agree."""
    body = page_bodies(100)[0]
    rows = []
    for name, fn in _cases().items():
        fn(body)  # warm-up: lazily built hooks, caches
        timer = timeit.Timer(functools.partial(fn, body), setup=gc.enable, timer=time.process_time)
        runs = [timer.timeit(number) / number for _ in range(5)]
        target, ok = "info", None
        if name.startswith("headoni-async (speedups"):
            target, ok = "<= 180 us", sample(runs).median <= 180e-6
        measured = sample(runs).fmt(" us", 1e6)
        rows.append(Row(f"6. decode one 100-ticket page, CPU, GC on: {name}", measured, None, target, ok))
    return rows


def memory_held(tickets: int) -> list[Row]:
    """The memory ``tickets`` decoded summaries hold when a program keeps them in a list
    (tracemalloc: what was allocated and is still alive; the page bytes not counted)."""
    bodies = page_bodies(tickets)
    rows = []
    for name, fn in _cases().items():
        fn(bodies[0])  # warm-up: lazily built hooks, caches
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            held = [t for body in bodies for t in fn(body)]
            gc.collect()
            size = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert len(held) == tickets
        del held
        target, ok = "info", None
        if name.startswith("headoni-async (speedups") and tickets == 100_000:
            target, ok = f"<= {HELD_BEFORE / 1e6:.2f} MB (0.1.0)", size <= HELD_BEFORE
        scenario = f"8. {tickets:,} summaries held in a list: {name}"
        rows.append(Row(scenario, f"{size / 1e6:.2f} MB", None, target, ok))
    return rows
