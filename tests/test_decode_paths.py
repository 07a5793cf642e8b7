"""The fast decode paths build exactly what the plain ones build.

- The hot-path hook builds summaries without calling ``__init__``: the guard
  refuses any model whose ``__init__`` does more than store its arguments, and
  the hook agrees with cattrs' generated hook on valid and invalid objects
  (same objects, same errors).
- The msgspec path (the speedups extra) gives the same page as the ordinary
  JSON path on every body it accepts, and hands every other body to that path.
"""

from __future__ import annotations

import json
import pickle
import sys
import types
from datetime import UTC
from typing import Any

import aiohttp
import attrs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from headoni_async import AsyncDesk, ResponseDecodeError, _hotpath, _models
from headoni_async._json import json_loads
from headoni_async._models import (
    _BUILT_WITHOUT_INIT,
    Requester,
    TicketPage,
    TicketSummary,
    _make_converter,
    decode_page,
    page_from_bytes,
)
from headoni_async.testing import FakeDesk

from .documents import SUMMARY

# ---------------------------------------------------------------- the guard on the __init__-free shortcut


@pytest.mark.parametrize("cls", _BUILT_WITHOUT_INIT, ids=lambda c: c.__name__)
def test_models_built_without_init_have_nothing_that_init_would_run(cls: type[Any]) -> None:
    # Read straight from attrs, not through the guard: a validator, converter or
    # post-init hook added to one of these models fails here (and at import).
    for field in attrs.fields(cls):
        assert field.validator is None and field.converter is None and field.init, field.name
    assert not hasattr(cls, "__attrs_post_init__") and not hasattr(cls, "__attrs_pre_init__")
    setters = _hotpath.slot_setters(cls)
    assert len(setters) == len(attrs.fields(cls))


def test_the_hooks_build_exactly_the_guarded_models(monkeypatch: pytest.MonkeyPatch) -> None:
    guarded: list[type[Any]] = []
    real = _hotpath.slot_setters

    def spy(cls: type[Any]) -> Any:
        guarded.append(cls)
        return real(cls)

    monkeypatch.setattr(_hotpath, "slot_setters", spy)
    _make_converter()
    assert sorted(c.__name__ for c in guarded) == sorted(c.__name__ for c in _BUILT_WITHOUT_INIT)


def _with_validator() -> type[Any]:
    @attrs.frozen
    class Model:
        x: int = attrs.field(validator=attrs.validators.instance_of(int))

    return Model


def _with_converter() -> type[Any]:
    @attrs.frozen
    class Model:
        x: int = attrs.field(converter=int)

    return Model


def _with_post_init() -> type[Any]:
    @attrs.frozen
    class Model:
        x: int

        def __attrs_post_init__(self) -> None:
            pass

    return Model


def _with_pre_init() -> type[Any]:
    @attrs.frozen
    class Model:
        x: int

        def __attrs_pre_init__(self) -> None:
            pass

    return Model


def _with_field_outside_init() -> type[Any]:
    @attrs.frozen
    class Model:
        x: int
        y: int = attrs.field(init=False, default=0)

    return Model


def _with_cached_hash() -> type[Any]:
    @attrs.frozen(cache_hash=True)
    class Model:
        x: int

    return Model


def _without_slots() -> type[Any]:
    @attrs.frozen(slots=False)
    class Model:
        x: int

    return Model


def _with_own_init() -> type[Any]:
    @attrs.frozen(init=False)
    class Model:
        x: int

        def __init__(self, x: int) -> None:
            object.__setattr__(self, "x", x * 2)

    return Model


@pytest.mark.parametrize(
    "make",
    [
        _with_validator,
        _with_converter,
        _with_post_init,
        _with_pre_init,
        _with_field_outside_init,
        _with_cached_hash,
        _without_slots,
        _with_own_init,
    ],
)
def test_the_guard_refuses_a_model_whose_init_does_more(make: Any) -> None:
    with pytest.raises(TypeError, match="cannot be built without calling __init__"):
        _hotpath.slot_setters(make())


def test_the_guard_lets_a_plain_model_through_and_builds_what_init_builds() -> None:
    @attrs.frozen
    class Plain:
        a: str
        b: int | None = None

    set_a, set_b = _hotpath.slot_setters(Plain)
    built = object.__new__(Plain)
    set_a(built, "x")
    set_b(built, None)
    assert built == Plain("x") and hash(built) == hash(Plain("x")) and repr(built) == repr(Plain("x"))


