"""The server's own JSON, kept beside the models: page records, ticket records,
a JSON codec that round-trips any valid document (lone surrogates, huge
integers), the stream's ``since_id`` stop, and the fake desk's controls for
editing, removing and adding tickets."""

from __future__ import annotations

import json
import re
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from headoni_async import (
    AsyncDesk,
    InvalidArgument,
    InvalidArgumentType,
    Ticket,
    TicketNotFound,
    TicketPage,
    TicketRecord,
)
from headoni_async._json import _loads_stdlib, json_dumps, json_loads
from headoni_async._models import decode_page
from headoni_async.testing import FakeDesk

from .documents import ODD, PAGE, SUMMARY, TICKET

# ---------------------------------------------------------------- the JSON codec

LOADERS = pytest.mark.parametrize("loads", [json_loads, _loads_stdlib], ids=["default", "stdlib"])


@LOADERS
def test_a_lone_surrogate_escape_decodes(loads: Any) -> None:
    assert loads(b'{"subject": "half \\ud83d", "k\\udc00": 1}') == {"subject": "half \ud83d", "k\udc00": 1}


@LOADERS
def test_huge_integers_keep_every_digit(loads: Any) -> None:
    doc = b"[123456789012345678901234567890, -9223372036854775809, 18446744073709551616, 12]"
    value = loads(doc)
    assert value == [123456789012345678901234567890, -9223372036854775809, 18446744073709551616, 12]
    assert all(type(v) is int for v in value)


@LOADERS
@pytest.mark.parametrize("doc", [b"1e400", b"[-1e999]", b"NaN", b"[Infinity]", b'{"a": -Infinity}'])
def test_numbers_a_double_cannot_hold_are_value_errors(loads: Any, doc: bytes) -> None:
    # Read as inf they could only be written back as invalid JSON (or null): refuse, typed.
    with pytest.raises(ValueError, match=r"(?i)(double|not JSON|expecting value|unexpected character)"):
        loads(doc)


def test_json_dumps_writes_lone_surrogates_as_escapes() -> None:
    text = json_dumps({"s": "\ud83d", "k\udfff": ["\ud800x"]})
    assert text == '{"s":"\\ud83d","k\\udfff":["\\ud800x"]}'
    text.encode("utf-8")  # strict: never a UnicodeEncodeError


def test_json_dumps_odd_values_round_trip() -> None:
    text = json_dumps(ODD)
    assert json.loads(text) == ODD == json_loads(text.encode())
    assert "\U0001f600" in text and "\\u0000" in text  # non-BMP kept as is; NUL escaped


_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")
_chars = st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr))
# A high surrogate right before a low one is a pair: the decoder makes it one
# character, so no decoded value holds the two apart.
_text = st.lists(_chars, max_size=8).map("".join).filter(lambda s: not _PAIR.search(s))
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)


@given(_json)
def test_any_decoded_value_round_trips_through_json_dumps(value: Any) -> None:
    text = json_dumps(value)
    data = text.encode("utf-8")
    assert json_loads(data) == value
    assert _loads_stdlib(data) == value


# ---------------------------------------------------------------- records on models


def test_page_records_are_the_servers_dicts_not_copies() -> None:
    doc = {"tickets": [{**SUMMARY, "tags": ["vip"]}, {**SUMMARY, "id": "1"}], "nextCursor": None}
    page = decode_page(doc)
    assert page.records[0] is doc["tickets"][0] and page.records[1] is doc["tickets"][1]
    assert page.records[0]["tags"] == ["vip"]
    assert [r["id"] for r in page.records] == [t.id for t in page.tickets]


def test_records_are_not_part_of_equality_or_repr() -> None:
    a = decode_page(PAGE)
    b = decode_page({**PAGE, "tickets": [{**SUMMARY, "extra": 1}]})
    assert a == b and "records" not in repr(a) and "extra" not in repr(b)
    assert TicketPage(a.tickets, a.next_cursor).records == ()


def test_ticket_record_is_frozen_equal_and_hashable() -> None:
    from headoni_async._models import decode_ticket

    ticket = decode_ticket(TICKET)
    rec = TicketRecord(ticket, TICKET["ticket"])
    assert rec == TicketRecord(ticket, dict(TICKET["ticket"]))
    assert hash(rec) == hash(TicketRecord(ticket, {}))
    assert "messages" not in repr(rec).split("Ticket(", 1)[0]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        rec.record = {}  # type: ignore[misc]


