"""The public surface: an explicit __all__, docstrings everywhere, one version."""

from __future__ import annotations

import inspect
from importlib.metadata import version

import headoni_async
import headoni_async.testing

from .helpers import ScriptedServer

EXPECTED = {
    "AsyncDesk", "TicketStream", "RetryPolicy", "Timeouts",
    "TicketSummary", "Ticket", "CreatedTicket", "TicketPage", "TicketRecord", "Status", "Requester", "Department",
    "TicketType", "DepartmentRef", "TicketTypeRef", "Message", "Priority", "StatusType", "AuthorKind",
    "HeadoniError", "APIError", "BadRequest", "ClientError", "Forbidden", "NotFound", "Unauthenticated",
    "InvalidBody", "InvalidQuery", "InvalidId", "InvalidStatus", "DepartmentNotFound", "TicketTypeNotFound",
    "InsufficientScope", "TokenDeskMismatch", "TicketNotFound", "RateLimited", "ServerError",
    "UnexpectedRedirect", "TransportError", "ConnectError", "ConnectTimeout", "TLSError", "NetworkError",
    "RequestTimeout", "ReadTimeout", "ProtocolError", "ResponseDecodeError", "ResponseTooLarge",
    "InvalidArgument", "InvalidArgumentType", "DeskClosed", "__version__",
    "parse_ticket_refs", "to_api_json", "WrongEventLoop",
    "SyncError", "SyncLocked", "SyncMismatch", "SyncStateDamaged", "SyncProgress", "SyncResult", "sync_desk",
    "Hooks", "RequestEvent", "RateLimit", "PoolTimeout", "RateLimitTimeout",
}  # fmt: skip


def test_all_is_exactly_the_public_surface() -> None:
    assert set(headoni_async.__all__) == EXPECTED
    assert len(headoni_async.__all__) == len(EXPECTED)
    for name in EXPECTED:
        assert hasattr(headoni_async, name)
    public = {
        n
        for n in vars(headoni_async)
        if not n.startswith("_") and not inspect.ismodule(getattr(headoni_async, n))
    }
    assert public <= EXPECTED


def test_every_public_name_has_a_docstring() -> None:
    for module in (headoni_async, headoni_async.testing):
        for name in module.__all__:
            obj = getattr(module, name)
            if name.startswith("__"):
                continue
            assert inspect.getdoc(obj), name
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if attr.startswith("_") or not (
                        inspect.isfunction(member) or isinstance(member, property)
                    ):
                        continue
                    assert inspect.getdoc(member), f"{name}.{attr}"


def test_every_error_is_a_headoni_error() -> None:
    for name in headoni_async.__all__:
        obj = getattr(headoni_async, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            assert issubclass(obj, headoni_async.HeadoniError)


async def test_one_version(scripted: ScriptedServer) -> None:
    assert headoni_async.__version__ == version("headoni-async")
    scripted.body = b'{"departments": []}'
    async with headoni_async.AsyncDesk("acme", "hd_x", base_url=scripted.base_url) as desk:
        await desk.departments()
    assert (
        scripted.seen[0]
        .headers["User-Agent"]
        .startswith(f"headoni-async/{headoni_async.__version__} aiohttp/")
    )
