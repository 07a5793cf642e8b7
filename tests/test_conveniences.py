"""Small things every service expects: the API's JSON for any model, a quiet
library logger, configuration from the environment, a desk that says so when
it is used from another event loop, not-found errors that name their ticket,
and a cache for the lookups that rarely change."""

from __future__ import annotations

import asyncio
import gc
import json
import pickle
import subprocess
import sys
import traceback
import warnings
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headoni_async import (
    AsyncDesk,
    AuthorKind,
    CreatedTicket,
    Department,
    DepartmentRef,
    DeskClosed,
    InvalidArgument,
    InvalidArgumentType,
    Message,
    NotFound,
    Priority,
    Requester,
    ServerError,
    Status,
    StatusType,
    Ticket,
    TicketNotFound,
    TicketPage,
    TicketSummary,
    TicketTypeRef,
    WrongEventLoop,
    to_api_json,
)
from headoni_async._models import decode_created, decode_departments, decode_page, decode_ticket
from headoni_async.testing import FakeDesk, Fault

from .conftest import CANARY
from .helpers import wait_until_sync

# ----------------------------------------------------------------------------- to_api_json

_ids = st.from_regex(r"[1-9][0-9]{0,18}", fullmatch=True)
_text = st.text(max_size=30)
_moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))  # the API sends milliseconds
_priorities = st.one_of(st.sampled_from(list(Priority)), st.just("critical"))
_statuses = st.builds(Status, _ids, _text, st.one_of(st.sampled_from(list(StatusType)), st.just("on_hold")))
_requesters = st.builds(Requester, st.none() | _text, st.none() | _text)
_messages = st.builds(
    Message, _ids, st.one_of(st.sampled_from(list(AuthorKind)), st.just("bot")), _text, _moments
)
_tickets = st.builds(
    Ticket,
    _ids,
    st.integers(1, 10**12),
    _text,
    _priorities,
    _statuses,
    _requesters,
    st.none() | st.builds(DepartmentRef, _ids, _text),
    st.none() | st.builds(TicketTypeRef, _ids, _text),
    _moments,
    _moments,
    st.lists(_messages, max_size=3).map(tuple),
)
_summaries = st.builds(
    TicketSummary,
    _ids,
    st.integers(1, 10**12),
    _text,
    _priorities,
    _statuses,
    _requesters,
    _moments,
    _moments,
)


@settings(max_examples=30)
@given(_tickets)
def test_any_ticket_round_trips_through_the_api_json(ticket: Ticket) -> None:
    text = json.dumps(to_api_json(ticket))
    assert decode_ticket({"ticket": json.loads(text)}) == ticket


@settings(max_examples=30)
@given(st.lists(_summaries, max_size=3).map(tuple), st.none() | _ids)
def test_a_page_round_trips(tickets: tuple[TicketSummary, ...], cursor: str | None) -> None:
    page = TicketPage(tickets, cursor)
    assert decode_page(json.loads(json.dumps(to_api_json(page)))) == page


def test_the_api_json_uses_the_api_names_and_timestamps() -> None:
    created = CreatedTicket("1", 1247, "Login", Priority.HIGH, Requester("a@example.com"))
    assert to_api_json(created) == {
        "id": "1",
        "number": 1247,
        "subject": "Login",
        "priority": "high",
        "requester": {"email": "a@example.com", "name": None},
    }
    assert type(to_api_json(created)["priority"]) is str  # a plain str, not the enum member
    assert decode_created({"ticket": to_api_json(created)}) == created
    departments = [Department("1", "Support", is_default=True, is_public_to_users=False)]
    assert to_api_json(departments) == [
        {"id": "1", "name": "Support", "isDefault": True, "isPublicToUsers": False}
    ]
    assert decode_departments({"departments": to_api_json(tuple(departments))}) == departments
    moment = datetime(2026, 6, 4, 15, 21, 9, 123456, tzinfo=UTC)
    message = Message("9", AuthorKind.AGENT, "hi", moment.astimezone(UTC) + timedelta(0))
    assert to_api_json(message)["createdAt"] == "2026-06-04T15:21:09.123Z"


