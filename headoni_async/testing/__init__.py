"""A faithful fake Headoni desk for tests and demos.

``FakeDesk`` is a real HTTP server (an ``aiohttp.web`` app on a loopback port)
that implements every route, rule and error of the API reference, seeds
realistic tickets deterministically, injects faults (``Fault``) per route and
request number, and logs every request (never the token).

The pytest plugin (installed with the package) adds the fixtures
``headoni_fake_desk`` and ``headoni_desk``; see ``headoni_async.testing.plugin``.
"""

from ._fake import FakeDesk, LoggedRequest
from ._faults import Fault
from ._store import ApiFailure, DeskStore

__all__ = ["ApiFailure", "DeskStore", "FakeDesk", "Fault", "LoggedRequest"]
