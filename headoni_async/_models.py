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
import inspect
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._errors import InvalidArgumentType, ResponseDecodeError
from ._protocol import json_loads
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


_INTERN_LIMIT: Final = 1024


def _slot_setters(cls: type[Any]) -> tuple[Callable[[Any, Any], None], ...]:
    """The slot setters of an attrs class, in field order: what its generated
    ``__init__`` does with its arguments, minus the call.

    Building an object with ``object.__new__`` and these is equal to calling
    ``__init__`` only while ``__init__`` does nothing else, so this refuses
    (``TypeError``) a class with a validator, a converter, ``__attrs_pre_init__``
    or ``__attrs_post_init__``, a field left out of ``__init__``, a slot that is
    not a field (``cache_hash``), a hand-written ``__init__``, or no slots.
    """
    fields = attrs.fields(cls)
    problems = [f"{a.name} has a validator" for a in fields if a.validator is not None]
    problems += [f"{a.name} has a converter" for a in fields if a.converter is not None]
    problems += [f"{a.name} is not an __init__ argument" for a in fields if not a.init]
    problems += [hook for hook in ("__attrs_pre_init__", "__attrs_post_init__") if hasattr(cls, hook)]
    if not cls.__init__.__code__.co_filename.startswith("<attrs generated"):
        problems.append("__init__ is not the one attrs generates")
    slots = {name for klass in cls.__mro__ for name in getattr(klass, "__slots__", ())} - {"__weakref__"}
    if "__dict__" in dir(cls) or slots != {a.name for a in fields}:
        problems.append(f"its slots {sorted(slots)} are not exactly its fields")
    if problems:
        raise TypeError(f"{cls.__name__} cannot be built without calling __init__: {'; '.join(problems)}")
    return tuple(inspect.getattr_static(cls, a.name).__set__ for a in fields)


_BUILT_WITHOUT_INIT: Final = (TicketSummary, Requester)
"""The models the hot-path hooks build through their slots (``_slot_setters``)."""


@attrs.frozen
class _SummaryHooks:
    """The hot-path builders of ``TicketSummary``: ``from_dict`` is the
    converter's hook for a decoded JSON object, ``from_structs`` builds the same
    objects from a page's msgspec structs (the speedups path)."""

    from_dict: Callable[[Any, Any], TicketSummary]
    from_structs: Callable[[Any], tuple[TicketSummary, ...]]


def _summary_hooks(generic: Callable[[Any, Any], TicketSummary]) -> _SummaryHooks:
    """Hand-tuned builders of ``TicketSummary``, the one type on the streaming hot path.

    They build exactly what the hook cattrs generates (``generic``) builds: the
    same strict types, open enums and timestamps (tests check the two agree on
    any input), in one function instead of eleven calls per ticket, and without
    calling the models' ``__init__`` (see ``_slot_setters``). A document they
    refuse is handed to ``generic``, so its error is cattrs' own.
    """
    new = object.__new__
    set_id, set_number, set_subject, set_priority, set_status, set_requester, set_created, set_updated = (
        _slot_setters(TicketSummary)
    )
    set_email, set_name = _slot_setters(Requester)
    priorities: dict[str, Any] = {m.value: m for m in Priority}
    types: dict[str, Any] = {m.value: m for m in StatusType}
    timestamp = _timestamp
    fromisoformat = datetime.fromisoformat
    # A desk has a handful of statuses and the models are immutable, so equal
    # ones are shared (bounded: a cache that grows past its size starts over).
    # Requesters are not: there are thousands, and a churning cache of them
    # costs more in garbage collection than it saves.
    statuses: dict[tuple[str, str, str], Status] = {}

    def build(
        ident: str,
        number: int,
        subject: str,
        priority: str,
        status_key: tuple[str, str, str],
        email: str | None,
        name: str | None,
        created: str,
        updated: str,
    ) -> TicketSummary:
        # The documented "...Z" form parses straight to UTC; anything else takes the general path.
        created_at = fromisoformat(created)
        if created_at.tzinfo is not UTC:
            created_at = timestamp(created, None)
        updated_at = fromisoformat(updated)
        if updated_at.tzinfo is not UTC:
            updated_at = timestamp(updated, None)
        status = statuses.get(status_key)
        if status is None:
            if len(statuses) >= _INTERN_LIMIT:
                statuses.clear()
            status_id, label, internal = status_key
            status = statuses[status_key] = Status(status_id, label, types.get(internal, internal))
        requester = new(Requester)
        set_email(requester, email)
        set_name(requester, name)
        summary = new(TicketSummary)
        set_id(summary, ident)
        set_number(summary, number)
        set_subject(summary, subject)
        set_priority(summary, priorities.get(priority, priority))
        set_status(summary, status)
        set_requester(summary, requester)
        set_created(summary, created_at)
        set_updated(summary, updated_at)
        return summary

    def from_dict(d: Any, cls: Any) -> TicketSummary:
        try:
            status = d["status"]
            requester = d["requester"]
            ident, number, subject, priority = d["id"], d["number"], d["subject"], d["priority"]
            status_key = (status["id"], status["label"], status["internalType"])
            email = requester["email"]
            name = requester.get("name")
            created, updated = d["createdAt"], d["updatedAt"]
            if (
                type(ident) is str
                and type(number) is int
                and type(subject) is str
                and type(priority) is str
                and all(type(v) is str for v in status_key)
                and (email is None or type(email) is str)
                and (name is None or type(name) is str)
                and type(created) is str
                and type(updated) is str
            ):
                return build(ident, number, subject, priority, status_key, email, name, created, updated)
        except Exception:  # noqa: BLE001, S110 - cattrs' own hook below says what is wrong
            pass
        return generic(d, cls)

    def from_structs(structs: Any) -> tuple[TicketSummary, ...]:
        # msgspec checked every type already; what is left is ours: enums and timestamps.
        return tuple(
            [
                build(
                    t.id,
                    t.number,
                    t.subject,
                    t.priority,
                    (t.status.id, t.status.label, t.status.internal_type),
                    t.requester.email,
                    t.requester.name,
                    t.created_at,
                    t.updated_at,
                )
                for t in structs
            ]
        )

    return _SummaryHooks(from_dict, from_structs)


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
        hooks = _summary_hooks(attrs_hook(TicketSummary))
        conv.register_structure_hook(TicketSummary, hooks.from_dict)
        if _PageStruct is not None:
            conv.register_structure_hook(TicketPage, _page_hook(hooks.from_structs))
    return conv


def _page_hook(from_structs: Callable[[Any], tuple[TicketSummary, ...]]) -> Callable[[Any, Any], TicketPage]:
    """The converter's hook for ``TicketPage`` from a page's msgspec struct (the
    speedups path). A decoded JSON object is structured as ``_Page`` instead,
    by ``decode_page``, which keeps its dicts as the page's records."""

    def structure_page(d: Any, _: Any) -> TicketPage:
        if type(d) is not _PageStruct:
            raise TypeError(f"a TicketPage is built from a page struct, not {type(d).__name__}")
        return TicketPage(from_structs(d.tickets), d.next_cursor)

    return structure_page


def _load_page_structs() -> tuple[type[Any] | None, Callable[[bytes], Any] | None]:
    try:
        from ._page_structs import PageStruct, decode_page_struct
    except ImportError:  # msgspec (the speedups extra) is optional
        return None, None
    return PageStruct, decode_page_struct


_PageStruct, _decode_page_struct = _load_page_structs()


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
