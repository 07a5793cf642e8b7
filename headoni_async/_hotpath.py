"""The streaming hot path: builders of ticket summaries and pages that skip
what the stream cannot afford, with the guard that keeps them honest.

``_models`` owns the classes and the converter; it registers these builders on
its converter and passes its classes in, so this module imports no model. The
builders do exactly what cattrs' generated hooks do (the tests hold them to it):
the same strict types, open enums and timestamps, the same errors. What they
skip: eleven hook calls per ticket, cattrs' per-ticket dispatch, and the
models' ``__init__`` (objects are built through their slots, see
``slot_setters``). With msgspec installed (the speedups extra), a page is
decoded from bytes by the private structs of ``_page_structs`` and built here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import attrs

__all__ = [
    "INTERN_LIMIT",
    "SummaryHooks",
    "SummaryModels",
    "dict_page_hook",
    "load_page_structs",
    "slot_setters",
    "struct_page_hook",
    "summary_hooks",
]

INTERN_LIMIT: Final = 1024
"""How many distinct statuses are shared before the cache starts over."""

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1


@attrs.frozen
class SummaryModels:
    """What the summary builders build: the model classes, the open enums, and
    the timestamp reader of the general (non-``Z``) form."""

    summary: type[Any]
    requester: type[Any]
    status: type[Any]
    priority: type[Any]
    status_type: type[Any]
    timestamp: Callable[[Any, Any], datetime]


def slot_setters(cls: type[Any]) -> tuple[Callable[[Any, Any], None], ...]:
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
    code = getattr(cls.__init__, "__code__", None)
    if code is None or not code.co_filename.startswith("<attrs generated"):
        problems.append("__init__ is not the one attrs generates")
    slots = {name for klass in cls.__mro__ for name in getattr(klass, "__slots__", ())} - {"__weakref__"}
    if "__dict__" in dir(cls) or slots != {a.name for a in fields}:
        problems.append(f"its slots {sorted(slots)} are not exactly its fields")
    if problems:
        raise TypeError(f"{cls.__name__} cannot be built without calling __init__: {'; '.join(problems)}")
    return tuple(inspect.getattr_static(cls, a.name).__set__ for a in fields)


@attrs.frozen
class SummaryHooks:
    """The hot-path builders of ``TicketSummary``: ``from_dict`` is the
    converter's hook for a decoded JSON object, ``from_structs`` builds the same
    objects from a page's msgspec structs (the speedups path)."""

    from_dict: Callable[[Any, Any], Any]
    from_structs: Callable[[Any], tuple[Any, ...]]


