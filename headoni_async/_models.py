"""The response models: frozen attrs classes, built by one private cattrs converter.

Field names are snake_case; the converter renames them from the API's camelCase.
Ids stay ``str``, ``number`` is ``int``, timestamps are timezone-aware UTC
``datetime``s. Types are checked strictly (a number where an id belongs is a
``ResponseDecodeError``, never silently turned into a string), unknown JSON
keys are ignored.

Open enums: ``Priority``, ``StatusType`` and ``AuthorKind`` list the documented
values. A value Headoni adds later arrives as the plain ``str`` it was sent as,
so a read never breaks on it. Both are ``str``, so ``ticket.priority == "high"``
holds either way, and ``isinstance(ticket.priority, Priority)`` tells a
documented value from a new one.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from . import _hotpath
from ._errors import InvalidArgumentType, ResponseDecodeError
from ._json import json_loads
from ._routes import ROUTES, Route

__all__ = [
    "AuthorKind",
    "CreatedTicket",
    "Department",
    "DepartmentRef",
    "Message",
    "Priority",
    "Requester",
    "Status",
    "StatusType",
    "Ticket",
    "TicketPage",
    "TicketRecord",
    "TicketSummary",
    "TicketType",
    "TicketTypeRef",
    "decode_created",
    "decode_departments",
    "decode_page",
    "decode_ticket",
    "decode_ticket_record",
    "decode_ticket_types",
    "page_from_bytes",
    "to_api_json",
]


class Priority(enum.StrEnum):
    """A ticket's documented priorities. An undocumented one arrives as a plain ``str``."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class StatusType(enum.StrEnum):
    """A status's documented ``internalType``. An undocumented one arrives as a plain ``str``."""

    OPEN = "open"
    AWAITING_REPLY = "awaiting_reply"
    RESOLVED = "resolved"
    CLOSED = "closed"


class AuthorKind(enum.StrEnum):
    """Who wrote a message. An undocumented kind arrives as a plain ``str``."""

    AGENT = "agent"
    END_USER = "end_user"
    SYSTEM = "system"
    AUTOMATION = "automation"


@attrs.frozen
class Status:
    """A ticket's status: the desk's own label and its documented ``internal_type``."""

    id: str
    label: str
    internal_type: StatusType | str


@attrs.frozen
class Requester:
    """The end user a ticket was filed for. ``email`` and ``name`` may be ``None``."""

    email: str | None
    name: str | None = None


@attrs.frozen
class TicketSummary:
    """One ticket as ``GET /tickets`` lists it (no messages, department or type)."""

    id: str
    number: int
    subject: str
    priority: Priority | str
    status: Status
    requester: Requester
    created_at: datetime
    updated_at: datetime


@attrs.frozen
class DepartmentRef:
    """The department a ticket is routed to."""

    id: str
    name: str


@attrs.frozen
class TicketTypeRef:
    """The type a ticket was filed as."""

    id: str
    name: str


@attrs.frozen
class Message:
    """A public message on a ticket (internal notes are never returned)."""

    id: str
    author_kind: AuthorKind | str
    body_md: str
    created_at: datetime


@attrs.frozen
class Ticket:
    """One ticket with its public messages, oldest first (``GET /tickets/{idOrNumber}``)."""

    id: str
    number: int
    subject: str
    priority: Priority | str
    status: Status
    requester: Requester
    department: DepartmentRef | None
    ticket_type: TicketTypeRef | None
    created_at: datetime
    updated_at: datetime
    messages: tuple[Message, ...]


@attrs.frozen
class CreatedTicket:
    """The small ticket ``POST /tickets`` answers with (its requester has only ``email``)."""

    id: str
    number: int
    subject: str
    priority: Priority | str
    requester: Requester


@attrs.frozen
class Department:
    """A department: any of them may be named in a create, private ones included."""

    id: str
    name: str
    is_default: bool
    is_public_to_users: bool


@attrs.frozen
class TicketType:
    """A ticket type; ``is_internal`` marks internal-work types."""

    id: str
    name: str
    is_internal: bool
    is_default: bool


