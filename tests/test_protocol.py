"""Pure protocol logic: argument checks, URLs, headers, queries, bodies, and
the response step (status, headers, body -> JSON or exception). No I/O."""

from __future__ import annotations

import pytest

from headoni_async import (
    BadRequest,
    HeadoniError,
    InsufficientScope,
    InvalidArgument,
    InvalidArgumentType,
    InvalidBody,
    InvalidId,
    InvalidStatus,
    NotFound,
    Priority,
    RateLimited,
    ResponseDecodeError,
    ServerError,
    StatusType,
    TicketNotFound,
    Unauthenticated,
    UnexpectedRedirect,
)
from headoni_async import _protocol as proto
from headoni_async._routes import ROUTES, SCOPES


@pytest.mark.parametrize(
    ("given", "slug"),
    [("acme", "acme"), ("ACME", "acme"), (" acme ", "acme"), ("acme.headoni.app", "acme"), ("a-1", "a-1")],
)
def test_desk_slug_accepted(given: str, slug: str) -> None:
    assert proto.check_desk_slug(given) == slug


@pytest.mark.parametrize(
    "given",
    ["support.acme.com", "https://acme.headoni.app", "acme/", "", "-acme", "ac me", "acme:443", "x" * 64],
)
def test_desk_slug_refused(given: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        proto.check_desk_slug(given)
    assert isinstance(info.value, ValueError)


def test_custom_domain_message_says_why() -> None:
    with pytest.raises(InvalidArgument, match="custom portal domain"):
        proto.check_desk_slug("support.acme.com")


def test_default_base_url() -> None:
    assert proto.desk_base_url("acme", None) == "https://acme.headoni.app/api/v1"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:8080/api/v1/", "http://127.0.0.1:8080/api/v1"),
        ("http://localhost:1/api/v1", "http://localhost:1/api/v1"),
        ("http://[::1]:9/api/v1", "http://[::1]:9/api/v1"),
        ("http://127.8.9.10/api/v1", "http://127.8.9.10/api/v1"),
        ("https://proxy.example.com/headoni/api/v1", "https://proxy.example.com/headoni/api/v1"),
    ],
)
def test_base_url_accepted(given: str, expected: str) -> None:
    assert proto.desk_base_url("acme", given) == expected


@pytest.mark.parametrize(
    "given",
    [
        "http://acme.headoni.app/api/v1",  # clear text off loopback
        "http://10.0.0.1/api/v1",
        "ftp://127.0.0.1/",
        "/api/v1",
        "https://user:pw@acme.headoni.app/api/v1",
        "https://acme.headoni.app/api/v1?x=1",
        "https://acme.headoni.app:99999/api/v1",
    ],
)
def test_base_url_refused(given: str) -> None:
    with pytest.raises(InvalidArgument):
        proto.desk_base_url("acme", given)


@pytest.mark.parametrize("token", ["hd_abc", "abc", "hd_" + "x" * 200, "hd_a-b_c.d~e"])
def test_token_accepted(token: str) -> None:
    assert proto.check_token(token) == token


