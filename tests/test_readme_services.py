"""The README's service, bot and ETL recipes, run as written against the fake
desk, so they cannot rot. A fenced block right after ``<!-- readme-test: NAME -->``
is executed verbatim; its desk comes from the environment, as a user's would."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from headoni_async import AsyncDesk
from headoni_async.testing import FakeDesk, Fault

README = Path(__file__).resolve().parent.parent / "README.md"


def _recipe(name: str) -> dict[str, Any]:
    text = README.read_text()
    match = re.search(rf"<!-- readme-test: {name} -->\n```python\n(.*?)```", text, re.S)
    assert match, f"no readme-test block {name!r} in the README"
    namespace: dict[str, Any] = {"__name__": f"readme_{name}"}
    exec(compile(match.group(1), f"README.md:{name}", "exec"), namespace)  # noqa: S102 - our own README, verbatim
    return namespace


@pytest.fixture
def env(fake: FakeDesk, monkeypatch: pytest.MonkeyPatch) -> FakeDesk:
    monkeypatch.setenv("HEADONI_DESK", "acme")
    monkeypatch.setenv("HEADONI_TOKEN", fake.mint_token())
    monkeypatch.setenv("HEADONI_BASE_URL", fake.base_url)
    monkeypatch.setenv("HEADONI_SCOPES", "tickets:read,tickets:create")
    return fake


async def test_the_service_recipe_shares_one_desk(env: FakeDesk) -> None:
    fake = env
    app = _recipe("service")["make_app"]()
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    number = next(fake.store.iter_tickets()).number
    try:
        async with aiohttp.ClientSession() as http:
            answers = await asyncio.gather(*(http.get(f"{url}/tickets/{number}") for _ in range(20)))
            for answer in answers:
                assert answer.status == 200 and (await answer.json())["number"] == number
                answer.release()
            async with http.get(f"{url}/tickets/999999") as missing:
                assert missing.status == 404
            for _ in range(3):
                async with http.get(f"{url}/departments") as deps:
                    assert deps.status == 200 and await deps.json()
    finally:
        await runner.cleanup()
    assert fake.count("get_ticket") == 21 and fake.count("departments") == 1  # the cache answered twice
    assert fake.connections_seen <= 20  # one pool for every request of the app
    async with asyncio.timeout(5):
        while fake.open_connections:  # noqa: ASYNC110 - the app's cleanup closed the desk; the fake has no event for it
            await asyncio.sleep(0.01)


async def test_the_bot_recipe_answers_within_its_deadline(env: FakeDesk) -> None:
    fake = env
    bot = _recipe("bot")
    numbers = [t.number for t in fake.store.iter_tickets()][:2]
    async with AsyncDesk.from_env() as desk:
        assert await bot["answer"](desk, "nothing to see here") is None
        reply = await bot["answer"](desk, f"Re: [#{numbers[0]}] and #{numbers[1]}, also #424242 and https://x.example/#5")
        lines = reply.splitlines()
        assert [line.split()[0] for line in lines] == [f"[#{numbers[0]}]", f"[#{numbers[1]}]"]
        assert await bot["answer"](desk, "what about #424242?") == "I know no such ticket."
        fake.inject(Fault.latency(0.6), route="get_ticket")
        assert "slow to answer" in await bot["answer"](desk, f"#{numbers[0]} please", deadline=0.3)


async def test_the_bot_recipe_announces_new_tickets(env: FakeDesk) -> None:
    fake = env
    bot = _recipe("bot")
    posted: list[str] = []
    made: list[str] = []

    async def post(text: str) -> None:
        posted.append(text)

    async with AsyncDesk.from_env() as desk:
        desk_watching = asyncio.ensure_future(bot["announce_new_tickets"](desk, post, interval=0.02))
        async with asyncio.timeout(15):
            while fake.count("list_tickets") < 1:  # noqa: ASYNC110 - the fake counts requests; it has no event for it
                await asyncio.sleep(0.01)
            made = fake.add_tickets(2)
            while len(posted) < 2:  # noqa: ASYNC110 - waiting for the bot's own posts
                await asyncio.sleep(0.05)
        desk_watching.cancel()
        with pytest.raises(asyncio.CancelledError):
            await desk_watching
    numbers = [fake.store.find(i).number for i in made]
    assert posted == [f"New ticket [#{n}] {fake.store.find(i).subject}" for n, i in zip(numbers, made, strict=True)]


async def test_the_etl_recipe_loads_only_what_is_new(env: FakeDesk, tmp_path: Path) -> None:
    fake = env
    load = _recipe("etl")["load_new_tickets"]
    db = sqlite3.connect(tmp_path / "tickets.db")
    try:
        async with AsyncDesk.from_env() as desk:
            assert await load(desk, db) == len(fake.store)
            before = fake.count("list_tickets")
            assert await load(desk, db) == 0
            assert fake.count("list_tickets") == before + 1  # nothing new: one request
            made = fake.add_tickets(3)
            assert await load(desk, db) == 3
        ids = [row[0] for row in db.execute("SELECT id FROM tickets")]
        assert sorted(ids, key=int) == sorted(fake.store.all_ids_desc(), key=int)
        assert set(made) <= set(ids)
    finally:
        db.close()


async def test_the_hooks_and_otel_snippets_run(env: FakeDesk, caplog: pytest.LogCaptureFixture) -> None:
    fake = env
    with caplog.at_level(logging.INFO, logger="app.headoni"):
        async with _recipe("hooks")["desk"] as desk:
            await desk.departments()
    assert "GET /departments -> 200 in" in caplog.text and "(1 sends)" in caplog.text
    async with _recipe("otel")["desk"] as desk:  # the global providers: no-op ones here
        await desk.ticket_types()
    assert fake.count() == 2
