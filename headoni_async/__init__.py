"""headoni_async: the asyncio-native client for the Headoni support-desk API.

Start with :class:`AsyncDesk`. Every exception raised is a :class:`HeadoniError`
(the tree is drawn in ``headoni_async._errors``). A faithful fake desk for
tests lives in :mod:`headoni_async.testing`.
"""

import logging as _logging

from ._config import RetryPolicy, Timeouts
from ._desk import AsyncDesk
from ._errors import (
    APIError,
    BadRequest,
    ClientError,
    ConnectError,
    ConnectTimeout,
    DepartmentNotFound,
    DeskClosed,
    Forbidden,
    HeadoniError,
    InsufficientScope,
    InvalidArgument,
    InvalidArgumentType,
    InvalidBody,
    InvalidId,
    InvalidQuery,
    InvalidStatus,
    NetworkError,
    NotFound,
    PoolTimeout,
    ProtocolError,
    RateLimited,
    RateLimitTimeout,
    ReadTimeout,
    RequestTimeout,
    ResponseDecodeError,
    ResponseTooLarge,
    ServerError,
    SyncError,
    SyncLocked,
    SyncMismatch,
    SyncStateDamaged,
    TicketNotFound,
    TicketTypeNotFound,
    TLSError,
    TokenDeskMismatch,
    TransportError,
    Unauthenticated,
    UnexpectedRedirect,
    WrongEventLoop,
)
from ._hooks import Hooks, RequestEvent
from ._models import (
    AuthorKind,
    CreatedTicket,
    Department,
    DepartmentRef,
    Message,
    Priority,
    Requester,
    Status,
    StatusType,
    Ticket,
    TicketPage,
    TicketRecord,
    TicketSummary,
    TicketType,
    TicketTypeRef,
    to_api_json,
)
from ._pager import TicketStream
from ._ratelimit import RateLimit
from ._refs import parse_ticket_refs
from ._sync import SyncProgress, SyncResult, sync_desk
from ._version import VERSION as _VERSION

__version__ = _VERSION

# A library logs, the application decides where records go: without this, an
# app that configures no logging would see our warnings on stderr (Python's
# "last resort" handler). The stdlib's logging HOWTO asks libraries for exactly this.
_logging.getLogger(__name__).addHandler(_logging.NullHandler())

__all__ = [
    "APIError",
    "AsyncDesk",
    "AuthorKind",
    "BadRequest",
    "ClientError",
    "ConnectError",
    "ConnectTimeout",
    "CreatedTicket",
    "Department",
    "DepartmentNotFound",
    "DepartmentRef",
    "DeskClosed",
    "Forbidden",
    "HeadoniError",
    "Hooks",
    "InsufficientScope",
    "InvalidArgument",
    "InvalidArgumentType",
    "InvalidBody",
    "InvalidId",
    "InvalidQuery",
    "InvalidStatus",
    "Message",
    "NetworkError",
    "NotFound",
    "PoolTimeout",
    "Priority",
    "ProtocolError",
    "RateLimit",
    "RateLimitTimeout",
    "RateLimited",
    "ReadTimeout",
    "RequestEvent",
    "RequestTimeout",
    "Requester",
    "ResponseDecodeError",
    "ResponseTooLarge",
    "RetryPolicy",
    "ServerError",
    "Status",
    "StatusType",
    "SyncError",
    "SyncLocked",
    "SyncMismatch",
    "SyncProgress",
    "SyncResult",
    "SyncStateDamaged",
    "TLSError",
    "Ticket",
    "TicketNotFound",
    "TicketPage",
    "TicketRecord",
    "TicketStream",
    "TicketSummary",
    "TicketType",
    "TicketTypeNotFound",
    "TicketTypeRef",
    "Timeouts",
    "TokenDeskMismatch",
    "TransportError",
    "Unauthenticated",
    "UnexpectedRedirect",
    "WrongEventLoop",
    "__version__",
    "parse_ticket_refs",
    "sync_desk",
    "to_api_json",
]