@attrs.frozen
class TicketPage:
    """One page of ``GET /tickets``: summaries newest first, and the cursor of
    the next page (``None`` at the end).

    ``records`` holds the ticket objects exactly as the server sent them (every
    field, known or not, values untouched): ``records[i]`` is the JSON of
    ``tickets[i]``. They are the decoder's own dicts, shared, not copied: treat
    them as read-only. They take no part in equality or the repr, and are
    empty on a page built by hand.
    """

    tickets: tuple[TicketSummary, ...]
    next_cursor: str | None
    # A page decoded by msgspec (the speedups extra) keeps its body here instead,
    # and ``records`` decodes it the ordinary way when first read: a stream that
    # never reads them never pays for a second decode.
    _records: tuple[dict[str, Any], ...] | _LazyRecords = attrs.field(
        default=(), eq=False, repr=False, alias="records"
    )

    @property
    def records(self) -> tuple[dict[str, Any], ...]:
        """The page's ticket objects as the server sent them (see the class)."""
        records = self._records
        if isinstance(records, _LazyRecords):
            records = records.decode()
            object.__setattr__(self, "_records", records)  # decoded once, then shared
        return records


class _LazyRecords:
    """A page body whose ticket objects are decoded (by the ordinary JSON path,
    so exactly as a page without msgspec has them) when first asked for."""

    __slots__ = ("body",)

    def __init__(self, body: bytes) -> None:
        self.body = body

    def decode(self) -> tuple[dict[str, Any], ...]:
        tickets: list[dict[str, Any]] = json_loads(self.body)["tickets"]
        return tuple(tickets)


@attrs.frozen
class TicketRecord:
    """One ticket twice over: the typed ``ticket`` and ``record``, the
    ``ticket`` object of the response exactly as the server sent it (every
    field, known or not, timestamps as written; no envelope).

    Made by ``AsyncDesk.get_ticket_record()`` and ``get_ticket_records()``.
    Equal when both parts are equal; hashed by the ticket only.
    """

    ticket: Ticket
    record: dict[str, Any] = attrs.field(hash=False, repr=False)


# Envelopes: the JSON objects the routes wrap their payloads in.
@attrs.frozen
class _Page:
    tickets: tuple[TicketSummary, ...]
    next_cursor: str | None


@attrs.frozen
class _TicketEnvelope:
    ticket: Ticket


@attrs.frozen
class _CreatedEnvelope:
    ticket: CreatedTicket


@attrs.frozen
class _Departments:
    departments: tuple[Department, ...]


@attrs.frozen
class _TicketTypes:
    ticket_types: tuple[TicketType, ...]


# --------------------------------------------------------------------------- converter

_T = TypeVar("_T")
_CAMEL = re.compile(r"_([a-z])")
_DIGITS = re.compile(r"[0-9]+")


def _camel(name: str) -> str:
    return _CAMEL.sub(lambda m: m.group(1).upper(), name)


def _strict(kind: type, what: str) -> Callable[[Any, Any], Any]:
    """A hook that accepts exactly ``kind`` (no ``int`` for a ``str``, no ``bool`` for an ``int``)."""

    def structure(value: Any, _: Any) -> Any:
        if type(value) is not kind:
            raise TypeError(f"expected {what}, got {type(value).__name__}")
        return value

    return structure


def _timestamp(value: Any, _: Any) -> datetime:
    if type(value) is not str:
        raise TypeError(f"expected an ISO 8601 timestamp, got {type(value).__name__}")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is UTC:  # the documented "...Z" form: nothing to convert
        return parsed
    offset = parsed.utcoffset()
    if offset is None:  # documented as UTC; a missing zone is read as UTC
        return parsed.replace(tzinfo=UTC)
    if offset != _ZERO or parsed.tzinfo is not UTC:
        return parsed.astimezone(UTC)
    return parsed


_ZERO: Final = timedelta(0)


def _open_enum(enum_cls: type[enum.Enum]) -> Callable[[Any, Any], Any]:
    members: dict[str, Any] = {m.value: m for m in enum_cls}

    def structure(value: Any, _: Any) -> Any:
        if type(value) is not str:
            raise TypeError(f"expected a string for {enum_cls.__name__}, got {type(value).__name__}")
        return members.get(value, value)

    return structure