# ---------------------------------------------------------------- against the fake desk


async def test_stream_records_carry_unknown_fields_and_odd_values(desk: AsyncDesk, fake: FakeDesk) -> None:
    target = fake.store.all_ids_desc()[5]
    fake.edit_ticket(target, extra=ODD)
    async for page in desk.tickets(page_size=10).pages():
        for ticket, record in zip(page.tickets, page.records, strict=True):
            assert record["id"] == ticket.id
            if ticket.id == target:
                assert {k: record[k] for k in ODD} == ODD
        break


async def test_get_ticket_record_is_the_servers_ticket_object(desk: AsyncDesk, fake: FakeDesk) -> None:
    fake.edit_ticket(1001, extra={"assignee": {"id": "7", "name": "Zoë"}, "odd": "\ud83d"})
    before = fake.count("get_ticket")
    rec = await desk.get_ticket_record(1001)
    assert fake.count("get_ticket") == before + 1
    assert isinstance(rec.ticket, Ticket) and rec.ticket.number == 1001
    assert rec.record["assignee"] == {"id": "7", "name": "Zoë"} and rec.record["odd"] == "\ud83d"
    assert rec.record["messages"] and "ticket" not in rec.record  # no envelope
    assert rec.record["updatedAt"] == fake.store.find("1001").updated_at  # as written, not re-rendered
    assert rec.ticket == await desk.get_ticket(1001)


async def test_get_ticket_record_errors(desk: AsyncDesk, fake: FakeDesk) -> None:
    with pytest.raises(TicketNotFound):
        await desk.get_ticket_record(999_999)
    with pytest.raises(InvalidArgumentType):
        await desk.get_ticket_record(1.5)  # type: ignore[arg-type]
    assert fake.count() == 1


async def test_get_ticket_records_in_input_order(desk: AsyncDesk, fake: FakeDesk) -> None:
    keys: list[int | str] = [1010, fake.store.all_ids_desc()[0], 1001, 1005]
    records = [r async for r in desk.get_ticket_records(keys, concurrency=2)]
    assert [r.ticket.number for r in records[:1] + records[2:]] == [1010, 1001, 1005]
    assert records[1].record["id"] == keys[1]
    assert all(r.record["id"] == r.ticket.id for r in records)
    assert fake.count("get_ticket") == 4 and fake.max_in_flight <= 2


# ---------------------------------------------------------------- since_id


@pytest.mark.parametrize("prefetch", [True, False])
@pytest.mark.parametrize(("position", "requests"), [(0, 1), (5, 1), (99, 1), (100, 2), (160, 2), (249, 3)])
async def test_since_id_stops_the_walk_without_a_page_past_it(
    desk: AsyncDesk, fake: FakeDesk, position: int, requests: int, prefetch: bool
) -> None:
    ids = fake.store.all_ids_desc()
    since = ids[position]
    stream = desk.tickets(since_id=since, prefetch=prefetch)
    got = [t.id async for t in stream]
    assert got == ids[:position]
    assert fake.count("list_tickets") == requests
    assert stream.exhausted


async def test_since_id_below_every_ticket_walks_everything(desk: AsyncDesk, fake: FakeDesk) -> None:
    assert [t.id async for t in desk.tickets(since_id="1")] == fake.store.all_ids_desc()
    assert fake.count("list_tickets") == 3


async def test_since_id_pages_are_cut_with_their_records(desk: AsyncDesk, fake: FakeDesk) -> None:
    ids = fake.store.all_ids_desc()
    pages = [p async for p in desk.tickets(page_size=10, since_id=ids[14]).pages()]
    assert [len(p.tickets) for p in pages] == [10, 4] and [len(p.records) for p in pages] == [10, 4]
    assert pages[-1].next_cursor is None
    assert [r["id"] for p in pages for r in p.records] == ids[:14]
    assert fake.count("list_tickets") == 2


