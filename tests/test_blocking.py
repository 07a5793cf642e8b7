"""No call blocks the event loop: the client's paths and the export run under
blockbuster, which raises on any blocking call (file, socket, sleep) made
from the loop's thread. The fake desk runs on its own thread and loop."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from blockbuster import BlockingError, blockbuster_ctx

from headoni_async import AsyncDesk, RetryPolicy, ServerError
from headoni_async._export import export_tickets
from headoni_async.testing import FakeDesk, Fault


async def test_blockbuster_is_watching() -> None:
    with blockbuster_ctx(), pytest.raises(BlockingError):
        time.sleep(0.001)  # noqa: ASYNC251 - the blocking call this test expects to be caught


@pytest.mark.headoni_fake(tickets=300, seed=1)
async def test_client_paths_never_block(headoni_fake_desk: FakeDesk) -> None:
    threaded = headoni_fake_desk
    threaded.inject(Fault.reset_mid_body(), route="departments", on=1)
    policy = RetryPolicy(attempts=3, backoff_initial=0.001)
    with blockbuster_ctx():
        async with AsyncDesk("acme", threaded.mint_token(), base_url=threaded.base_url, retry=policy) as desk:
            ids = [t.id async for t in desk.tickets(page_size=50)]
            assert (await desk.get_ticket(1001)).number == 1001
            await desk.create_ticket(email="a@b.co", subject="s", body="b")
            assert len(await desk.departments()) == 3  # after a retry
            full = [t async for t in desk.get_tickets(range(1001, 1020), concurrency=4)]
    assert len(ids) == 300 and len(full) == 19


@pytest.mark.headoni_fake(tickets=300, seed=1)
async def test_export_never_blocks(headoni_fake_desk: FakeDesk, tmp_path: Path) -> None:
    threaded = headoni_fake_desk
    out = tmp_path / "t.jsonl"
    with blockbuster_ctx():
        async with AsyncDesk("acme", threaded.mint_token(), base_url=threaded.base_url) as desk:
            threaded.inject(Fault.html_error(503), route="list_tickets", on=2)
            with pytest.raises(ServerError):
                await export_tickets(desk, out, page_size=50)
            resumed = await export_tickets(desk, out, resume=True, page_size=50)
            again = await export_tickets(desk, out, full=True, restart=True)
    assert resumed.tickets == 250 and resumed.total_in_file == again.tickets == 300