def _is_open(enum_cls: type[enum.Enum]) -> Callable[[Any], bool]:
    union = enum_cls | str
    return lambda t: bool(t == union)


_BUILT_WITHOUT_INIT: Final = (TicketSummary, Requester)
"""The models the hot-path builders make through their slots (``_hotpath.slot_setters``)."""


def _make_converter(*, fast_paths: bool = True) -> cattrs.Converter:
    # detailed_validation=False: the generated code is plainer and faster on
    # the streaming hot path; a failure is still reported, as ResponseDecodeError.
    conv = cattrs.Converter(forbid_extra_keys=False, detailed_validation=False)
    conv.register_structure_hook(str, _strict(str, "a string"))
    conv.register_structure_hook(int, _strict(int, "an integer"))
    conv.register_structure_hook(bool, _strict(bool, "a boolean"))
    conv.register_structure_hook(datetime, _timestamp)
    for enum_cls in (Priority, StatusType, AuthorKind):
        conv.register_structure_hook_func(_is_open(enum_cls), _open_enum(enum_cls))

    def attrs_hook(cls: type[Any]) -> Callable[[Any, Any], Any]:
        renames: dict[str, Any] = {
            a.name: override(rename=_camel(a.name)) for a in attrs.fields(cls) if "_" in a.name
        }
        return make_dict_structure_fn(cls, conv, **renames)

    conv.register_structure_hook_factory(attrs.has, attrs_hook)
    if fast_paths:
        models = _hotpath.SummaryModels(TicketSummary, Requester, Status, Priority, StatusType, _timestamp)
        hooks = _hotpath.summary_hooks(attrs_hook(TicketSummary), models)
        conv.register_structure_hook(TicketSummary, hooks.from_dict)
        page_hook = _hotpath.dict_page_hook(attrs_hook(_Page), hooks.from_dict, _Page, TicketSummary)
        conv.register_structure_hook(_Page, page_hook)
        if _PageStruct is not None:
            conv.register_structure_hook(
                TicketPage, _hotpath.struct_page_hook(hooks.from_structs, TicketPage, _PageStruct)
            )
    return conv


_PageStruct, _decode_page_struct = _hotpath.load_page_structs()

_CONVERTER: Final = _make_converter()


def _make_unconverter() -> cattrs.Converter:
    # The way back, for exports: the API's own camelCase JSON.
    conv = cattrs.Converter()
    conv.register_unstructure_hook(datetime, _iso)
    for enum_cls in (Priority, StatusType, AuthorKind):  # an enum member leaves as its plain str
        conv.register_unstructure_hook_func(_is_open(enum_cls), _plain_str)

    def attrs_hook(cls: type[Any]) -> Callable[[Any], Any]:
        renames: dict[str, Any] = {
            a.name: override(rename=_camel(a.name)) for a in attrs.fields(cls) if "_" in a.name
        }
        return make_dict_unstructure_fn(cls, conv, **renames)

    conv.register_unstructure_hook_factory(attrs.has, attrs_hook)
    page_fields = make_dict_unstructure_fn(
        TicketPage, conv, next_cursor=override(rename="nextCursor"), _records=override(omit=True)
    )

    def unstructure_page(page: TicketPage) -> Any:
        # ``records`` through its property: a page may hold them still undecoded.
        return {**page_fields(page), "records": conv.unstructure(page.records)}

    conv.register_unstructure_hook(TicketPage, unstructure_page)
    return conv


def _plain_str(value: str) -> str:
    return str(value.value) if isinstance(value, enum.Enum) else value


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


_UNCONVERTER: Final = _make_unconverter()


_MODELS: Final = frozenset(
    {
        Status, Requester, TicketSummary, DepartmentRef, TicketTypeRef, Message, Ticket,
        CreatedTicket, Department, TicketType, TicketPage,
    }
)  # fmt: skip


