"""pytest plugin (entry point ``pytest11``): fixtures for a running fake desk.

Installed with the package, so any project that depends on headoni-async gets:

- ``headoni_fake_desk``: a started ``FakeDesk`` (slug ``acme``, 250 seeded
  tickets, seed 0), served from its own thread and event loop, so it works
  with any async test runner. Change its size with
  ``@pytest.mark.headoni_fake(tickets=1000, seed=7)``.
- ``headoni_token``: a token of that desk holding both scopes.
- ``headoni_desk``: an ``AsyncDesk`` pointed at it with that token (needs
  pytest-asyncio, and an async test); closed after the test.

::

    async def test_lists_open_tickets(headoni_desk, headoni_fake_desk):
        tickets = [t async for t in headoni_desk.tickets(status="open")]
        assert tickets
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from .._desk import AsyncDesk
from ._fake import FakeDesk


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "headoni_fake(tickets=250, seed=0, slug='acme'): configure the headoni_fake_desk fixture"
    )


@pytest.fixture
def headoni_fake_desk(request: pytest.FixtureRequest) -> Iterator[FakeDesk]:
    """A running fake desk on a loopback port, on its own thread and loop."""
    marker = request.node.get_closest_marker("headoni_fake")
    options: dict[str, Any] = {"tickets": 250, "seed": 0, "slug": "acme"}
    if marker is not None:
        options.update(marker.kwargs)
    fake = FakeDesk(options.pop("slug"), **options)
    with fake.serve_in_thread():
        yield fake


@pytest.fixture
def headoni_token(headoni_fake_desk: FakeDesk) -> str:
    """A token of the fake desk holding ``tickets:read`` and ``tickets:create``."""
    return headoni_fake_desk.mint_token()


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixture needs an async runner
    pass
else:

    @pytest_asyncio.fixture
    async def headoni_desk(headoni_fake_desk: FakeDesk, headoni_token: str) -> AsyncIterator[AsyncDesk]:
        """An ``AsyncDesk`` on the fake desk, closed after the test."""
        async with AsyncDesk(
            headoni_fake_desk.slug,
            headoni_token,
            scopes={"tickets:read", "tickets:create"},
            base_url=headoni_fake_desk.base_url,
        ) as desk:
            yield desk