# ---------------------------------------------------------------- the dict hook vs cattrs' generated hook

_GENERIC = _make_converter(fast_paths=False)
_FAST = _make_converter(fast_paths=True)

texts = st.text(st.characters(codec=None), max_size=8)  # surrogates included
timestamps = st.sampled_from(
    [
        "2026-06-04T15:21:09.000Z",
        "2026-06-04T15:21:09Z",
        "2026-06-04T15:21:09.1234567Z",  # 7-9 fractional digits
        "2026-06-04T15:21:09.123456789Z",
        "2026-06-04t15:21:09.000Z",  # lowercase t
        "2026-06-04T15:21:09.000z",  # lowercase z
        "2026-06-04T17:21:09+02:00",
        "2026-06-04T15:21:09-00:00",
        "2026-06-04T15:21:09",
        "2026-06-04",
        "2026-06-04T24:00:00Z",
        "yesterday",
        "",
    ]
)
huge_ints = st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**30, -(10**30)])
priorities = st.sampled_from(["low", "normal", "high", "urgent", "critical", ""])
internal_types = st.sampled_from(["open", "awaiting_reply", "resolved", "closed", "on_hold"])
odd_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), texts, st.lists(st.none(), max_size=1)
)


@st.composite
def summary_objects(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly valid summaries in every documented variation; sometimes a value of
    the wrong type, a missing key or an unknown one."""
    doc: dict[str, Any] = {
        "id": draw(st.one_of(st.from_regex(r"[0-9]{1,20}", fullmatch=True), texts)),
        "number": draw(st.one_of(st.integers(-10, 10**6), huge_ints)),
        "subject": draw(texts),
        "priority": draw(priorities),
        "status": {"id": draw(texts), "label": draw(texts), "internalType": draw(internal_types)},
        "requester": {"email": draw(st.one_of(st.none(), texts))},
        "createdAt": draw(timestamps),
        "updatedAt": draw(timestamps),
    }
    if draw(st.booleans()):
        doc["requester"]["name"] = draw(st.one_of(st.none(), texts))
    targets = [doc, doc["status"], doc["requester"]]
    for _ in range(draw(st.integers(0, 2))):
        target = draw(st.sampled_from(targets))
        key = draw(st.sampled_from([*target, "brandNew"]))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "delete":
            target.pop(key, None)
        else:
            target[key if action == "replace" else "brandNew"] = draw(odd_values)
    return doc


def _fingerprint(value: Any) -> Any:
    """Everything about a decoded model that equality alone would not show."""
    if attrs.has(type(value)):
        return (
            type(value),
            tuple(_fingerprint(getattr(value, a.name)) for a in attrs.fields(type(value))),
        )
    if isinstance(value, tuple):
        return tuple(_fingerprint(v) for v in value)
    return type(value), value, getattr(value, "tzinfo", None)


def _outcome(conv: Any, doc: Any) -> Any:
    try:
        built = conv.structure(doc, TicketSummary)
    except Exception as exc:  # noqa: BLE001 - which error it is, is the point
        return "error", type(exc), str(exc)
    assert pickle.loads(pickle.dumps(built)) == built  # every slot was set
    return _fingerprint(built), repr(built), hash(built)


@settings(max_examples=400)
@given(summary_objects())
@example(SUMMARY)
@example({**SUMMARY, "number": 2**64})
@example({**SUMMARY, "requester": {"email": None}})
def test_fast_summary_hook_builds_what_cattrs_builds(doc: dict[str, Any]) -> None:
    assert _outcome(_FAST, doc) == _outcome(_GENERIC, doc)


@st.composite
def page_objects(draw: st.DrawFn) -> Any:
    """Decoded page documents: mostly well formed, sometimes not at all."""
    doc: dict[str, Any] = {
        "tickets": draw(st.lists(summary_objects(), max_size=3) | odd_values),
        "nextCursor": draw(st.none() | st.from_regex(r"[0-9]{1,3}", fullmatch=True) | odd_values),
    }
    for key in draw(st.lists(st.sampled_from(["tickets", "nextCursor"]), max_size=1)):
        del doc[key]
    return draw(st.sampled_from([doc, doc, doc, [doc], "page"]))


def _page_outcome(conv: Any, doc: Any) -> Any:
    try:
        page = conv.structure(doc, _models._Page)
    except Exception as exc:  # noqa: BLE001 - which error it is, is the point
        return "error", type(exc), str(exc)
    return _fingerprint(page.tickets), page.next_cursor


@settings(max_examples=300)
@given(page_objects())
def test_fast_page_hook_builds_what_cattrs_builds(doc: Any) -> None:
    assert _page_outcome(_FAST, doc) == _page_outcome(_GENERIC, doc)


def test_the_reference_summary_is_built_without_errors() -> None:
    fast, generic = _outcome(_FAST, SUMMARY), _outcome(_GENERIC, SUMMARY)
    assert fast[0] != "error" and fast == generic
    built = _FAST.structure(SUMMARY, TicketSummary)
    assert type(built.requester) is Requester and built.created_at.tzinfo is UTC


# ---------------------------------------------------------------- the msgspec path vs the ordinary path

# The test extra installs msgspec, so these run everywhere the suite runs.
needs_msgspec = pytest.mark.skipif(
    _models._decode_page_struct is None, reason="the msgspec path needs msgspec (speedups extra)"
)


def ordinary(body: bytes) -> Any:
    """What a page body gives without msgspec: the JSON decoder, then the models."""
    try:
        data = json_loads(body)
    except ValueError:
        return "not JSON"
    try:
        return decode_page(data)
    except ResponseDecodeError as exc:
        return "error", str(exc)


def _page_fingerprint(page: Any) -> Any:
    if not isinstance(page, TicketPage):
        return page
    return _fingerprint(page.tickets), page.next_cursor


def _check_same(body: bytes) -> TicketPage | None:
    fast = page_from_bytes(body)
    if fast is not None:
        plain = ordinary(body)
        assert _page_fingerprint(fast) == _page_fingerprint(plain)
        assert isinstance(fast._records, _models._LazyRecords)  # not decoded until asked for
        assert isinstance(plain, TicketPage) and fast.records == plain.records
        assert fast.records is fast.records  # decoded once
    return fast


def _page_body(tickets: list[Any], cursor: Any = "1", *, ascii_only: bool = True) -> bytes:
    text = json.dumps({"tickets": tickets, "nextCursor": cursor}, ensure_ascii=ascii_only)
    return text.encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("msgspec_module", [None, types.ModuleType("msgspec")], ids=["absent", "too old"])
def test_without_a_usable_msgspec_the_ordinary_path_is_taken(
    msgspec_module: types.ModuleType | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # None in sys.modules makes the import fail; an empty module stands for a
    # msgspec without what the structs use (0.9 has no forbid_unknown_fields).
    monkeypatch.setitem(sys.modules, "msgspec", msgspec_module)
    monkeypatch.delitem(sys.modules, "headoni_async._page_structs", raising=False)
    assert _hotpath.load_page_structs() == (None, None)


@needs_msgspec
def test_the_reference_page_takes_the_msgspec_path() -> None:
    body = _page_body([SUMMARY, {**SUMMARY, "id": "1490375649312800767"}])
    assert _check_same(body) is not None


@needs_msgspec
@pytest.mark.parametrize(
    "body",
    [
        _page_body([{**SUMMARY, "extra": 1}]),  # an unknown field: msgspec would skip it unchecked
        _page_body([{**SUMMARY, "status": {**SUMMARY["status"], "color": "red"}}]),
        _page_body([SUMMARY], cursor="12a"),
        _page_body([{**SUMMARY, "number": 2**63}]),  # past int64: orjson's float, then the stdlib
        _page_body([{**SUMMARY, "number": 10**30}]),
        _page_body([{**SUMMARY, "subject": "half an emoji \ud83d"}]),  # a lone surrogate escape
        _page_body([{**SUMMARY, "createdAt": "2026-06-04T15:21:09.000z"}]),
        _page_body([{**SUMMARY, "number": 1.0}]),
        b'{"tickets": [], "nextCursor": null, "more": NaN}',
        # What msgspec's skip of an unknown field lets through and a JSON decoder does not:
        b'{"tickets": [], "nextCursor": null, "more": "\xff"}',
        b'{"tickets": [], "nextCursor": null, "more": 1e999}',
        b'\xef\xbb\xbf{"tickets": [], "nextCursor": null}',  # a BOM
        b'{"tickets": [], "nextCursor": null',
        b"",
    ],
)
def test_bodies_outside_the_structs_go_down_the_ordinary_path(body: bytes) -> None:
    assert page_from_bytes(body) is None


@needs_msgspec
@pytest.mark.parametrize(
    "stamp",
    ["2026-06-04T15:21:09.1234567Z", "2026-06-04T15:21:09.123456789Z", "2026-06-04t15:21:09.000Z"],
)
def test_timestamps_are_read_by_our_parser_on_the_msgspec_path(stamp: str) -> None:
    page = _check_same(_page_body([{**SUMMARY, "updatedAt": stamp}]))
    assert page is not None and page.tickets[0].updated_at == ordinary_page(stamp).tickets[0].updated_at


def ordinary_page(stamp: str) -> TicketPage:
    return decode_page({"tickets": [{**SUMMARY, "updatedAt": stamp}], "nextCursor": "1"})


@needs_msgspec
@settings(max_examples=300)
@given(
    st.lists(summary_objects(), max_size=3),
    st.one_of(st.none(), st.from_regex(r"[0-9]{1,3}", fullmatch=True)),
)
def test_msgspec_path_gives_what_the_ordinary_path_gives(tickets: list[Any], cursor: str | None) -> None:
    _check_same(_page_body(tickets, cursor))
    try:
        raw = _page_body(tickets, cursor, ascii_only=False)
    except UnicodeEncodeError:
        return
    _check_same(raw)


@st.composite
def near_miss_bodies(draw: st.DrawFn) -> bytes:
    """A valid page's bytes with a few bytes replaced, inserted or deleted."""
    body = bytearray(_page_body([SUMMARY, {**SUMMARY, "id": "1490375649312800767"}], ascii_only=False))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(body) - 1))
        action = draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = draw(st.sampled_from([*b'"\\{}[],:0123456789eE.-+ntfu', 0x00, 0x1F, 0x7F, 0xC3, 0xED, 0xFF]))
        if action == "replace":
            body[at] = byte
        elif action == "insert":
            body.insert(at, byte)
        else:
            del body[at]
    return bytes(body)