@pytest.mark.parametrize(
    "token",
    ["", "hd_abc def", "hd_abc\n", "hd_abc\r\nX-Evil: 1", "hd_\x00abc", "hd_abc\t", "hd_\x7fabc", "hd_ábc"],
)
def test_token_refused_without_echo(token: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        proto.check_token(token)
    if token:
        assert token not in str(info.value) and token not in repr(info.value)


@pytest.mark.parametrize("token", ['"hd_abc123"', "'hd_abc123'", 'hd_abc123"', "hd_abc'123"])
def test_a_token_with_quotes_is_refused_saying_so(token: str) -> None:
    # `docker run --env-file` and some .env loaders keep the quotes of
    # HEADONI_TOKEN="hd_..." as part of the value; sent as is, every call is a 401.
    with pytest.raises(InvalidArgument, match="quote") as info:
        proto.check_token(token)
    assert "abc123" not in str(info.value) and "abc123" not in repr(info.value)


def test_token_type() -> None:
    with pytest.raises(InvalidArgumentType):
        proto.check_token(b"hd_abc")


def test_auth_headers() -> None:
    assert proto.auth_headers("hd_x") == {"Authorization": "Bearer hd_x", "Accept": "application/json"}


def test_scopes() -> None:
    assert proto.check_scopes(None) is None
    assert proto.check_scopes(["tickets:read"]) == frozenset({"tickets:read"})
    with pytest.raises(InvalidArgument, match="unknown scopes"):
        proto.check_scopes({"tickets:write"})
    with pytest.raises(InvalidArgumentType):
        proto.check_scopes("tickets:read")


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_require_scope_table(name: str) -> None:
    route = ROUTES[name]
    proto.require_scope(route, None)
    proto.require_scope(route, SCOPES)
    proto.require_scope(route, frozenset({route.scope}))
    other = frozenset(SCOPES - {route.scope})
    with pytest.raises(InsufficientScope) as info:
        proto.require_scope(route, other)
    assert info.value.status == 403
    assert info.value.code == "insufficient_scope"
    assert info.value.required_scope == route.scope


def test_route_table_matches_reference() -> None:
    table = {name: (r.method, r.template, r.scope, r.idempotent) for name, r in ROUTES.items()}
    assert table == {
        "create_ticket": ("POST", "/tickets", "tickets:create", False),
        "list_tickets": ("GET", "/tickets", "tickets:read", True),
        "get_ticket": ("GET", "/tickets/{id_or_number}", "tickets:read", True),
        "departments": ("GET", "/departments", "tickets:read", True),
        "ticket_types": ("GET", "/ticket-types", "tickets:read", True),
    }


@pytest.mark.parametrize(
    ("given", "sent"), [(1247, "1247"), ("1490375649312800768", "1490375649312800768"), (0, "0")]
)
def test_id_or_number(given: int | str, sent: str) -> None:
    assert proto.id_or_number(given) == sent


@pytest.mark.parametrize("given", ["12a", "", "-1", -1, " 12", "１２", "1.0", "12\n"])  # noqa: RUF001 - full-width digits on purpose
def test_id_or_number_invalid(given: int | str) -> None:
    with pytest.raises(InvalidId) as info:
        proto.id_or_number(given)
    assert isinstance(info.value, ValueError) and isinstance(info.value, HeadoniError)


@pytest.mark.parametrize("given", [True, False, 12.0, None, b"12", [1]])
def test_id_or_number_type(given: object) -> None:
    with pytest.raises(InvalidArgumentType) as info:
        proto.id_or_number(given)
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        (StatusType.OPEN, "open"),
        ("awaiting_reply", "awaiting_reply"),
        (7, "7"),
        ("1490300000000000001", "1490300000000000001"),
    ],
)
def test_status_filter(given: object, sent: str) -> None:
    assert proto.status_filter(given) == sent


@pytest.mark.parametrize("given", ["Open", "pending", "", "1a", -3])
def test_status_filter_invalid(given: object) -> None:
    with pytest.raises(InvalidStatus):
        proto.status_filter(given)


def test_status_filter_type() -> None:
    with pytest.raises(InvalidArgumentType):
        proto.status_filter(True)


@pytest.mark.parametrize("size", [0, 101, -1])
def test_page_size_range(size: int) -> None:
    with pytest.raises(InvalidArgument):
        proto.check_page_size(size)


def test_page_size_type() -> None:
    with pytest.raises(InvalidArgumentType):
        proto.check_page_size(True)
    assert proto.check_page_size(1) == 1 and proto.check_page_size(100) == 100


def test_cursor() -> None:
    assert proto.check_cursor(None) is None
    assert proto.check_cursor(123) == "123"
    with pytest.raises(InvalidArgument):
        proto.check_cursor("12x")
    with pytest.raises(InvalidArgumentType):
        proto.check_cursor(1.5)


def test_list_query_uses_api_names() -> None:
    assert proto.list_query(limit=100, cursor=None, status=None, requester_email=None) == {"limit": "100"}
    assert proto.list_query(limit=5, cursor="9", status="open", requester_email="A@B.co") == {
        "limit": "5",
        "cursor": "9",
        "status": "open",
        "requesterEmail": "A@B.co",
    }


def test_create_body() -> None:
    assert proto.create_body(email="a@b.co", subject="s", body="b") == {
        "email": "a@b.co",
        "subject": "s",
        "body": "b",
    }
    full = proto.create_body(
        email="a@b.co",
        subject="s",
        body="b",
        name="A",
        priority=Priority.HIGH,
        department_id="1",
        ticket_type_id=2,
    )
    assert full == {
        "email": "a@b.co",
        "subject": "s",
        "body": "b",
        "name": "A",
        "priority": "high",
        "departmentId": "1",
        "ticketTypeId": "2",
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {"email": None, "subject": "s", "body": "b"},
        {"email": "a@b.co", "subject": 1, "body": "b"},
        {"email": "a@b.co", "subject": "s", "body": "b", "name": 5},
        {"email": "a@b.co", "subject": "s", "body": "b", "department_id": True},
    ],
)
def test_create_body_types(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidArgumentType):
        proto.create_body(**kwargs)  # type: ignore[arg-type]


def test_create_body_ids_are_digits() -> None:
    with pytest.raises(InvalidArgument):
        proto.create_body(email="a@b.co", subject="s", body="b", ticket_type_id="abc")


# ---------------------------------------------------------------- the response step, without a socket

