"""The fake desk against the reference, with a bare aiohttp client (not ours):
request -> expected status and error code."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from headoni_async.testing import DeskStore, FakeDesk, Fault

from .documents import SUMMARY


@pytest.fixture
async def http(fake: FakeDesk) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


Case = tuple[str, str, dict[str, str] | None, Any, str, int, str | None]
READ = "tickets:read"
CREATE = "tickets:create"
BOTH = f"{READ},{CREATE}"

CASES: list[Case] = [
    # method, path, query, json body, token scopes ("none": no header, "bad": unknown), status, code
    ("GET", "/tickets", None, None, "none", 401, "unauthenticated"),
    ("GET", "/tickets", None, None, "bad", 401, "unauthenticated"),
    ("GET", "/tickets", None, None, "foreign", 403, "token_desk_mismatch"),
    ("GET", "/tickets", None, None, CREATE, 403, "insufficient_scope"),
    ("GET", "/departments", None, None, CREATE, 403, "insufficient_scope"),
    ("GET", "/ticket-types", None, None, CREATE, 403, "insufficient_scope"),
    ("GET", "/tickets/1001", None, None, CREATE, 403, "insufficient_scope"),
    ("POST", "/tickets", None, {"email": "a@b.co", "subject": "s", "body": "b"}, READ, 403, "insufficient_scope"),
    ("GET", "/tickets", {"limit": "0"}, None, READ, 400, "invalid_query"),
    ("GET", "/tickets", {"limit": "101"}, None, READ, 400, "invalid_query"),
    ("GET", "/tickets", {"limit": "ten"}, None, READ, 400, "invalid_query"),
    ("GET", "/tickets", {"cursor": "12x"}, None, READ, 400, "invalid_query"),
    ("GET", "/tickets", {"status": "Opened"}, None, READ, 400, "invalid_status"),
    ("GET", "/tickets", {"status": "open"}, None, READ, 200, None),
    ("GET", "/tickets", {"status": "1490300000000000001"}, None, READ, 200, None),
    ("GET", "/tickets", {"limit": "100"}, None, READ, 200, None),
    ("GET", "/tickets/12a", None, None, READ, 400, "invalid_id"),
    ("GET", "/tickets/999999", None, None, READ, 404, "ticket_not_found"),
    ("GET", "/tickets/1001", None, None, READ, 200, None),
    ("GET", "/departments", None, None, READ, 200, None),
    ("GET", "/ticket-types", None, None, READ, 200, None),
    ("POST", "/tickets", None, {"email": "a@b.co", "subject": "s", "body": "b"}, CREATE, 201, None),
    ("POST", "/tickets", None, {"subject": "s", "body": "b"}, CREATE, 400, "invalid_body"),
    ("POST", "/tickets", None, {"email": "nope", "subject": "s", "body": "b"}, CREATE, 400, "invalid_body"),
    ("POST", "/tickets", None, {"email": "a@b.co", "subject": "", "body": "b"}, CREATE, 400, "invalid_body"),
    ("POST", "/tickets", None, {"email": "a@b.co", "subject": "x" * 501, "body": "b"}, CREATE, 400, "invalid_body"),
    ("POST", "/tickets", None, {"email": "a@b.co", "subject": "s", "body": "b" * 50_001}, CREATE, 400, "invalid_body"),
    ("POST", "/tickets", None, {"email": "a@b.co", "subject": "s", "body": "b", "name": "n" * 121}, CREATE, 400, "invalid_body"),
    ("POST", "/tickets", None, {"email": "a" * 251 + "@b.co", "subject": "s", "body": "b"}, CREATE, 400, "invalid_body"),
    ("POST", "/tickets", None, {"email": "a@b.co", "subject": "s", "body": "b", "priority": "asap"}, CREATE, 400, "invalid_body"),
    ("POST", "/tickets", None, {"email": "a@b.co", "subject": 5, "body": "b"}, CREATE, 400, "invalid_body"),
    ("POST", "/tickets", None, ["not", "an", "object"], CREATE, 400, "invalid_body"),
    ("POST", "/tickets", None, {"email": "a@b.co", "subject": "s", "body": "b", "departmentId": "1490200000000000004"}, CREATE, 400, "department_not_found"),
    ("POST", "/tickets", None, {"email": "a@b.co", "subject": "s", "body": "b", "departmentId": "42"}, CREATE, 400, "department_not_found"),
    ("POST", "/tickets", None, {"email": "a@b.co", "subject": "s", "body": "b", "ticketTypeId": "1490100000000000004"}, CREATE, 400, "ticket_type_not_found"),
    ("POST", "/tickets", None, {"email": "a@b.co", "subject": "s", "body": "b", "departmentId": "1490200000000000003"}, CREATE, 201, None),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "query", "body", "scopes", "status", "code"), CASES)
async def test_reference_table(
    fake: FakeDesk,
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    query: dict[str, str] | None,
    body: Any,
    scopes: str,
    status: int,
    code: str | None,
) -> None:
    headers = {}
    if scopes == "bad":
        headers["Authorization"] = "Bearer hd_unknown"
    elif scopes == "foreign":
        headers["Authorization"] = "Bearer " + fake.mint_token(desk="globex")
    elif scopes != "none":
        headers["Authorization"] = "Bearer " + fake.mint_token(scopes.split(","))
    async with http.request(method, fake.base_url + path, params=query, json=body, headers=headers) as resp:
        data = await resp.json()
    assert resp.status == status, data
    if code is None:
        assert "error" not in data
    else:
        assert data["error"] == code
        if code in ("invalid_body", "invalid_query"):
            assert data["issues"] and all({"path", "code", "message"} <= set(i) for i in data["issues"])
        if code == "insufficient_scope":
            assert data["detail"] in ('requires "tickets:read"', 'requires "tickets:create"')


async def test_hd_prefix_optional_and_revocation(fake: FakeDesk, http: aiohttp.ClientSession) -> None:
    token = fake.mint_token()
    for value in (token, token.removeprefix("hd_")):
        async with http.get(
            fake.base_url + "/departments", headers={"Authorization": f"Bearer {value}"}
        ) as r:
            assert r.status == 200
    fake.revoke(token)
    async with http.get(fake.base_url + "/departments", headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 401


async def test_number_is_tried_before_id(fake: FakeDesk, http: aiohttp.ClientSession) -> None:
    store = fake.store
    auth = {"Authorization": "Bearer " + fake.mint_token()}
    target = next(store.iter_tickets())
    async with http.get(f"{fake.base_url}/tickets/{target.id}", headers=auth) as r:
        assert (await r.json())["ticket"]["number"] == target.number
    async with http.get(f"{fake.base_url}/tickets/{target.number}", headers=auth) as r:
        assert (await r.json())["ticket"]["id"] == str(target.id)


async def test_keyset_walk_and_shapes(fake: FakeDesk, http: aiohttp.ClientSession) -> None:
    auth = {"Authorization": "Bearer " + fake.mint_token()}
    ids: list[str] = []
    cursor = None
    while True:
        params = {"limit": "33"} | ({"cursor": cursor} if cursor else {})
        async with http.get(fake.base_url + "/tickets", params=params, headers=auth) as r:
            data = await r.json()
        for t in data["tickets"]:
            assert set(t) == set(SUMMARY)
            assert isinstance(t["id"], str) and isinstance(t["number"], int)
            assert t["createdAt"].endswith("Z")
        ids += [t["id"] for t in data["tickets"]]
        cursor = data["nextCursor"]
        if cursor is None:
            break
        assert cursor == ids[-1]
    assert ids == sorted(ids, key=int, reverse=True) and len(ids) == len(set(ids)) == len(fake.store)
    async with http.get(fake.base_url + "/tickets", headers=auth) as r:
        assert len((await r.json())["tickets"]) == 25  # default limit


async def test_created_ticket_shape_and_defaults(fake: FakeDesk, http: aiohttp.ClientSession) -> None:
    auth = {"Authorization": "Bearer " + fake.mint_token()}
    body = {"email": "Zed@Example.com", "subject": "s", "body": "first words", "unknownField": 1}
    async with http.post(fake.base_url + "/tickets", json=body, headers=auth) as r:
        assert r.status == 201
        created = (await r.json())["ticket"]
    assert set(created) == {"id", "number", "subject", "priority", "requester"}
    assert created["requester"] == {"email": "zed@example.com"} and created["priority"] == "normal"
    async with http.get(f"{fake.base_url}/tickets/{created['id']}", headers=auth) as r:
        full = (await r.json())["ticket"]
    assert full["requester"] == {"email": "zed@example.com", "name": "zed"}
    assert [m["bodyMd"] for m in full["messages"]] == ["first words"]
    assert full["department"]["name"] == "Support" and full["ticketType"]["name"] == "Question"
    # The name is used only when the user is created.
    body2 = {"email": "zed@example.com", "subject": "again", "body": "x", "name": "Zed Other"}
    async with http.post(fake.base_url + "/tickets", json=body2, headers=auth) as r:
        again = (await r.json())["ticket"]
    async with http.get(f"{fake.base_url}/tickets/{again['number']}", headers=auth) as r:
        assert (await r.json())["ticket"]["requester"]["name"] == "zed"


async def test_internal_notes_never_leak(fake: FakeDesk, http: aiohttp.ClientSession) -> None:
    auth = {"Authorization": "Bearer " + fake.mint_token()}
    kinds = set()
    for ticket in list(fake.store.iter_tickets())[:60]:
        assert any(m.internal for m in fake.store.messages_of(ticket))
        async with http.get(f"{fake.base_url}/tickets/{ticket.number}", headers=auth) as r:
            text = await r.text()
        assert "INTERNAL NOTE" not in text
        kinds |= {m["authorKind"] for m in json.loads(text)["ticket"]["messages"]}
    assert kinds == {"agent", "end_user", "system", "automation"}


async def test_request_log_never_holds_the_token(fake: FakeDesk, http: aiohttp.ClientSession) -> None:
    token = fake.mint_token()
    async with http.get(fake.base_url + "/tickets", headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 200
    async with http.get(fake.base_url + "/tickets") as r:
        assert r.status == 401
    assert [(e.route, e.authorized, e.status) for e in fake.requests] == [
        ("list_tickets", True, 200),
        ("list_tickets", False, 401),
    ]
    assert token not in repr(fake.requests) and token.removeprefix("hd_") not in repr(fake.requests)


async def test_faults_are_scripted_per_route_and_number(fake: FakeDesk, http: aiohttp.ClientSession) -> None:
    auth = {"Authorization": "Bearer " + fake.mint_token()}
    fake.inject(Fault.html_error(503, retry_after="5"), route="departments", on=2)
    statuses = []
    for _ in range(3):
        async with http.get(fake.base_url + "/departments", headers=auth) as r:
            statuses.append((r.status, r.headers.get("Retry-After"), r.content_type))
    assert statuses == [
        (200, None, "application/json"),
        (503, "5", "text/html"),
        (200, None, "application/json"),
    ]


def test_seeding_is_deterministic_and_varied() -> None:
    a, b = DeskStore(tickets=500, seed=9), DeskStore(tickets=500, seed=9)
    assert a.all_ids_desc() == b.all_ids_desc()
    tickets = list(a.iter_tickets())
    assert {t.priority for t in tickets} == {"low", "normal", "high", "urgent"}
    assert {t.status.internal_type for t in tickets} == {"open", "awaiting_reply", "resolved", "closed"}
    assert len({t.department.id for t in tickets}) == 3 and len({t.ticket_type.id for t in tickets}) == 3
    assert any(t.name is None for t in tickets) and len({t.email for t in tickets}) > 50
    assert DeskStore(tickets=500, seed=10).all_ids_desc() != a.all_ids_desc()


def test_a_big_desk_stays_small_per_ticket() -> None:
    # The fake desk must hold 100k tickets (the benchmarks' stream) in MB, not
    # GB. Counted, not timed: the bytes Python allocates for 2,000 seeded
    # tickets, everything included (messages, indexes, the id lists).
    tracemalloc.start()
    try:
        store = DeskStore(tickets=2_000, seed=1)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(store) == 2_000
    assert held / 2_000 < 2_048  # about 640 bytes a ticket today; 100k tickets < 200 MB
