"""Decoding responses into models: the reference's examples, open enums,
strict types, and any bytes giving only our documented errors."""

from __future__ import annotations

import contextlib
import copy
import json
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headoni_async import (
    AuthorKind,
    CreatedTicket,
    Priority,
    ResponseDecodeError,
    StatusType,
    Ticket,
    TicketPage,
)
from headoni_async._json import _loads_stdlib, json_loads
from headoni_async._models import (
    decode_created,
    decode_departments,
    decode_page,
    decode_ticket,
    decode_ticket_types,
)

from .documents import CREATED, PAGE, SUMMARY, TICKET
from .helpers import json_values


def test_page_from_reference() -> None:
    page = decode_page(PAGE)
    assert isinstance(page, TicketPage) and page.next_cursor == "1490375649312800768"
    t = page.tickets[0]
    assert (t.id, t.number, t.subject) == ("1490375649312800768", 1247, "Login broken on staging")
    assert t.priority is Priority.HIGH and t.status.internal_type is StatusType.OPEN
    assert t.requester.email == "alice@example.com" and t.requester.name == "Alice"
    assert t.created_at == datetime(2026, 6, 4, 15, 21, 9, tzinfo=UTC) and t.created_at.tzinfo is UTC


def test_models_are_frozen() -> None:
    t = decode_page(PAGE).tickets[0]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        t.subject = "x"  # type: ignore[misc]


def test_ticket_from_reference() -> None:
    ticket = decode_ticket(TICKET)
    assert isinstance(ticket, Ticket)
    assert ticket.department is not None and ticket.department.name == "Support"
    assert ticket.ticket_type is not None and ticket.ticket_type.name == "Question"
    assert [m.author_kind for m in ticket.messages] == [AuthorKind.END_USER]
    assert ticket.messages[0].body_md.startswith("I loop back")


def test_created_from_reference() -> None:
    created = decode_created(CREATED)
    assert isinstance(created, CreatedTicket) and created.requester.email == "alice@example.com"
    assert created.requester.name is None


def test_departments_and_types() -> None:
    deps = decode_departments(
        {"departments": [{"id": "1", "name": "Support", "isDefault": True, "isPublicToUsers": False}]}
    )
    assert deps[0].is_default and not deps[0].is_public_to_users
    types = decode_ticket_types(
        {"ticketTypes": [{"id": "2", "name": "Q", "isInternal": True, "isDefault": False}]}
    )
    assert types[0].is_internal and not types[0].is_default


def test_nullable_requester_and_unknown_fields() -> None:
    doc = copy.deepcopy(TICKET)
    doc["ticket"]["requester"] = {"email": None, "name": None}
    doc["ticket"]["brandNewField"] = {"x": 1}
    doc["surprise"] = True
    ticket = decode_ticket(doc)
    assert ticket.requester.email is None and ticket.requester.name is None


def test_undocumented_enum_values_arrive_as_plain_strings() -> None:
    doc = copy.deepcopy(TICKET)
    doc["ticket"]["priority"] = "critical"
    doc["ticket"]["status"]["internalType"] = "on_hold"
    doc["ticket"]["messages"][0]["authorKind"] = "bot"
    ticket = decode_ticket(doc)
    assert ticket.priority == "critical" and not isinstance(ticket.priority, Priority)
    assert ticket.status.internal_type == "on_hold"
    assert ticket.messages[0].author_kind == "bot"


def test_offsets_are_normalised_to_utc() -> None:
    doc = copy.deepcopy(PAGE)
    doc["tickets"][0]["createdAt"] = "2026-06-04T17:21:09+02:00"
    doc["tickets"][0]["updatedAt"] = "2026-06-04T15:40:11"
    t = decode_page(doc).tickets[0]
    assert t.created_at == datetime(2026, 6, 4, 15, 21, 9, tzinfo=UTC) and t.created_at.tzinfo is UTC
    assert t.updated_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("id",), 1490375649312800768),  # an id as a JSON number is refused, not stringified
        (("number",), "1247"),
        (("number",), True),
        (("subject",), None),
        (("priority",), 3),
        (("status",), "open"),
        (("createdAt",), "yesterday"),
        (("createdAt",), 0),
        (("requester",), None),
    ],
)
def test_wrong_types_are_decode_errors(path: tuple[str, ...], value: Any) -> None:
    doc = copy.deepcopy(PAGE)
    doc["tickets"][0][path[0]] = value
    with pytest.raises(ResponseDecodeError):
        decode_page(doc)


