"""The pytest plugin of headoni-async (entry point ``pytest11``, name ``headoni``).

Installing the package gives every project these fixtures:

- ``headoni_fake_desk``: a started ``FakeDesk`` (slug ``acme``, 250 seeded
  tickets, seed 0) served from its own thread and event loop, so any test can
  use it, sync or async, on any loop. Change it with
  ``@pytest.mark.headoni_fake(tickets=1000, seed=7, slug="acme", latency=0.0)``.
- ``headoni_token``: a token of that desk holding both scopes.
- ``headoni_desk``: an ``AsyncDesk`` on that desk with that token, closed after
  the test. It needs pytest-asyncio (strict or auto mode); without it the
  fixture fails with one line saying so.

Share one fake desk across a module, a package or the whole session by
defining the fixture again, with the factory, in a conftest.py or test module::

    from headoni_async.testing import fake_desk_fixture, desk_fixture

    headoni_fake_desk = fake_desk_fixture(scope="session", tickets=100_000)
    headoni_desk = desk_fixture(loop_scope="module")   # tests on a module loop

Why this module sits outside the package: importing anything under
``headoni_async`` runs ``headoni_async/__init__``, which imports aiohttp. A
pytest11 plugin is imported at every pytest start of every project where the
package is installed, so this module imports only pytest and the standard
library, and the fixtures import the package when a test first uses one
(Hypothesis keeps its ``_hypothesis_pytestplugin`` apart for the same reason).
"""

from __future__ import annotations

import types
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, Literal, NoReturn

import pytest

if TYPE_CHECKING:
    from headoni_async import AsyncDesk
    from headoni_async.testing import FakeDesk

__all__ = ["desk_fixture", "fake_desk_fixture"]

Scope = Literal["function", "class", "module", "package", "session"]
_SCOPES: tuple[str, ...] = ("function", "class", "module", "package", "session")
_FAKE_OPTIONS = frozenset({"tickets", "seed", "slug", "latency"})
_MARKER = (
    "headoni_fake(tickets=250, seed=0, slug='acme', latency=0.0): configure the headoni_fake_desk "
    "fixture (on a test, or on the module/class when the fixture is shared)"
)
_NEEDS_PYTEST_ASYNCIO = (
    "headoni_desk needs the pytest-asyncio plugin: pip install pytest-asyncio "
    "(headoni_fake_desk and headoni_token work without it)"
)


def fake_desk_fixture(*, scope: Scope = "function", **defaults: Any) -> Any:
    """A ``headoni_fake_desk`` fixture with the given pytest ``scope``.

    ``defaults`` (``tickets``, ``seed``, ``slug``, ``latency``) configure the
    desk; a ``headoni_fake`` marker on the node of that scope (the test, or
    the class or module via ``pytestmark``) overrides them. A shared desk keeps
    its tickets, tokens, injected faults and request log across the tests that
    share it, so count requests as differences there.

    Raises:
        ValueError: an unknown scope or option.
    """
    _check_scope("scope", scope)
    unknown = set(defaults) - _FAKE_OPTIONS
    if unknown:
        raise ValueError(f"unknown fake desk option(s) {sorted(unknown)}; known: {sorted(_FAKE_OPTIONS)}")
    options: dict[str, Any] = {"tickets": 250, "seed": 0, "slug": "acme", **defaults}

    @pytest.fixture(scope=scope, name="headoni_fake_desk")
    def headoni_fake_desk(request: pytest.FixtureRequest) -> Iterator[FakeDesk]:
        """A running fake desk on a loopback port, on its own thread and loop."""
        from headoni_async.testing import FakeDesk

        chosen = dict(options)
        marker = request.node.get_closest_marker("headoni_fake")
        if marker is not None:
            unknown = set(marker.kwargs) - _FAKE_OPTIONS
            if unknown or marker.args:
                pytest.fail(
                    f"headoni_fake takes keyword options {sorted(_FAKE_OPTIONS)} only, "
                    f"got {list(marker.args) + sorted(unknown)}",
                    pytrace=False,
                )
            chosen.update(marker.kwargs)
        fake = FakeDesk(chosen.pop("slug"), **chosen)
        with fake.serve_in_thread():
            yield fake

    return headoni_fake_desk


def desk_fixture(*, loop_scope: Scope | None = None) -> Any:
    """A ``headoni_desk`` fixture (an ``AsyncDesk`` on ``headoni_fake_desk``)
    whose pytest-asyncio event loop is ``loop_scope``.

    An ``AsyncDesk`` belongs to the loop it was opened on, so the desk fixture
    and the tests using it must share a loop: ``loop_scope="module"`` for tests
    marked ``@pytest.mark.asyncio(loop_scope="module")``. ``None`` follows
    pytest-asyncio's ``asyncio_default_fixture_loop_scope``. A mismatch fails
    the test with ``WrongEventLoop`` naming this.

    Raises:
        ValueError: an unknown loop scope.
        ImportError: pytest-asyncio is not installed.
    """
    if loop_scope is not None:
        _check_scope("loop_scope", loop_scope)
    try:
        import pytest_asyncio
    except ImportError as exc:
        raise ImportError(_NEEDS_PYTEST_ASYNCIO) from exc

    @pytest_asyncio.fixture(name="headoni_desk", loop_scope=loop_scope)
    async def headoni_desk(headoni_fake_desk: FakeDesk, headoni_token: str) -> AsyncIterator[AsyncDesk]:
        """An ``AsyncDesk`` on the fake desk, closed after the test."""
        from headoni_async import AsyncDesk

        async with AsyncDesk(
            headoni_fake_desk.slug,
            headoni_token,
            scopes={"tickets:read", "tickets:create"},
            base_url=headoni_fake_desk.base_url,
        ) as desk:
            yield desk

    return headoni_desk


def _check_scope(name: str, value: str) -> None:
    if value not in _SCOPES:
        raise ValueError(f"{name} must be one of {', '.join(_SCOPES)}; got {value!r}")


# ---------------------------------------------------------------------- the plugin's own fixtures

headoni_fake_desk = fake_desk_fixture()


@pytest.fixture
def headoni_token(headoni_fake_desk: FakeDesk) -> str:
    """A token of the fake desk holding ``tickets:read`` and ``tickets:create``."""
    return headoni_fake_desk.mint_token()


def _missing_pytest_asyncio() -> Any:
    @pytest.fixture(name="headoni_desk")
    def headoni_desk() -> NoReturn:
        """Stands in for the async fixture when pytest-asyncio is not active."""
        pytest.fail(_NEEDS_PYTEST_ASYNCIO, pytrace=False)

    return headoni_desk


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER)
    # Which headoni_desk to offer depends on whether pytest-asyncio is active
    # (installed and not disabled with -p no:asyncio), known only now.
    holder = types.ModuleType("headoni_desk_fixture")
    if config.pluginmanager.has_plugin("asyncio"):
        holder.headoni_desk = desk_fixture()  # type: ignore[attr-defined]
    else:
        holder.headoni_desk = _missing_pytest_asyncio()  # type: ignore[attr-defined]
    config.pluginmanager.register(holder, "headoni-desk-fixture")
