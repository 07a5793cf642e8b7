"""The fake desk under hostile input: it never answers 500, every error it
sends has the documented JSON shape, its memory stays flat however long it
runs, and it stays on loopback unless told otherwise. A bare aiohttp client
(not ours) and raw sockets talk to it."""

from __future__ import annotations

import asyncio
import gc
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import yarl

from headoni_async.testing import FakeDesk

LONG = "7" * 5000  # past Python's 4,300-digit int-conversion limit


@pytest.fixture
async def http(fake: FakeDesk) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _auth(fake: FakeDesk) -> dict[str, str]:
    return {"Authorization": "Bearer " + fake.mint_token()}


async def _call(
    http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, str, Any, aiohttp.typedefs.LooseHeaders]:
    async with http.request(method, url, **kwargs) as resp:
        raw = await resp.read()
        return resp.status, resp.content_type, json.loads(raw), resp.headers


def _is_error_shape(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and isinstance(body.get("error"), str)
        and set(body) <= {"error", "detail", "issues"}
        and isinstance(body.get("detail", ""), str)
    )


async def test_lone_surrogates_are_stored_and_served_as_valid_json(
    fake: FakeDesk, http: aiohttp.ClientSession
) -> None:
    auth = {**_auth(fake), "Content-Type": "application/json"}
    body = '{"email": "sur@example.com", "name": "N\\udc80", "subject": "S\\ud800x", "body": "b\\udfff"}'
    status, ctype, created, _ = await _call(http, "POST", fake.base_url + "/tickets", data=body, headers=auth)
    assert (status, ctype) == (201, "application/json")
    assert created["ticket"]["subject"] == "S\ud800x"
    for url in (f"{fake.base_url}/tickets/{created['ticket']['id']}", fake.base_url + "/tickets"):
        status, _, doc, _ = await _call(http, "GET", url, headers=auth)
        assert status == 200
        assert "S\ud800x" in json.dumps(doc, ensure_ascii=False)


@pytest.mark.parametrize(
    ("path", "query", "status", "code"),
    [
        ("/tickets", {"limit": LONG}, 400, "invalid_query"),
        ("/tickets", {"cursor": LONG}, 400, "invalid_query"),
        ("/tickets", {"cursor": "1" * 21}, 400, "invalid_query"),
        ("/tickets", {"status": LONG}, 200, None),
        ("/tickets/" + LONG, None, 404, "ticket_not_found"),
        ("/tickets/" + "0" * 5000 + "1001", None, 200, None),
    ],
)
async def test_huge_numbers_are_400_or_404(
    fake: FakeDesk,
    http: aiohttp.ClientSession,
    path: str,
    query: dict[str, str] | None,
    status: int,
    code: str | None,
) -> None:
    got, _, body, _ = await _call(http, "GET", fake.base_url + path, params=query, headers=_auth(fake))
    assert got == status, body
    assert body.get("error") == code


async def test_huge_numbers_in_a_create_are_invalid_body(fake: FakeDesk, http: aiohttp.ClientSession) -> None:
    auth = {**_auth(fake), "Content-Type": "application/json"}
    for raw in (
        '{"email": "a@b.co", "subject": ' + LONG + ', "body": "b"}',
        '{"email": "a@b.co", "subject": "s", "body": "b", "departmentId": "' + LONG + '"}',
        "[" * 100_000 + "]" * 100_000,
    ):
        status, _, body, _ = await _call(http, "POST", fake.base_url + "/tickets", data=raw, headers=auth)
        assert status == 400 and _is_error_shape(body), body


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=bogus",
        "application/json; charset=utf-32",
        "application/json; charset=utf-7",
    ],
)
async def test_a_bogus_charset_is_a_400(
    fake: FakeDesk, http: aiohttp.ClientSession, content_type: str
) -> None:
    headers = {**_auth(fake), "Content-Type": content_type}
    data = b'{"email": "a@b.co", "subject": "s", "body": "\xff"}'
    status, _, body, _ = await _call(http, "POST", fake.base_url + "/tickets", data=data, headers=headers)
    assert status == 400 and body["error"] == "invalid_body", body


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/nope", 404, "not_found"),
        ("GET", "/", 404, "not_found"),
        ("DELETE", "/tickets", 405, "method_not_allowed"),
        ("PUT", "/tickets/1001", 405, "method_not_allowed"),
        ("POST", "/departments", 405, "method_not_allowed"),
        ("GET", "/tickets/", 400, "invalid_id"),
        ("GET", "/tickets/10/01", 400, "invalid_id"),
    ],
)
async def test_unknown_routes_and_methods_get_the_json_error_shape(
    fake: FakeDesk, http: aiohttp.ClientSession, method: str, path: str, status: int, code: str
) -> None:
    got, ctype, body, headers = await _call(http, method, fake.base_url + path, headers=_auth(fake))
    assert (got, ctype, body["error"]) == (status, "application/json", code)
    assert _is_error_shape(body)
    if status == 405:
        assert "GET" in headers["Allow"] or "POST" in headers["Allow"]