@pytest.mark.parametrize("cursor", [123, "12a", "", "-1"])
def test_bad_next_cursor(cursor: object) -> None:
    with pytest.raises(ResponseDecodeError):
        decode_page({"tickets": [], "nextCursor": cursor})


def test_missing_key() -> None:
    with pytest.raises(ResponseDecodeError, match="documented shape"):
        decode_page({"tickets": []})


DECODERS = [decode_page, decode_ticket, decode_created, decode_departments, decode_ticket_types]


@settings(max_examples=300)
@given(json_values, st.sampled_from(DECODERS))
def test_any_json_gives_a_model_or_a_decode_error(value: Any, decode: Any) -> None:
    with contextlib.suppress(ResponseDecodeError):
        decode(value)


def _mutations() -> st.SearchStrategy[Any]:
    """The reference's documents with one value replaced by something else."""

    def mutate(doc: Any, choice: int, replacement: Any) -> Any:
        doc = copy.deepcopy(doc)
        slots: list[tuple[Any, Any]] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for k in node:
                    slots.append((node, k))
                    walk(node[k])
            elif isinstance(node, list):
                for i in range(len(node)):
                    slots.append((node, i))
                    walk(node[i])

        walk(doc)
        container, key = slots[choice % len(slots)]
        container[key] = replacement
        return doc

    return st.builds(mutate, st.sampled_from([PAGE, TICKET, CREATED]), st.integers(0, 200), json_values)


@settings(max_examples=300)
@given(_mutations(), st.sampled_from(DECODERS))
def test_near_miss_documents_never_leak_foreign_errors(doc: Any, decode: Any) -> None:
    with contextlib.suppress(ResponseDecodeError):
        decode(doc)


@given(st.binary(max_size=200))
def test_json_loads_raises_only_value_error(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        json_loads(data)


@pytest.mark.parametrize("loads", [json_loads, _loads_stdlib], ids=["default", "stdlib"])
def test_deeply_nested_json_is_a_value_error(loads: Any) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(ValueError, match=r"(?i)(deep|recursion|nest|limit)"):
        loads(deep)


def test_round_trip_of_reference_json_text() -> None:
    assert decode_page(json.loads(json.dumps(PAGE))) == decode_page(PAGE)


# ---------------------------------------------------------------- the hot-path hook agrees with cattrs' own

from headoni_async._models import TicketSummary, _make_converter  # noqa: E402

_GENERIC = _make_converter(fast_paths=False)
_FAST = _make_converter(fast_paths=True)


def _outcome(conv: Any, doc: Any) -> Any:
    try:
        t = conv.structure(doc, TicketSummary)
    except Exception:  # noqa: BLE001 - only whether it failed matters here
        return "error"
    # Equality alone would not tell an enum member from its plain string.
    return t, type(t.priority), type(t.status.internal_type), t.created_at.tzinfo, t.updated_at.tzinfo


summary_values = st.fixed_dictionaries(
    {
        "id": st.one_of(st.text(max_size=20), st.integers()),
        "number": st.one_of(st.integers(), st.text(max_size=3), st.booleans()),
        "subject": st.one_of(st.text(max_size=10), st.none()),
        "priority": st.one_of(
            st.sampled_from(["low", "normal", "high", "urgent", "critical"]), st.integers()
        ),
        "status": st.one_of(
            st.fixed_dictionaries(
                {
                    "id": st.text(max_size=5),
                    "label": st.text(max_size=5),
                    "internalType": st.one_of(st.sampled_from(["open", "closed", "on_hold"]), st.none()),
                }
            ),
            st.none(),
        ),
        "requester": st.one_of(
            st.fixed_dictionaries(
                {"email": st.one_of(st.none(), st.text(max_size=5), st.integers())},
                optional={"name": st.one_of(st.none(), st.text(max_size=5), st.integers())},
            ),
            st.text(max_size=3),
        ),
        "createdAt": st.one_of(
            st.sampled_from(
                ["2026-06-04T15:21:09.000Z", "2026-06-04T17:21:09+02:00", "2026-06-04T15:21:09", "x"]
            ),
            st.integers(),
        ),
        "updatedAt": st.sampled_from(["2026-06-04T15:40:11.000Z", "2026-06-04T15:40:11-05:00", ""]),
    }
)


@settings(max_examples=500)
@given(summary_values)
def test_fast_summary_hook_matches_the_generated_one(doc: dict[str, Any]) -> None:
    assert _outcome(_FAST, doc) == _outcome(_GENERIC, doc)


def test_fast_summary_hook_matches_on_the_reference() -> None:
    assert _FAST.structure(SUMMARY, TicketSummary) == _GENERIC.structure(SUMMARY, TicketSummary)