GET = ROUTES["get_ticket"]
CREATE = ROUTES["create_ticket"]
JSON_ERR = b'{"error": "%s", "detail": "d"}'


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        (200, {}, b'{"ticket": {"id": "1"}}', {"ticket": {"id": "1"}}),
        (201, {}, b'{"ticket": {"id": "2"}}', {"ticket": {"id": "2"}}),
        (200, {}, b"[]", []),
        (200, {}, b"null", None),
        (400, {}, JSON_ERR % b"invalid_id", InvalidId),
        (400, {}, JSON_ERR % b"something_new", BadRequest),
        (401, {}, JSON_ERR % b"unauthenticated", Unauthenticated),
        (403, {}, JSON_ERR % b"insufficient_scope", InsufficientScope),
        (404, {}, JSON_ERR % b"ticket_not_found", TicketNotFound),
        (404, {}, b"<html>not found</html>", NotFound),
        (429, {"Retry-After": "3"}, JSON_ERR % b"rate_limited", RateLimited),
        (503, {"Retry-After": "2"}, b"", ServerError),
        (500, {}, b"\xff\xfe not json", ServerError),
        (302, {"Location": "https://elsewhere.example/"}, b"", UnexpectedRedirect),
        (200, {}, b"<html>a proxy page</html>", ResponseDecodeError),
        (200, {}, b"", ResponseDecodeError),
        (204, {}, b"", ResponseDecodeError),
    ],
)
def test_decipher_response_table(status: int, headers: dict[str, str], body: bytes, expected: object) -> None:
    if isinstance(expected, type) and issubclass(expected, Exception):
        with pytest.raises(expected) as info:
            proto.decipher_response(GET, status, headers, body)
        exc = info.value
        assert type(exc) is expected  # the exact class for the code, not only a base
        assert (exc.method, exc.path) == ("GET", "/tickets/{id_or_number}")  # type: ignore[attr-defined]
        if isinstance(exc, RateLimited | ServerError) and headers:
            assert exc.retry_after == float(headers["Retry-After"])
        if isinstance(exc, UnexpectedRedirect):
            assert exc.location == headers["Location"]
    else:
        assert proto.decipher_response(GET, status, headers, body) == expected


def test_decipher_response_names_the_route_template_not_the_url() -> None:
    with pytest.raises(ResponseDecodeError, match=r"^POST /tickets: the 201 response body is not JSON$"):
        proto.decipher_response(CREATE, 201, {}, b"{")


def test_error_body_fields_reach_the_exception() -> None:
    body = b'{"error": "invalid_body", "detail": "bad", "issues": [{"path": ["email"]}]}'
    with pytest.raises(InvalidBody) as info:
        proto.decipher_response(CREATE, 400, {}, body)
    assert (info.value.code, info.value.detail, info.value.issues) == (
        "invalid_body",
        "bad",
        ({"path": ["email"]},),
    )


@pytest.mark.parametrize("segment", ["1247", "0", "9" * 40])
def test_routes_format_their_own_paths(segment: str) -> None:
    assert GET.format(id_or_number=segment) == f"/tickets/{segment}"
    assert GET.template == "/tickets/{id_or_number}"  # the name errors carry stays the template
    assert ROUTES["list_tickets"].format() == "/tickets"
    with pytest.raises(KeyError):
        GET.format()


@pytest.mark.parametrize(
    ("tail", "guess"),
    [
        (b'"nextCursor":"1490375649312980672"}', "1490375649312980672"),
        (b'"nextCursor" : "42" }\n', "42"),  # whitespace as JSON allows
        (b'"nextCursor":null}', None),  # the last page
        (b'"nextCursor":"42","extra":1}', None),  # another key order: no guess
        (b'"nextCursor":"4x2"}', None),  # not an id
        (b'"nextCursor":"-42"}', None),
        (b'"nextCursor":""}', None),
        (b'"nextCursor":"' + b"9" * 41 + b'"}', None),  # longer than any id
        (b'"nextCursor":"42"}}', None),  # inside a nested object
        (b'"x":"\\"nextCursor\\":\\"42\\"}"}', None),  # inside a string
        (b'"nextCursor":"\\u0034\\u0032"}', None),  # escapes: only the decoder reads those
        (b'"nextCursor":"42"', None),  # cut short
        (b"", None),
    ],
)
def test_peek_next_cursor_guesses_only_from_the_plain_tail_the_api_writes(
    tail: bytes, guess: str | None
) -> None:
    assert proto.peek_next_cursor(b'{"tickets":[{"id":"43"}],' + tail) == guess


def test_peek_next_cursor_reads_only_the_end_of_a_large_body() -> None:
    body = b'{"tickets":[' + b'{"id":"1"},' * 10_000 + b'{"id":"1"}],"nextCursor":"1"}'
    assert proto.peek_next_cursor(body) == "1"
    assert proto.peek_next_cursor(b'{"nextCursor":"5",' + b" " * 200 + b'"tickets":[]}') is None