async def test_a_body_over_the_limit_gets_the_json_error_shape(
    fake: FakeDesk, http: aiohttp.ClientSession
) -> None:
    headers = {**_auth(fake), "Content-Type": "application/json"}
    data = io.BytesIO(b'{"email": "a@b.co", "subject": "s", "body": "' + b"x" * (3 * 1024 * 1024) + b'"}')
    got, ctype, body, _ = await _call(http, "POST", fake.base_url + "/tickets", data=data, headers=headers)
    assert (got, ctype, body["error"]) == (413, "application/json", "body_too_large") and _is_error_shape(
        body
    )
    assert len(fake.store) == 250  # nothing was created


async def test_no_500_from_any_answer_the_log_saw(fake: FakeDesk, http: aiohttp.ClientSession) -> None:
    # Everything above, in one place, as the log records it.
    auth = _auth(fake)
    for path in ("/tickets/" + LONG, "/tickets?limit=" + LONG, "/tickets?cursor=" + LONG, "/x"):
        async with http.get(fake.base_url + path, headers=auth) as r:
            await r.read()
    assert all(r.status is not None and r.status < 500 for r in fake.requests)


# ---------------------------------------------------------------- bounded memory


async def test_the_request_log_is_a_bounded_ring() -> None:
    async with FakeDesk(tickets=5, log_size=10) as fake, aiohttp.ClientSession() as http:
        auth = _auth(fake)
        for _ in range(25):
            async with http.get(fake.base_url + "/departments", headers=auth) as r:
                assert r.status == 200
        assert len(fake.requests) == 10
        assert [r.number for r in fake.requests] == list(range(16, 26))
        assert all(r.status == 200 for r in fake.requests)  # statuses land on the right entries
        assert fake.count() == 25 and fake.count("departments") == 25


def test_log_size_is_checked() -> None:
    for bad in (0, -1):
        with pytest.raises(ValueError, match="log_size"):
            FakeDesk(log_size=bad)
    with pytest.raises(TypeError, match="log_size"):
        FakeDesk(log_size="10")  # type: ignore[arg-type]


async def test_nothing_is_kept_per_closed_connection() -> None:
    async with FakeDesk(tickets=5) as fake:
        auth = _auth(fake)
        for _ in range(300):  # each on its own connection, closed after its answer
            async with (
                aiohttp.ClientSession() as http,
                http.get(fake.base_url + "/departments", headers=auth) as r,
            ):
                assert r.status == 200
        await asyncio.sleep(0.05)
        gc.collect()
        assert fake.connections_seen == 300
        # Per-connection state lives only while the connection does.
        assert fake.tracked_connections <= fake.open_connections + 1


async def test_connection_numbers_still_tell_connections_apart() -> None:
    async with FakeDesk(tickets=5) as fake:
        auth = _auth(fake)
        async with aiohttp.ClientSession() as one, aiohttp.ClientSession() as two:
            for session in (one, one, two, one, two):
                async with session.get(fake.base_url + "/departments", headers=auth) as r:
                    await r.read()
        assert [r.connection for r in fake.requests] == [1, 1, 2, 1, 2]
        assert fake.connections_seen == 2


# ---------------------------------------------------------------- loopback by default


@pytest.mark.parametrize("host", ["", "0.0.0.0", "::", "192.0.2.1", "example.com"])  # noqa: S104 - refused
async def test_non_loopback_binds_are_refused_by_default(host: str) -> None:
    fake = FakeDesk()
    with pytest.raises(ValueError, match="loopback"):
        await fake.start(host)
    with pytest.raises(ValueError, match="loopback"), fake.serve_in_thread(host):
        pass
    assert fake.open_connections == 0


@pytest.mark.parametrize("host", ["", "0.0.0.0", "::"])  # noqa: S104 - explicitly allowed here
async def test_an_explicit_wildcard_bind_warns_and_gives_a_usable_base_url(host: str) -> None:
    fake = FakeDesk(tickets=3)
    with pytest.warns(UserWarning, match="other machines"):
        base_url = await fake.start(host, allow_remote=True)
    try:
        assert base_url == fake.base_url
        assert base_url.startswith(("http://127.0.0.1:", "http://[::1]:")), base_url
        assert base_url.endswith("/api/v1") and "::]" not in base_url
        async with (
            aiohttp.ClientSession() as http,
            http.get(base_url + "/departments", headers=_auth(fake)) as r,
        ):
            assert r.status == 200
    finally:
        await fake.close()


@pytest.mark.parametrize(
    ("host", "prefix"),
    [("127.0.0.1", "http://127.0.0.1:"), ("::1", "http://[::1]:"), ("localhost", "http://")],
)
async def test_loopback_base_urls_are_well_formed(host: str, prefix: str) -> None:
    fake = FakeDesk(tickets=3)
    try:
        base_url = await fake.start(host)
    except OSError:
        pytest.skip(f"{host} cannot be bound here")
    try:
        assert base_url.startswith(prefix)
        parsed = yarl.URL(base_url)
        assert parsed.port and parsed.host and parsed.path == "/api/v1"
        async with (
            aiohttp.ClientSession() as http,
            http.get(base_url + "/departments", headers=_auth(fake)) as r,
        ):
            assert r.status == 200
    finally:
        await fake.close()