async def test_since_id_with_a_cursor_at_or_below_it_sends_nothing(desk: AsyncDesk, fake: FakeDesk) -> None:
    ids = fake.store.all_ids_desc()
    assert [t async for t in desk.tickets(cursor=ids[10], since_id=ids[10])] == []
    assert [t async for t in desk.tickets(cursor=str(int(ids[10]) + 1), since_id=ids[10])] == []
    assert fake.count() == 0
    got = [t.id async for t in desk.tickets(cursor=ids[3], since_id=ids[10])]
    assert got == ids[4:10]


async def test_since_id_with_filters(desk: AsyncDesk, fake: FakeDesk) -> None:
    ids = fake.store.all_ids_desc()
    got = [t.id async for t in desk.tickets(status="open", since_id=ids[120])]
    expected = [str(t.id) for t in fake.store.iter_tickets() if t.status.internal_type == "open"]
    assert got == [i for i in expected if int(i) > int(ids[120])]


@pytest.mark.parametrize("bad", ["abc", "-1", "", "1.5", "١٢"])
async def test_since_id_is_checked_before_any_request(desk: AsyncDesk, fake: FakeDesk, bad: str) -> None:
    with pytest.raises(InvalidArgument):
        desk.tickets(since_id=bad)
    with pytest.raises(InvalidArgumentType):
        desk.tickets(since_id=1.5)  # type: ignore[arg-type]
    assert fake.count() == 0


# ---------------------------------------------------------------- the fake desk's controls


async def test_edit_ticket_bumps_updated_at_strictly_and_shows_everywhere(
    desk: AsyncDesk, fake: FakeDesk
) -> None:
    key = fake.store.all_ids_desc()[3]
    before = (await desk.get_ticket(key)).updated_at
    fake.edit_ticket(key, subject="Edited", priority="urgent", status="closed", extra={"tags": ["x"]})
    fake.edit_ticket(key, extra={"more": 1})  # twice within one millisecond: still strictly later
    after = await desk.get_ticket_record(key)
    assert after.ticket.updated_at > before
    assert after.ticket.subject == "Edited" and after.ticket.priority == "urgent"
    assert after.ticket.status.internal_type == "closed"
    assert after.record["tags"] == ["x"] and after.record["more"] == 1
    page = await desk.ticket_page(page_size=10)
    assert page.records[3]["tags"] == ["x"] and page.tickets[3].subject == "Edited"
    assert page.tickets[3].updated_at == after.ticket.updated_at


def test_edit_ticket_refuses_what_it_cannot_do() -> None:
    fake = FakeDesk(tickets=3)
    with pytest.raises(KeyError):
        fake.edit_ticket(99)
    with pytest.raises(ValueError, match="known field"):
        fake.edit_ticket(1001, extra={"subject": "x"})
    with pytest.raises(ValueError, match="priority"):
        fake.edit_ticket(1001, priority="asap")
    with pytest.raises(ValueError, match="status"):
        fake.edit_ticket(1001, status="on_hold")


async def test_remove_ticket_is_neither_listed_nor_gettable(desk: AsyncDesk, fake: FakeDesk) -> None:
    ids = fake.store.all_ids_desc()
    number = fake.store.find(ids[7]).number
    fake.remove_ticket(ids[7])
    fake.remove_ticket(fake.store.find(ids[8]).number)
    assert [t.id async for t in desk.tickets()] == ids[:7] + ids[9:]
    for key in (ids[7], number, ids[8]):
        with pytest.raises(TicketNotFound):
            await desk.get_ticket(key)
    with pytest.raises(KeyError):
        fake.remove_ticket(ids[7])


async def test_add_tickets_go_above_every_other(desk: AsyncDesk, fake: FakeDesk) -> None:
    old = fake.store.all_ids_desc()
    new = fake.add_tickets(3)
    assert len(new) == 3 and int(new[0]) > int(old[0]) and new == sorted(new, key=int)
    assert [t.id async for t in desk.tickets(since_id=old[0])] == new[::-1]
    assert (await desk.get_ticket(new[0])).id == new[0]
    assert fake.add_tickets(0) == []


async def test_a_create_with_a_lone_surrogate_is_sent_as_its_escape(desk: AsyncDesk, fake: FakeDesk) -> None:
    created = await desk.create_ticket(email="a@example.com", subject="half \ud83d", body="b\udc00")
    assert created.subject == "half \ud83d"
    assert fake.store.lookup(created.id).subject == "half \ud83d"