@needs_msgspec
@settings(max_examples=400)
@given(near_miss_bodies())
def test_near_miss_bodies_give_the_same_page_or_go_down_the_ordinary_path(body: bytes) -> None:
    _check_same(body)


@needs_msgspec
@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_any_bytes_never_raise_on_the_msgspec_path(body: bytes) -> None:
    _check_same(body)


# ---------------------------------------------------------------- on the wire: both paths, records as sent


@pytest.fixture(params=["msgspec", "ordinary"])
def decode_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test once with the msgspec page path and once as if msgspec were absent."""
    if request.param == "ordinary":
        monkeypatch.setattr(_models, "_decode_page_struct", None)
    elif _models._decode_page_struct is None:
        pytest.skip("the msgspec path needs msgspec (speedups extra)")
    return str(request.param)


async def test_stream_pages_and_records_are_what_the_server_sent_on_every_path(
    decode_path: str, desk: AsyncDesk, fake: FakeDesk
) -> None:
    fake.edit_ticket(fake.store.all_ids_desc()[3], extra={"tags": ["vip"], "odd": "\ud83d"})
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {fake.mint_token()}"}) as http:
        cursor: str | None = None
        async for page in desk.tickets(page_size=40).pages():
            query = {"limit": "40"} if cursor is None else {"limit": "40", "cursor": cursor}
            async with http.get(fake.base_url + "/tickets", params=query) as resp:
                sent = json.loads(await resp.read())
            assert list(page.records) == sent["tickets"]
            assert page == decode_page(sent)
            cursor = page.next_cursor
    assert cursor is None


async def test_the_msgspec_path_is_taken_on_a_plain_page(decode_path: str, desk: AsyncDesk) -> None:
    page = await desk.ticket_page(page_size=5)
    lazy = isinstance(page._records, _models._LazyRecords)
    assert lazy == (decode_path == "msgspec")
    assert [r["id"] for r in page.records] == [t.id for t in page.tickets]
