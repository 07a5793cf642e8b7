"""The status/code -> exception map and Retry-After parsing: pure, no I/O."""

from __future__ import annotations

import math
import pickle
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headoni_async import (
    APIError,
    BadRequest,
    ClientError,
    DepartmentNotFound,
    Forbidden,
    HeadoniError,
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
    UnexpectedRedirect,
)
from headoni_async._errors import error_from_response, parse_retry_after

DOCUMENTED = [
    (400, "invalid_body", InvalidBody, BadRequest),
    (400, "invalid_query", InvalidQuery, BadRequest),
    (400, "invalid_id", InvalidId, BadRequest),
    (400, "invalid_status", InvalidStatus, BadRequest),
    (400, "department_not_found", DepartmentNotFound, BadRequest),
    (400, "ticket_type_not_found", TicketTypeNotFound, BadRequest),
    (401, "unauthenticated", Unauthenticated, APIError),
    (403, "insufficient_scope", InsufficientScope, Forbidden),
    (403, "token_desk_mismatch", TokenDeskMismatch, Forbidden),
    (404, "ticket_not_found", TicketNotFound, NotFound),
]


@pytest.mark.parametrize(("status", "code", "cls", "family"), DOCUMENTED)
def test_documented_codes(status: int, code: str, cls: type[APIError], family: type[APIError]) -> None:
    issues = [{"path": ["subject"], "code": "too_small", "message": "m"}]
    exc = error_from_response(
        status, {"error": code, "detail": "d", "issues": issues}, method="GET", path="/x"
    )
    assert type(exc) is cls
    assert isinstance(exc, family) and isinstance(exc, HeadoniError)
    assert (exc.status, exc.code, exc.detail, exc.issues) == (status, code, "d", tuple(issues))
    assert str(exc).startswith(f"GET /x: {status} {code}: d")


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequest),
        (401, Unauthenticated),
        (403, Forbidden),
        (404, NotFound),
        (409, ClientError),
        (418, ClientError),
        (429, RateLimited),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (301, UnexpectedRedirect),
        (308, UnexpectedRedirect),
    ],
)
def test_undocumented_code_falls_back_to_status_class(status: int, cls: type[APIError]) -> None:
    exc = error_from_response(status, {"error": "desk_blocklisted"})
    assert type(exc) is cls
    assert exc.code == "desk_blocklisted"


def test_documented_code_with_wrong_status_keeps_status_family() -> None:
    exc = error_from_response(502, {"error": "ticket_not_found"})
    assert type(exc) is ServerError


@pytest.mark.parametrize(
    "body", [None, "<html>502</html>", [], 17, {"error": 5, "detail": [], "issues": "x"}]
)
def test_odd_bodies_still_typed(body: object) -> None:
    exc = error_from_response(502, body)
    assert type(exc) is ServerError
    assert exc.code is None and exc.detail is None and exc.issues == ()


def test_issues_kept_as_given_whatever_their_shape() -> None:
    odd = [1, "two", {"deep": {"x": None}}, None]
    assert error_from_response(400, {"error": "invalid_body", "issues": odd}).issues == tuple(odd)


def test_retry_after_on_429_and_5xx() -> None:
    assert error_from_response(429, {"error": "slow_down"}, headers={"Retry-After": "7"}).retry_after == 7.0  # type: ignore[attr-defined]
    assert error_from_response(503, None, headers={"Retry-After": "2"}).retry_after == 2.0  # type: ignore[attr-defined]
    assert error_from_response(503, None).retry_after is None  # type: ignore[attr-defined]


def test_redirect_keeps_location() -> None:
    exc = error_from_response(302, None, headers={"Location": "https://evil.example/"})
    assert isinstance(exc, UnexpectedRedirect) and exc.location == "https://evil.example/"


def test_scope_named_from_detail() -> None:
    exc = error_from_response(403, {"error": "insufficient_scope", "detail": 'requires "tickets:read"'})
    assert isinstance(exc, InsufficientScope) and exc.required_scope == "tickets:read"


def test_api_errors_pickle() -> None:
    exc = error_from_response(
        400, {"error": "invalid_body", "issues": [{"path": ["email"]}]}, method="POST", path="/tickets"
    )
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is InvalidBody and again.issues == exc.issues and str(again) == str(exc)


NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0.0),
        ("7", 7.0),
        (" 120 ", 120.0),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),  # past dates mean now
        (None, None),
        ("", None),
        ("-10", None),
        ("nan", None),
        ("inf", None),
        ("1e3", None),
        ("9" * 35, None),
        ("86401", None),
        ("Tue, 99 Foo 2026 25:61:00 GMT", None),
        ("Wed, 21 Oct 2015 07:28:00", None),  # no zone
        ("٣", None),  # a non-ASCII digit
        ("x" * 10_000, None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW.timestamp()) == seconds


@given(st.text(max_size=80))
def test_parse_retry_after_never_raises(value: str) -> None:
    result = parse_retry_after(value)
    assert result is None or (math.isfinite(result) and 0 <= result <= 86400)


@given(st.integers(min_value=300, max_value=599), st.one_of(st.none(), st.text(max_size=20)))
def test_any_status_and_retry_after_gives_a_typed_error(status: int, retry_after: str | None) -> None:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    exc = error_from_response(status, {"error": "x"}, headers=headers)
    assert isinstance(exc, APIError) and exc.status == status