def summary_hooks(generic: Callable[[Any, Any], Any], models: SummaryModels) -> SummaryHooks:
    """Hand-tuned builders of ``TicketSummary``, the one type on the streaming hot path.

    They build exactly what the hook cattrs generates (``generic``) builds: the
    same strict types, open enums and timestamps (tests check the two agree on
    any input), in one function instead of eleven calls per ticket, and without
    calling the models' ``__init__`` (see ``_slot_setters``). A document they
    refuse is handed to ``generic``, so its error is cattrs' own.
    """
    new = object.__new__
    TicketSummary, Requester, Status = models.summary, models.requester, models.status
    set_id, set_number, set_subject, set_priority, set_status, set_requester, set_created, set_updated = (
        slot_setters(TicketSummary)
    )
    set_email, set_name = slot_setters(Requester)
    priorities: dict[str, Any] = {m.value: m for m in models.priority}
    types: dict[str, Any] = {m.value: m for m in models.status_type}
    timestamp = models.timestamp
    fromisoformat = datetime.fromisoformat
    # A desk has a handful of statuses and the models are immutable, so equal
    # ones are shared: keyed by id, each entry holds the label and type it was
    # made from (bounded: a cache that grows past its size starts over).
    # Requesters are not: there are thousands, and a churning cache of them
    # costs more in garbage collection than it saves.
    statuses: dict[str, tuple[str, str, Any]] = {}

    def status_for(status_id: str, label: str, internal: str) -> Any:
        if len(statuses) >= INTERN_LIMIT:
            statuses.clear()
        status = Status(status_id, label, types.get(internal, internal))
        statuses[status_id] = (label, internal, status)
        return status

    # The two builders below are the same code on two inputs, written out
    # rather than shared through a helper: a call per ticket costs ~10% of a page.
    def from_dict(d: Any, cls: Any) -> Any:
        try:
            status = d["status"]
            requester = d["requester"]
            ident, number, subject, priority = d["id"], d["number"], d["subject"], d["priority"]
            status_id, label, internal = status["id"], status["label"], status["internalType"]
            email = requester["email"]
            name = requester.get("name")
            created, updated = d["createdAt"], d["updatedAt"]
            if (
                type(ident) is str
                and type(number) is int
                and type(subject) is str
                and type(priority) is str
                and type(status_id) is str
                and type(label) is str
                and type(internal) is str
                and (email is None or type(email) is str)
                and (name is None or type(name) is str)
                and type(created) is str
                and type(updated) is str
            ):
                # The documented "...Z" form parses straight to UTC; anything else takes the general path.
                created_at = fromisoformat(created)
                if created_at.tzinfo is not UTC:
                    created_at = timestamp(created, None)
                updated_at = fromisoformat(updated)
                if updated_at.tzinfo is not UTC:
                    updated_at = timestamp(updated, None)
                cached = statuses.get(status_id)
                if cached is not None and cached[0] == label and cached[1] == internal:
                    status_obj = cached[2]
                else:
                    status_obj = status_for(status_id, label, internal)
                requester_obj = new(Requester)
                set_email(requester_obj, email)
                set_name(requester_obj, name)
                summary = new(TicketSummary)
                set_id(summary, ident)
                set_number(summary, number)
                set_subject(summary, subject)
                set_priority(summary, priorities.get(priority, priority))
                set_status(summary, status_obj)
                set_requester(summary, requester_obj)
                set_created(summary, created_at)
                set_updated(summary, updated_at)
                return summary
        except Exception:  # noqa: BLE001, S110 - cattrs' own hook below says what is wrong
            pass
        return generic(d, cls)

    def from_structs(structs: Any) -> tuple[Any, ...]:
        # msgspec checked every type already; what is left is ours: enums and timestamps.
        built: list[Any] = []
        append = built.append
        for t in structs:
            created_at = fromisoformat(t.created_at)
            if created_at.tzinfo is not UTC:
                created_at = timestamp(t.created_at, None)
            updated_at = fromisoformat(t.updated_at)
            if updated_at.tzinfo is not UTC:
                updated_at = timestamp(t.updated_at, None)
            status = t.status
            status_id, label, internal = status.id, status.label, status.internal_type
            cached = statuses.get(status_id)
            if cached is not None and cached[0] == label and cached[1] == internal:
                status_obj = cached[2]
            else:
                status_obj = status_for(status_id, label, internal)
            requester = t.requester
            requester_obj = new(Requester)
            set_email(requester_obj, requester.email)
            set_name(requester_obj, requester.name)
            summary = new(TicketSummary)
            set_id(summary, t.id)
            number = t.number
            if not _INT64_MIN <= number <= _INT64_MAX:  # past 64 bits: the ordinary path decides
                raise OverflowError(f"{number} is past 64 bits")
            set_number(summary, number)
            set_subject(summary, t.subject)
            priority = t.priority
            set_priority(summary, priorities.get(priority, priority))
            set_status(summary, status_obj)
            set_requester(summary, requester_obj)
            set_created(summary, created_at)
            set_updated(summary, updated_at)
            append(summary)
        return tuple(built)

    return SummaryHooks(from_dict, from_structs)


def dict_page_hook(
    generic: Callable[[Any, Any], Any],
    from_dict: Callable[[Any, Any], Any],
    page: type[Any],
    summary: type[Any],
) -> Callable[[Any, Any], Any]:
    """The converter's hook for a decoded page: what cattrs' generated hook does
    (a test checks the two agree on any input) without its per-ticket dispatch.
    Anything but a JSON object with a list of tickets and a string or null
    cursor goes to ``generic``, so its error is cattrs' own."""

    def structure_page(d: Any, cls: Any) -> Any:
        try:
            if type(d) is dict:
                tickets, cursor = d["tickets"], d["nextCursor"]
                if type(tickets) is list and (cursor is None or type(cursor) is str):
                    return page(tuple([from_dict(t, summary) for t in tickets]), cursor)
        except KeyError:  # cattrs' hook below raises it, after what it finds first
            pass
        return generic(d, cls)

    return structure_page


def struct_page_hook(
    from_structs: Callable[[Any], tuple[Any, ...]], page: type[Any], struct: type[Any]
) -> Callable[[Any, Any], Any]:
    """The converter's hook for ``TicketPage`` from a page's msgspec struct (the
    speedups path). A decoded JSON object is structured as ``_Page`` instead,
    by ``decode_page``, which keeps its dicts as the page's records."""

    def structure_page(d: Any, _: Any) -> Any:
        if type(d) is not struct:
            raise TypeError(f"a {page.__name__} is built from a page struct, not {type(d).__name__}")
        return page(from_structs(d.tickets), d.next_cursor)

    return structure_page


def load_page_structs() -> tuple[type[Any] | None, Callable[[bytes], Any] | None]:
    """The msgspec page struct and its decoder, or ``(None, None)`` without a
    usable msgspec: not installed (the speedups extra is optional), or one too
    old for the structs (before 0.10), which must not break the import."""
    try:
        from ._page_structs import PageStruct, decode_page_struct
    except Exception:  # noqa: BLE001 - any msgspec we cannot use means the ordinary path
        return None, None
    return PageStruct, decode_page_struct