@pytest.mark.parametrize("value", [{"id": "1"}, object(), "text", [1, 2], None, datetime.now(UTC)])
def test_to_api_json_refuses_what_is_not_a_model(value: object) -> None:
    with pytest.raises(InvalidArgumentType):
        to_api_json(value)


# ----------------------------------------------------------------------------- the logger


def test_an_app_without_logging_config_sees_nothing_on_stderr() -> None:
    # One interpreter, no logging configured: the first record must stay
    # silent; the second, sent after the NullHandler is removed, reaches stderr
    # through Python's last-resort handler (so this test can fail for its reason).
    code = (
        "import logging, headoni_async; log = logging.getLogger('headoni_async'); "
        "log.warning('with the library as shipped'); log.handlers.clear(); log.warning('without the handler')"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter, a fixed script
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert done.stderr == "without the handler\n"


def test_the_library_adds_only_a_null_handler() -> None:
    import logging

    handlers = logging.getLogger("headoni_async").handlers
    assert [type(h) for h in handlers] == [logging.NullHandler]


# ----------------------------------------------------------------------------- from_env


async def test_from_env_builds_a_working_desk(fake: FakeDesk) -> None:
    env = {
        "HEADONI_DESK": "acme",
        "HEADONI_TOKEN": fake.mint_token() + "\n",  # a trailing newline from a .env file is forgiven
        "HEADONI_BASE_URL": fake.base_url,
        "HEADONI_SCOPES": "tickets:read, tickets:create",
        "UNRELATED": "x",
    }
    async with AsyncDesk.from_env(env, max_connections=4) as desk:
        assert desk.scopes == {"tickets:read", "tickets:create"}
        assert desk.base_url == fake.base_url
        assert await desk.departments()
    assert fake.count("departments") == 1


def test_from_env_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADONI_DESK", "acme")
    monkeypatch.setenv("HEADONI_TOKEN", CANARY)
    monkeypatch.delenv("HEADONI_BASE_URL", raising=False)
    monkeypatch.setenv("HEADONI_SCOPES", " ")
    desk = AsyncDesk.from_env()
    assert desk.base_url == "https://acme.headoni.app/api/v1"
    assert desk.scopes is None  # empty counts as unset: nothing checked locally
    assert CANARY not in repr(desk)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "HEADONI_DESK and HEADONI_TOKEN are not set"),
        ({"HEADONI_TOKEN": CANARY}, "HEADONI_DESK is not set"),
        ({"HEADONI_DESK": "acme"}, "HEADONI_TOKEN is not set"),
        ({"HEADONI_DESK": "acme", "HEADONI_TOKEN": "   "}, "HEADONI_TOKEN is not set"),
        ({"HEADONI_DESK": "support.acme.com", "HEADONI_TOKEN": CANARY}, "HEADONI_DESK: "),
        ({"HEADONI_DESK": "acme", "HEADONI_TOKEN": CANARY + " x"}, "HEADONI_TOKEN: "),
        ({"HEADONI_DESK": "acme", "HEADONI_TOKEN": f'"{CANARY}"'}, "HEADONI_TOKEN: "),
        (
            {
                "HEADONI_DESK": "acme",
                "HEADONI_TOKEN": CANARY,
                "HEADONI_BASE_URL": "http://example.com/api/v1",
            },
            "HEADONI_BASE_URL: ",
        ),
        (
            {
                "HEADONI_DESK": "acme",
                "HEADONI_TOKEN": CANARY,
                "HEADONI_SCOPES": "tickets:read,tickets:delete",
            },
            "HEADONI_SCOPES: ",
        ),
    ],
)
def test_from_env_names_the_variable_and_never_the_token(env: dict[str, str], named: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        AsyncDesk.from_env(env)
    assert named in str(info.value)
    assert CANARY not in str(info.value) and CANARY not in repr(info.value)


def test_from_env_refuses_options_it_reads_itself() -> None:
    env = {"HEADONI_DESK": "acme", "HEADONI_TOKEN": CANARY}
    with pytest.raises(InvalidArgumentType, match="token"):
        AsyncDesk.from_env(env, token="hd_other")


# ----------------------------------------------------------------------------- naming the ticket


async def test_ticket_not_found_names_the_ticket_asked_for(desk: AsyncDesk) -> None:
    for asked in (999999, "1490375649312800768"):
        with pytest.raises(TicketNotFound) as info:
            await desk.get_ticket(asked)
        assert info.value.id_or_number == str(asked)
        assert f"ticket {asked}" in str(info.value)
        again = pickle.loads(pickle.dumps(info.value))
        assert again.id_or_number == str(asked) and str(again) == str(info.value)


async def test_get_tickets_failure_names_its_ticket(desk: AsyncDesk, fake: FakeDesk) -> None:
    numbers = [t.number for t in fake.store.iter_tickets()][:5]
    with pytest.raises(TicketNotFound, match="ticket 424242"):
        [t.number async for t in desk.get_tickets([numbers[0], 424242, numbers[1]])]
    fake.inject(Fault.error(503, "unavailable"), route="get_ticket")
    with pytest.raises(ServerError) as info:
        [t async for t in desk.get_tickets(numbers[2:4])]
    assert f"while fetching ticket {numbers[2]}" in "".join(traceback.format_exception(info.value))


async def test_get_tickets_can_skip_missing_tickets(desk: AsyncDesk, fake: FakeDesk) -> None:
    numbers = [t.number for t in fake.store.iter_tickets()][:4]
    asked = [numbers[0], 424242, numbers[1], 424243, numbers[2], numbers[3]]
    got = [t.number async for t in desk.get_tickets(asked, concurrency=2, missing="skip")]
    assert got == numbers
    assert fake.count("get_ticket") == len(asked)  # each asked once, none retried


async def test_skipping_missing_never_hides_another_failure(desk: AsyncDesk, fake: FakeDesk) -> None:
    numbers = [t.number for t in fake.store.iter_tickets()][:3]
    fake.inject(Fault.error(404, "not_found"), route="get_ticket", on=2)  # a 404 that is not ticket_not_found
    with pytest.raises(NotFound) as info:
        [t async for t in desk.get_tickets(numbers, concurrency=1, missing="skip")]
    assert not isinstance(info.value, TicketNotFound)


async def test_get_tickets_refuses_an_unknown_missing_mode(desk: AsyncDesk) -> None:
    with pytest.raises(InvalidArgument, match="missing"):
        [t async for t in desk.get_tickets([1], missing="ignore")]  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- one desk, one loop


def test_a_desk_used_from_a_second_event_loop_says_so_and_leaks_nothing(
    headoni_fake_desk: FakeDesk, headoni_token: str
) -> None:
    number = next(headoni_fake_desk.store.iter_tickets()).number
    desk = AsyncDesk("acme", headoni_token, base_url=headoni_fake_desk.base_url)

    async def lookup(desk: AsyncDesk) -> int:
        return (await desk.get_ticket(number)).number

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert asyncio.run(lookup(desk)) == number
        # The first loop's end closed the desk's kept-alive connection, on that loop.
        wait_until_sync(lambda: headoni_fake_desk.open_connections == 0)
        with pytest.raises(WrongEventLoop, match="has ended"):
            asyncio.run(lookup(desk))
        assert headoni_fake_desk.count("get_ticket") == 1
        del desk
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


async def test_a_desk_used_from_another_running_loop_says_so(desk: AsyncDesk, fake: FakeDesk) -> None:
    number = next(fake.store.iter_tickets()).number
    assert (await desk.get_ticket(number)).number == number

    def elsewhere() -> BaseException | None:
        try:
            asyncio.run(desk.get_ticket(number))
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            return exc
        return None

    failure = await asyncio.to_thread(elsewhere)
    assert isinstance(failure, WrongEventLoop) and "still running" in str(failure)
    assert (await desk.get_ticket(number)).number == number  # its own loop still works
    assert fake.count("get_ticket") == 2


async def test_a_cached_lookup_from_another_running_loop_says_so_too(caching_desk: AsyncDesk) -> None:
    # A cache hit sends nothing, but the desk (its cache's lock included)
    # still belongs to its first loop: the same typed error as any call.
    assert await caching_desk.departments()

    def elsewhere() -> BaseException | None:
        try:
            asyncio.run(caching_desk.departments())
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            return exc
        return None

    failure = await asyncio.to_thread(elsewhere)
    assert isinstance(failure, WrongEventLoop)


def test_closing_the_desk_in_its_loop_then_ending_the_loop_is_quiet(
    headoni_fake_desk: FakeDesk, headoni_token: str
) -> None:
    async def use_and_close() -> None:
        async with AsyncDesk("acme", headoni_token, base_url=headoni_fake_desk.base_url) as desk:
            await desk.departments()
        assert desk.closed

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(use_and_close())
        gc.collect()
    assert [str(w.message) for w in caught] == []


# ----------------------------------------------------------------------------- the lookup cache


@pytest.fixture
async def caching_desk(fake: FakeDesk) -> AsyncIterator[AsyncDesk]:
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url, cache_ttl=0.3) as desk:
        yield desk