def to_api_json(model: Any) -> Any:
    """A model (or a list or tuple of models) as the API's JSON: plain dicts,
    lists, strings, numbers, booleans and ``None``, with the API's camelCase
    keys, ISO 8601 ``...Z`` timestamps (milliseconds, as the API sends them) and
    enum members as their strings. ``json.dumps(to_api_json(ticket))`` always
    works, and decoding that JSON gives back an equal model. This is what
    ``headoni export`` writes.

    Raises:
        InvalidArgumentType: ``model`` is not one of this package's models (or
            a list or tuple of them).
    """
    items = model if isinstance(model, list | tuple) else (model,)
    for item in items:
        if type(item) not in _MODELS:
            raise InvalidArgumentType(
                f"to_api_json takes a headoni_async model or a list of them, not {type(item).__name__}"
            )
    if isinstance(model, tuple):
        return [_UNCONVERTER.unstructure(item) for item in model]
    return _UNCONVERTER.unstructure(model)


def _structure(data: Any, cls: type[_T], route: Route) -> _T:
    try:
        return _CONVERTER.structure(data, cls)
    except ResponseDecodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to build is a decode error, by contract
        raise ResponseDecodeError(
            f"response body is not the documented shape of {cls.__name__.lstrip('_')}: "
            f"{type(exc).__name__}: {exc}",
            method=route.method,
            path=route.template,
        ) from None


def decode_page(data: Any, *, route: Route = ROUTES["list_tickets"]) -> TicketPage:
    """``GET /tickets`` body -> ``TicketPage``. Raises ``ResponseDecodeError``."""
    page = _structure(data, _Page, route)
    cursor = page.next_cursor
    if cursor is not None and not (cursor.isascii() and _DIGITS.fullmatch(cursor)):
        raise ResponseDecodeError(
            f"nextCursor {cursor!r} is not a ticket id", method=route.method, path=route.template
        )
    # The structuring above proved data["tickets"] a list of ticket objects.
    return TicketPage(page.tickets, cursor, tuple(data["tickets"]))


def decode_ticket_record(data: Any, *, route: Route = ROUTES["get_ticket"]) -> TicketRecord:
    """``GET /tickets/{idOrNumber}`` body -> ``TicketRecord``. Raises ``ResponseDecodeError``."""
    ticket = _structure(data, _TicketEnvelope, route).ticket
    return TicketRecord(ticket, data["ticket"])


def page_from_bytes(body: bytes) -> TicketPage | None:
    """``GET /tickets`` body (bytes) -> ``TicketPage`` through msgspec (the
    speedups extra), or ``None`` when that path does not apply: msgspec is not
    installed, or the body is anything but a page the structs accept whole (an
    unknown field, a number past 64 bits, a bad timestamp or cursor, not JSON,
    ...). The caller then decodes the body the ordinary way (JSON, then
    ``decode_page``), which gives its own result or error: so on every body the
    outcome is the same with msgspec as without it. Never raises."""
    decode = _decode_page_struct
    if decode is None:
        return None
    try:
        page = _CONVERTER.structure(decode(body), TicketPage)
    except Exception:  # noqa: BLE001 - any refusal sends the body down the ordinary path
        return None
    cursor = page.next_cursor
    if cursor is not None and not (cursor.isascii() and _DIGITS.fullmatch(cursor)):
        return None
    object.__setattr__(page, "_records", _LazyRecords(body))  # on a page no one else has seen yet
    return page


def decode_ticket(data: Any, *, route: Route = ROUTES["get_ticket"]) -> Ticket:
    """``GET /tickets/{idOrNumber}`` body -> ``Ticket``. Raises ``ResponseDecodeError``."""
    return _structure(data, _TicketEnvelope, route).ticket


def decode_created(data: Any, *, route: Route = ROUTES["create_ticket"]) -> CreatedTicket:
    """``POST /tickets`` body -> ``CreatedTicket``. Raises ``ResponseDecodeError``."""
    return _structure(data, _CreatedEnvelope, route).ticket


def decode_departments(data: Any, *, route: Route = ROUTES["departments"]) -> list[Department]:
    """``GET /departments`` body -> departments. Raises ``ResponseDecodeError``."""
    return list(_structure(data, _Departments, route).departments)


def decode_ticket_types(data: Any, *, route: Route = ROUTES["ticket_types"]) -> list[TicketType]:
    """``GET /ticket-types`` body -> ticket types. Raises ``ResponseDecodeError``."""
    return list(_structure(data, _TicketTypes, route).ticket_types)
