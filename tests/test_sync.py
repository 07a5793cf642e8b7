"""sync_desk against the fake desk (real loopback HTTP, real SQLite files),
counting requests at the server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from blockbuster import blockbuster_ctx

from headoni_async import (
    AsyncDesk,
    ServerError,
    SyncLocked,
    SyncMismatch,
    SyncProgress,
    sync_desk,
)
from headoni_async.testing import FakeDesk, Fault

from .conftest import FAST_RETRY
from .helpers import assert_mirror_is_the_desk, audited, query, rows


@pytest.fixture
async def fake() -> AsyncIterator[FakeDesk]:
    """A fake desk of 150 tickets (two pages), served on the test's own loop."""
    async with FakeDesk("acme", tickets=150, seed=3) as desk:
        yield desk


async def test_first_sync_mirrors_the_desk(fake: FakeDesk, desk: AsyncDesk, tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    result = await sync_desk(desk, db)
    assert (result.new, result.changed, result.deleted, result.pages) == (150, 0, 0, 2)
    assert result.requests == fake.count() == 2 + 2 and result.tickets == 150
    assert result.high_water == fake.store.all_ids_desc()[0]
    await assert_mirror_is_the_desk(db, desk)
    assert query(db, "SELECT count(*) FROM tickets WHERE ticket IS NOT NULL") == [(0,)]
    assert len(query(db, "SELECT * FROM departments")) == 3
    assert len(query(db, "SELECT * FROM ticket_types")) == 3


async def test_nothing_new_is_one_list_request_plus_the_catalog(
    fake: FakeDesk, desk: AsyncDesk, tmp_path: Path
) -> None:
    db = tmp_path / "t.db"
    await sync_desk(desk, db)
    before = rows(db)
    start = fake.count()
    result = await sync_desk(desk, db)
    assert fake.count() - start == 3 == result.requests
    assert fake.count("list_tickets") == 2 + 1
    assert (result.new, result.changed, result.pages) == (0, 0, 1)
    assert rows(db) == before  # not one row rewritten (synced_at included)


async def test_new_tickets_only_and_no_page_past_the_mark(
    fake: FakeDesk, desk: AsyncDesk, tmp_path: Path
) -> None:
    db = tmp_path / "t.db"
    await sync_desk(desk, db)
    before = rows(db)
    added = fake.add_tickets(250)
    start = fake.count("list_tickets")
    result = await sync_desk(desk, db)
    # 250 new: pages of 100, 100 and 50 (+ 50 already stored: the walk stops there).
    assert fake.count("list_tickets") - start == 3 and result.requests == 3 + 2
    assert result.new == 250 and result.high_water == added[-1]
    after = rows(db)
    assert {i: after[i] for i in before} == before
    await assert_mirror_is_the_desk(db, desk)


async def test_refresh_full_fetches_exactly_the_changed(
    fake: FakeDesk, desk: AsyncDesk, tmp_path: Path
) -> None:
    db = tmp_path / "t.db"
    first = await sync_desk(desk, db, full=True)
    assert first.fetched == 150 == fake.count("get_ticket")
    changed = [1001 + 4 * k for k in range(30)]
    for number in changed:
        fake.edit_ticket(number, subject=f"edited {number}", extra={"tags": ["vip"], "assignee": None})
    start_gets, start_lists = fake.count("get_ticket"), fake.count("list_tickets")
    result = await sync_desk(desk, db, refresh=True, full=True)
    assert fake.count("get_ticket") - start_gets == 30 == result.fetched
    assert fake.count("list_tickets") - start_lists == 1 + 2  # the walk for new ones, then every page
    assert (result.new, result.changed, result.deleted) == (0, 30, 0) and result.refreshed
    await assert_mirror_is_the_desk(db, desk, whole=True)
    tags = query(db, "SELECT number FROM tickets WHERE json_extract(ticket, '$.tags[0]') = 'vip' ORDER BY number")
    assert [n for (n,) in tags] == changed


async def test_a_refresh_into_an_empty_mirror_walks_the_desk_once(
    fake: FakeDesk, desk: AsyncDesk, tmp_path: Path
) -> None:
    db = tmp_path / "t.db"
    result = await sync_desk(desk, db, refresh=True, full=True)
    assert fake.count("list_tickets") == 2 and fake.count("get_ticket") == 150
    assert result.refreshed and result.new == 150
    assert query(db, "SELECT last_refresh_at IS NOT NULL FROM sync_state") == [(1,)]
    fake.remove_ticket(fake.store.all_ids_desc()[7])
    again = await sync_desk(desk, db, refresh=True)  # not empty any more: a real refresh
    assert again.deleted == 1 and fake.count("list_tickets") == 2 + 1 + 2


async def test_summaries_first_then_full_fetches_only_what_has_no_whole_ticket(
    fake: FakeDesk, desk: AsyncDesk, tmp_path: Path
) -> None:
    db = tmp_path / "t.db"
    await sync_desk(desk, db)
    plain = await sync_desk(desk, db, full=True)
    assert plain.fetched == 0  # no refresh: nothing is walked, nothing fetched
    start = fake.count("get_ticket")
    first = await sync_desk(desk, db, refresh=True, full=True)
    assert first.fetched == 150 == fake.count("get_ticket") - start and first.changed == 0
    before = rows(db)
    again = await sync_desk(desk, db, refresh=True, full=True)
    assert again.fetched == 0 and again.changed == 0
    assert rows(db) == before  # an unchanged ticket is not rewritten (synced_at included)


async def test_refresh_marks_deleted_keeps_the_row_and_clears_it_when_listed_again(
    fake: FakeDesk, desk: AsyncDesk, tmp_path: Path
) -> None:
    db = tmp_path / "t.db"
    await sync_desk(desk, db)
    ids = fake.store.all_ids_desc()
    # The newest, the oldest, and one on a page boundary.
    gone = [ids[0], ids[-1], ids[99], ids[100]]
    for ticket_id in gone:
        fake.remove_ticket(ticket_id)
    plain = await sync_desk(desk, db)
    assert plain.deleted == 0  # only a refresh looks for deletions
    result = await sync_desk(desk, db, refresh=True)
    assert result.deleted == 4 and result.tickets == 146
    got = rows(db)
    assert len(got) == 150 and {i for i, r in got.items() if r["deleted_at"]} == set(gone)
    # Marked as deleted by mistake (or deleted and restored): listed again, cleared.
    conn = sqlite3.connect(db)
    conn.execute("UPDATE tickets SET deleted_at = '2026-01-01T00:00:00.000Z' WHERE id = ?", (ids[50],))
    conn.commit()
    conn.close()
    again = await sync_desk(desk, db, refresh=True)
    assert (again.restored, again.deleted, again.changed) == (1, 0, 0)
    assert rows(db)[ids[50]]["deleted_at"] is None
    await assert_mirror_is_the_desk(db, desk)


async def test_an_interrupted_refresh_marks_nothing_until_it_completes_and_goes_on(
    fake: FakeDesk, desk: AsyncDesk, tmp_path: Path
) -> None:
    db = tmp_path / "t.db"
    await sync_desk(desk, db)
    ids = fake.store.all_ids_desc()
    fake.remove_ticket(ids[10])  # on the refresh's first page
    fake.remove_ticket(ids[120])  # on its second (and last)
    start = fake.count("list_tickets")
    # Request 1 is the walk for new tickets, 2 the refresh's first page.
    fake.inject(Fault.html_error(503), route="list_tickets", on=start + 3, times=1)
    with pytest.raises(ServerError):
        await sync_desk(desk, db, refresh=True)
    assert not [i for i, r in rows(db).items() if r["deleted_at"]]  # the walk is not complete
    start = fake.count("list_tickets")
    result = await sync_desk(desk, db, refresh=True)
    # The walk for new tickets, then the refresh from where it stopped: one page.
    assert fake.count("list_tickets") - start == 2 and result.deleted == 2 and result.refreshed
    assert {i for i, r in rows(db).items() if r["deleted_at"]} == {ids[10], ids[120]}
    assert query(db, "SELECT count(*) FROM sync_unlisted") == [(0,)]


async def test_an_interrupted_walk_then_newer_tickets_lose_nothing_and_write_nothing_twice(
    fake: FakeDesk, desk: AsyncDesk, tmp_path: Path
) -> None:
    db = tmp_path / "t.db"
    await sync_desk(desk, db)  # 150 stored, high-water mark at the top
    fake.add_tickets(500)  # then a walk from T1 down must cover 5 pages and 50 more
    start = fake.count("list_tickets")
    fake.inject(Fault.html_error(503), route="list_tickets", on=start + 3, times=1)
    with pytest.raises(ServerError):
        await sync_desk(desk, db)
    first_run = rows(db)
    assert len(first_run) == 350  # two pages of the walk committed
    fake.add_tickets(120)  # tickets above T1 arrive before the rerun
    start = fake.count("list_tickets")
    result = await sync_desk(desk, db)
    # The rest of the old walk (pages 3..6: 300 new, stopping at the mark), then the
    # 120 newer ones (2 pages, the second reaching T1).
    assert result.new == 420 and fake.count("list_tickets") - start == 4 + 2
    after = rows(db)
    assert {i: after[i] for i in first_run} == first_run  # nothing rewritten
    await assert_mirror_is_the_desk(db, desk)
    state = query(db, "SELECT high_water, walk_top, walk_cursor FROM sync_state")
    assert state == [(fake.store.all_ids_desc()[0], None, None)]


async def test_a_ticket_gone_between_list_and_get(fake: FakeDesk, desk: AsyncDesk, tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    ids = fake.store.all_ids_desc()
    # With one fetch in flight the gets arrive in list order: the 5th answers 404.
    fake.inject(Fault.error(404, "ticket_not_found"), route="get_ticket", on=5, times=1)
    result = await sync_desk(desk, db, full=True, concurrency=1)
    assert result.vanished == 1 == result.deleted and result.fetched == 149 and result.new == 150
    row = rows(db)[ids[4]]
    assert row["deleted_at"] is not None and row["ticket"] is None and json.loads(row["summary"])["id"] == ids[4]
    # It was not really gone: the next refresh lists it, restores it and fetches it whole.
    again = await sync_desk(desk, db, refresh=True, full=True)
    assert (again.restored, again.fetched) == (1, 1)
    await assert_mirror_is_the_desk(db, desk, whole=True)


async def test_unknown_fields_and_lone_surrogates_are_stored_as_valid_json(
    fake: FakeDesk, desk: AsyncDesk, tmp_path: Path
) -> None:
    db = tmp_path / "t.db"
    odd = {"tags": ["a", "\ud83d"], "big": 2**70, "nested": {"x": [None, True, 1.5]}}
    fake.edit_ticket(1001, subject="half an emoji \ud83d", extra=odd)
    result = await sync_desk(desk, db, full=True)
    assert result.new == 150
    number = 1001
    (summary, ticket, valid) = query(
        db, "SELECT summary, ticket, json_valid(summary) AND json_valid(ticket) FROM tickets WHERE number = ?", number
    )[0]
    assert valid == 1
    for text in (summary, ticket):
        doc = json.loads(text)
        assert doc["subject"] == "half an emoji \ud83d" and doc["tags"] == ["a", "\ud83d"]
        assert doc["big"] == 2**70 and doc["nested"] == odd["nested"]
    await assert_mirror_is_the_desk(db, desk, whole=True)


async def test_two_syncs_at_once_the_second_fails_at_once(
    fake: FakeDesk, desk: AsyncDesk, tmp_path: Path
) -> None:
    db = tmp_path / "t.db"
    fake.latency = 0.05
    committed = asyncio.Event()
    first = asyncio.create_task(sync_desk(desk, db, on_page=lambda _: committed.set()))
    await committed.wait()
    # The second sync talks to another desk (same slug), so any request it made would show there.
    async with FakeDesk("acme", tickets=5) as other:
        async with AsyncDesk("acme", other.mint_token(), base_url=other.base_url) as second:
            started = time.monotonic()
            with pytest.raises(SyncLocked, match="another sync is using") as info:
                await sync_desk(second, db)
            # At once: not after SQLite's 5 s busy timeout (a generous bound on a loaded machine).
            assert time.monotonic() - started < 3 and "\n" not in str(info.value)
        assert other.count() == 0
    assert (await first).new == 150


async def test_another_desk_or_base_url_is_refused_before_any_request(
    fake: FakeDesk, desk: AsyncDesk, tmp_path: Path
) -> None:
    db = tmp_path / "t.db"
    await sync_desk(desk, db)
    async with FakeDesk("acme", tickets=5) as other, FakeDesk("globex", tickets=5) as globex:
        async with AsyncDesk("acme", other.mint_token(), base_url=other.base_url) as elsewhere:
            with pytest.raises(SyncMismatch, match="base URL"):
                await sync_desk(elsewhere, db)
        async with AsyncDesk("globex", globex.mint_token(), base_url=globex.base_url) as wrong:
            with pytest.raises(SyncMismatch, match="desk 'acme'"):
                await sync_desk(wrong, db)
        assert other.count() == globex.count() == 0
    assert len(rows(db)) == 150


async def test_progress_is_reported_after_every_committed_page(
    fake: FakeDesk, desk: AsyncDesk, tmp_path: Path
) -> None:
    seen: list[tuple[int, int]] = []
    progress = SyncProgress()
    await sync_desk(desk, tmp_path / "t.db", progress=progress, on_page=lambda p: seen.append((p.pages, p.new)))
    assert seen == [(1, 100), (2, 150)] and progress.new == 150


async def test_cancelled_at_random_points_then_rerun(fake: FakeDesk, desk: AsyncDesk, tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    audited(db, fake.base_url)
    rng = random.Random()
    seed = rng.randrange(10**6)
    rng.seed(seed)
    fake.latency = 0.002
    for round_ in range(6):
        if round_ % 2:
            fake.add_tickets(rng.randint(1, 120))
        task = asyncio.create_task(sync_desk(desk, db, full=True))
        await asyncio.sleep(rng.uniform(0, 0.15))
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    fake.latency = 0
    await sync_desk(desk, db, full=True)
    await assert_mirror_is_the_desk(db, desk, whole=True)
    total = len(fake.store.all_ids_desc())
    writes = query(db, "SELECT what, count(*), count(DISTINCT id) FROM audit GROUP BY what ORDER BY what")
    assert writes == [("insert", total, total), ("ticket", total, total)], f"seed {seed}"


async def test_the_sync_never_blocks_the_loop(tmp_path: Path) -> None:
    fake = FakeDesk("acme", tickets=150, seed=1)
    with fake.serve_in_thread():
        fake.remove_ticket(fake.store.all_ids_desc()[3])
        async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url) as desk:
            with blockbuster_ctx():
                first = await sync_desk(desk, tmp_path / "t.db", full=True, concurrency=4)
                again = await sync_desk(desk, tmp_path / "t.db", refresh=True)
    assert first.new == 149 and again.new == 0


@pytest.mark.parametrize(("name", "value"), [("concurrency", 0), ("concurrency", True), ("page_size", 101)])
async def test_bad_arguments_are_refused_before_any_io(
    fake: FakeDesk, desk: AsyncDesk, tmp_path: Path, name: str, value: Any
) -> None:
    with pytest.raises((ValueError, TypeError)):
        await sync_desk(desk, tmp_path / "t.db", **{name: value})
    assert fake.count() == 0 and not (tmp_path / "t.db").exists()


async def test_retries_are_counted_apart_from_requests(fake: FakeDesk, tmp_path: Path) -> None:
    fake.inject(Fault.reset_mid_body(), route="list_tickets", on=2)
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url, retry=FAST_RETRY) as desk:
        result = await sync_desk(desk, tmp_path / "t.db")
    assert result.retries == 1 and result.requests == 4 and fake.count() == 5 and result.new == 150