async def test_lookups_cost_no_request_within_the_cache_time(caching_desk: AsyncDesk, fake: FakeDesk) -> None:
    first = await caching_desk.departments()
    first.clear()  # the caller's list is its own
    assert await caching_desk.departments() == await caching_desk.departments() != []
    assert await caching_desk.ticket_types() == await caching_desk.ticket_types() != []
    assert (fake.count("departments"), fake.count("ticket_types")) == (1, 1)
    await asyncio.sleep(0.35)
    await caching_desk.departments()
    assert fake.count("departments") == 2
    caching_desk.clear_cache()
    await caching_desk.departments()
    assert fake.count("departments") == 3


async def test_concurrent_lookups_share_one_request(caching_desk: AsyncDesk, fake: FakeDesk) -> None:
    fake.inject(Fault.latency(0.05), route="departments")
    answers = await asyncio.gather(*(caching_desk.departments() for _ in range(20)))
    assert all(a == answers[0] for a in answers)
    assert fake.count("departments") == 1


async def test_a_failed_lookup_is_not_cached(caching_desk: AsyncDesk, fake: FakeDesk) -> None:
    fake.inject(Fault.error(503, "unavailable"), route="ticket_types", on=1)
    with pytest.raises(ServerError):
        await caching_desk.ticket_types()
    await caching_desk.ticket_types()
    await caching_desk.ticket_types()
    assert fake.count("ticket_types") == 2


async def test_without_a_cache_time_every_lookup_is_sent(desk: AsyncDesk, fake: FakeDesk) -> None:
    await desk.departments()
    await desk.departments()
    assert fake.count("departments") == 2


async def test_a_closed_desk_answers_nothing_from_its_cache(caching_desk: AsyncDesk) -> None:
    await caching_desk.departments()
    await caching_desk.close()
    with pytest.raises(DeskClosed):
        await caching_desk.departments()


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (-1, InvalidArgument),
        (float("nan"), InvalidArgument),
        (float("inf"), InvalidArgument),
        ("60", InvalidArgumentType),
        (True, InvalidArgumentType),
    ],
)
def test_cache_ttl_is_checked(value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="cache_ttl"):
        AsyncDesk("acme", CANARY, cache_ttl=value)  # type: ignore[arg-type]
