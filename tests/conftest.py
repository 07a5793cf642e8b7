"""Shared fixtures. The fake-desk fixtures of the package's own pytest plugin
(headoni_fake_desk, headoni_token, headoni_desk) are loaded through its
entry point: use ``headoni_fake_desk`` (with ``@pytest.mark.headoni_fake``)
for a fake desk on its own thread. The ones here run servers on the test's
own loop. Plain helpers are in tests/helpers.py, sample documents in
tests/documents.py."""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any
from unittest import mock

import aiohttp
import pytest
from aioresponses import aioresponses
from aioresponses import core as aioresponses_core
from hypothesis import settings

from headoni_async import AsyncDesk, RetryPolicy
from headoni_async.testing import FakeDesk

from .helpers import Handler, ScriptedServer

# Hypothesis: the full search locally, a smaller (never zero) one in CI.
settings.register_profile("ci", max_examples=40, deadline=None)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

CANARY = "hd_CANARYtoken0123456789SECRET"
"""A token value that must never appear in any output."""


def aioresponses_compat() -> contextlib.AbstractContextManager[Any]:
    """THE one place for the aioresponses workaround.

    aioresponses 0.7.9 builds ``ClientResponse`` without the ``stream_writer``
    argument that aiohttp 3.14 made required (upstream fix
    pnuckowski/aioresponses#288, unreleased). aiohttp only reads
    ``stream_writer.output_size``, so a response class that supplies a stub is
    enough. Remove this when a fixed aioresponses is released: the signature
    check below makes it a no-op on aiohttp versions that do not need it.
    """
    if "stream_writer" not in inspect.signature(aiohttp.ClientResponse.__init__).parameters:
        return contextlib.nullcontext()

    class CompatResponse(aiohttp.ClientResponse):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("stream_writer", mock.Mock(output_size=0))
            super().__init__(*args, **kwargs)

    return mock.patch.object(aioresponses_core, "ClientResponse", CompatResponse)


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    """aioresponses, working on aiohttp 3.14 (see ``aioresponses_compat``)."""
    with aioresponses_compat(), aioresponses() as m:
        yield m


@pytest.fixture
async def fake() -> AsyncIterator[FakeDesk]:
    """A fake desk with 250 tickets, served on the test's own loop."""
    async with FakeDesk("acme", tickets=250, seed=3) as desk:
        yield desk


FAST_RETRY = RetryPolicy(attempts=3, backoff_initial=0.001, backoff_max=0.002, deadline=10)


@pytest.fixture
async def desk(fake: FakeDesk) -> AsyncIterator[AsyncDesk]:
    """An AsyncDesk on ``fake`` with a full-scope token and near-zero backoff."""
    token = fake.mint_token()
    async with AsyncDesk("acme", token, base_url=fake.base_url, retry=FAST_RETRY) as client:
        yield client


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedServer]:
    """A catch-all server whose answer the test sets (``status``, ``body``,
    ``headers``, or a ``handler``); every request lands in ``seen``."""
    server = await ScriptedServer().start()
    yield server
    await server.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[ScriptedServer]]]:
    """Start as many catch-all servers as the test needs, each answering with
    its ``handler``; all are closed after the test."""
    servers: list[ScriptedServer] = []

    async def start(handler: Handler) -> ScriptedServer:
        servers.append(await ScriptedServer(handler).start())
        return servers[-1]

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
def env(headoni_fake_desk: FakeDesk, monkeypatch: pytest.MonkeyPatch) -> FakeDesk:
    """The plugin's threaded fake desk, configured for the ``headoni`` command
    through its environment variables (``HEADONI_DESK``, ``_BASE_URL``,
    ``_TOKEN``), as a user would: for tests that run the CLI."""
    monkeypatch.setenv("HEADONI_DESK", "acme")
    monkeypatch.setenv("HEADONI_BASE_URL", headoni_fake_desk.base_url)
    monkeypatch.setenv("HEADONI_TOKEN", headoni_fake_desk.mint_token())
    return headoni_fake_desk
