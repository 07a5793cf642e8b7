"""A faithful fake Headoni desk for tests and demos.

``FakeDesk`` is a real HTTP server (an ``aiohttp.web`` app on a loopback port)
that implements every route, rule and error of the API reference, seeds
realistic tickets deterministically, injects faults (``Fault``) per route and
request number, and logs every request (never the token).

``openapi_document()`` is the API as an OpenAPI 3.1 document; the fake desk,
the client's route table and its models are all tested against it.

The pytest plugin (installed with the package, entry point ``headoni``) adds
the fixtures ``headoni_fake_desk``, ``headoni_token`` and ``headoni_desk``;
``fake_desk_fixture`` and ``desk_fixture`` define them again with another
scope or event-loop scope (see the README, "The fake desk, for your tests").
"""

from typing import TYPE_CHECKING, Any

from ._fake import FakeDesk, LoggedRequest
from ._faults import Fault
from ._openapi import openapi_document
from ._store import ApiFailure, DeskStore

__all__ = [
    "ApiFailure",
    "DeskStore",
    "FakeDesk",
    "Fault",
    "LoggedRequest",
    "desk_fixture",
    "fake_desk_fixture",
    "openapi_document",
]

if TYPE_CHECKING:
    from _headoni_async_pytest import desk_fixture, fake_desk_fixture


def __getattr__(name: str) -> Any:
    # The fixture factories need pytest; the fake desk (the CLI's demo and
    # fake-desk, benchmarks) must not, so they are imported on first use.
    if name in ("desk_fixture", "fake_desk_fixture"):
        import _headoni_async_pytest

        return getattr(_headoni_async_pytest, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
