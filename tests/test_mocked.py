"""Table-driven tests with aioresponses: every documented error through the
whole request path, without a server (see conftest.aioresponses_compat)."""

from __future__ import annotations

import re

import pytest
from aioresponses import aioresponses

from headoni_async import (
    APIError,
    AsyncDesk,
    BadRequest,
    ClientError,
    DepartmentNotFound,
    Forbidden,
    InsufficientScope,
    InvalidBody,
    InvalidId,
    InvalidQuery,
    InvalidStatus,
    NotFound,
    RateLimited,
    ServerError,
    TicketNotFound,
    TicketTypeNotFound,
    TokenDeskMismatch,
    Unauthenticated,
)

from .conftest import FAST_RETRY

BASE = "https://acme.headoni.app/api/v1"

TABLE = [
    (400, {"error": "invalid_body", "issues": [{"path": ["email"]}]}, InvalidBody),
    (400, {"error": "invalid_query", "issues": []}, InvalidQuery),
    (400, {"error": "invalid_id"}, InvalidId),
    (400, {"error": "invalid_status"}, InvalidStatus),
    (400, {"error": "department_not_found"}, DepartmentNotFound),
    (400, {"error": "ticket_type_not_found"}, TicketTypeNotFound),
    (400, {"error": "something_new"}, BadRequest),
    (401, {"error": "unauthenticated"}, Unauthenticated),
    (403, {"error": "insufficient_scope", "detail": 'requires "tickets:read"'}, InsufficientScope),
    (403, {"error": "token_desk_mismatch"}, TokenDeskMismatch),
    (403, {"error": "desk_blocklisted"}, Forbidden),
    (404, {"error": "ticket_not_found"}, TicketNotFound),
    (404, {"error": "route_not_found"}, NotFound),
    (409, {"error": "conflict"}, ClientError),
    (429, {"error": "rate_limited"}, RateLimited),
    (500, {"error": "internal"}, ServerError),
    (503, None, ServerError),
]


@pytest.mark.parametrize(("status", "body", "cls"), TABLE)
async def test_status_table_through_the_desk(
    mocked: aioresponses, status: int, body: object, cls: type[APIError]
) -> None:
    pattern = re.compile(r"^https://acme\.headoni\.app/api/v1/departments.*$")
    if body is None:
        mocked.get(pattern, status=status, body="<html>oops</html>", content_type="text/html", repeat=True)
    else:
        mocked.get(pattern, status=status, payload=body, repeat=True)
    async with AsyncDesk("acme", "hd_x", retry=FAST_RETRY) as desk:
        with pytest.raises(cls) as info:
            await desk.departments()
    assert type(info.value) is cls and info.value.status == status
    if isinstance(body, dict):
        assert info.value.code == body["error"]
    sent = [call for calls in mocked.requests.values() for call in calls]
    assert len(sent) == 1  # none of these is retried by default


async def test_headers_and_url(mocked: aioresponses) -> None:
    mocked.get(f"{BASE}/tickets/1247", payload={"ticket": None})
    async with AsyncDesk("acme", "hd_secret", retry=FAST_RETRY) as desk:
        with pytest.raises(Exception):  # noqa: B017, PT011 - the body is deliberately wrong; only the request matters
            await desk.get_ticket(1247)
    (((method, url), calls),) = mocked.requests.items()
    assert (method, str(url)) == ("GET", f"{BASE}/tickets/1247")
    headers = calls[0].kwargs["headers"]
    assert headers["Authorization"] == "Bearer hd_secret"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith("headoni-async/")
    assert calls[0].kwargs["allow_redirects"] is False


async def test_create_sends_json_in_api_names(mocked: aioresponses) -> None:
    mocked.post(
        f"{BASE}/tickets",
        status=201,
        payload={
            "ticket": {
                "id": "5",
                "number": 1,
                "subject": "s",
                "priority": "low",
                "requester": {"email": "a@b.co"},
            }
        },
    )
    async with AsyncDesk("acme", "hd_x") as desk:
        created = await desk.create_ticket(
            email="a@b.co", subject="s", body="b", priority="low", department_id="7"
        )
    assert created.id == "5"
    call = next(iter(mocked.requests.values()))[0]
    assert call.kwargs["headers"]["Content-Type"] == "application/json"
    assert (
        call.kwargs["data"]
        == b'{"email": "a@b.co", "subject": "s", "body": "b", "priority": "low", "departmentId": "7"}'
    )
