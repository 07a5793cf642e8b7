"""Pure protocol decisions: validating arguments, building URLs, headers, query
strings and bodies, and the response step
(``decipher_response``: route, status, headers, body -> JSON or exception).
No I/O and no event loop here, so all of it is tested synchronously (the habit
of gidgethub's ``sansio``)."""

from __future__ import annotations

import inspect
import ipaddress
import json
import re
from collections.abc import AsyncIterable, Awaitable, Callable, Coroutine, Iterable, Iterator, Mapping
from enum import Enum
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from ._config import ENV_VARIABLES
from ._errors import (
    InsufficientScope,
    InvalidArgument,
    InvalidArgumentType,
    InvalidId,
    InvalidStatus,
    ResponseDecodeError,
    error_from_response,
    shorten,
)
from ._json import escape_surrogates, has_surrogate, json_loads
from ._routes import SCOPES, Route

__all__ = [
    "MAX_PAGE_SIZE",
    "RESERVED_HEADERS",
    "auth_headers",
    "check_env_settings",
    "check_extra_headers",
    "check_instance",
    "check_missing",
    "check_optional_id",
    "check_optional_str",
    "check_page_size",
    "check_positive_int",
    "check_scopes",
    "check_seconds",
    "check_since_id",
    "check_ticket_keys",
    "check_token",
    "create_body",
    "decipher_response",
    "desk_base_url",
    "id_or_number",
    "json_body",
    "list_filters",
    "list_query",
    "require_scope",
    "server_of",
    "status_filter",
]

_T = TypeVar("_T")

MAX_PAGE_SIZE: Final = 100
STATUS_KEYWORDS: Final = frozenset({"open", "awaiting_reply", "resolved", "closed"})

# A DNS label: what can stand before ".headoni.app".
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# Token characters: visible ASCII only. Whitespace or a control character in a
# header value is either a paste accident or a header-injection attempt.
_TOKEN = re.compile(r"[\x21-\x7e]+")
_DIGITS = re.compile(r"[0-9]+")


def check_desk_slug(desk: object) -> str:
    """Return the desk slug, lowercased. Raises ``InvalidArgument`` for anything
    that is not a bare slug: the API lives only on ``<desk>.headoni.app``, so a
    custom portal domain (``support.acme.com``) or a URL is refused."""
    if not isinstance(desk, str):
        raise InvalidArgumentType(f"desk must be a str slug such as 'acme', not {type(desk).__name__}")
    slug = desk.strip().lower()
    if slug.endswith(".headoni.app"):
        slug = slug[: -len(".headoni.app")]
    if "." in slug or "/" in slug or ":" in slug:
        raise InvalidArgument(
            f"desk must be the slug of <desk>.headoni.app (e.g. 'acme'), not {desk!r}: "
            "a custom portal domain does not serve the API"
        )
    if not _SLUG.fullmatch(slug):
        raise InvalidArgument(f"desk {desk!r} is not a valid desk slug (letters, digits, hyphens)")
    return slug


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def desk_base_url(desk: str, base_url: str | None) -> str:
    """The API base URL, without a trailing slash.

    ``base_url`` replaces ``https://<desk>.headoni.app/api/v1``. It must be an
    absolute ``https`` URL, or ``http`` on a loopback host (a local fake desk),
    with no query, fragment or credentials. Raises ``InvalidArgument``.
    """
    if base_url is None:
        return f"https://{desk}.headoni.app/api/v1"
    if not isinstance(base_url, str):
        raise InvalidArgumentType("base_url must be a str")
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        raise InvalidArgument(f"base_url must be an absolute http(s) URL, not {base_url!r}")
    if parts.scheme == "http" and not _is_loopback(host):
        raise InvalidArgument(
            "base_url may use plain http only on a loopback host (127.0.0.1, ::1, localhost): "
            "the token would cross the network in clear text"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidArgument("base_url must not carry a query, a fragment or credentials")
    try:
        _ = parts.port
    except ValueError:
        raise InvalidArgument("base_url has an invalid port") from None
    return base_url.rstrip("/")


def check_token(token: object) -> str:
    """Return the token unchanged if it can be sent in a header.

    Raises ``InvalidArgumentType`` for a non-str and ``InvalidArgument`` for an
    empty token or one holding whitespace, control characters or quotes (no
    bearer token holds a quote: one there was kept from a quoted value, as
    ``docker run --env-file`` keeps them). The message never repeats the token.
    """
    if not isinstance(token, str):
        raise InvalidArgumentType(f"token must be a str, not {type(token).__name__}")
    if not token:
        raise InvalidArgument("token is empty: mint one on the desk's API page")
    if not _TOKEN.fullmatch(token):
        raise InvalidArgument(
            "token holds whitespace, control or non-ASCII characters (value not shown); "
            "copy it again from the desk's API page"
        )
    if '"' in token or "'" in token:
        raise InvalidArgument(
            "token holds a quote character (value not shown): the quotes around a value in an "
            "env file are kept by some loaders, such as docker run --env-file; remove them"
        )
    return token


def auth_headers(token: str) -> dict[str, str]:
    """The headers every request carries. ``token`` must have passed ``check_token``."""
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def check_scopes(scopes: Iterable[str] | None) -> frozenset[str] | None:
    """Normalise the caller's declared scopes; ``None`` turns local checks off.

    Raises ``InvalidArgument`` for a scope Headoni does not define, and
    ``InvalidArgumentType`` for a bare string (a common slip for a set of one).
    """
    if scopes is None:
        return None
    if isinstance(scopes, str) or not isinstance(scopes, Iterable):
        raise InvalidArgumentType("scopes must be a collection of scope names, e.g. {'tickets:read'}")
    names = list(scopes)
    if not all(isinstance(name, str) for name in names):
        raise InvalidArgumentType("scopes must hold scope names (str), e.g. {'tickets:read'}")
    declared = frozenset(names)
    unknown = declared - SCOPES
    if unknown:
        raise InvalidArgument(f"unknown scopes {sorted(unknown)}; Headoni defines {sorted(SCOPES)}")
    return declared


def require_scope(route: Route, scopes: frozenset[str] | None) -> None:
    """Raise ``InsufficientScope`` (403, before any I/O) if the declared scopes lack the route's."""
    if scopes is None or route.scope in scopes:
        return
    exc = InsufficientScope(
        403,
        "insufficient_scope",
        f'requires "{route.scope}"; the token was declared with {sorted(scopes)} '
        "(checked locally, no request was sent)",
        method=route.method,
        path=route.template,
    )
    exc.required_scope = route.scope
    raise exc


# --------------------------------------------------------------------------- argument checks
# One helper per rule; each raises InvalidArgumentType (a TypeError) for a
# wrong type and InvalidArgument (a ValueError) for a wrong value.


def server_of(base_url: str) -> tuple[str, int]:
    """The host and port a (checked) base URL points at, for telemetry."""
    parts = urlsplit(base_url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


RESERVED_HEADERS: Final = frozenset(
    {"authorization", "host", "content-type", "content-length", "transfer-encoding", "connection", "cookie"}
)
"""Headers (lowercased) a caller may not set: the credentials and the framing are ours."""
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE: Final = re.compile(r"[\t\x20-\x7e]*")


def check_extra_headers(headers: object) -> dict[str, str]:
    """Extra request headers (``with_options(headers=...)``), checked.

    Raises ``InvalidArgumentType`` for a non-mapping or a non-str name or
    value, and ``InvalidArgument`` for a reserved name (``Authorization``,
    ``Host``, ``Content-Type`` and the framing headers) or a name or value
    that could not be sent as is (CR, LF, NUL, other controls, non-ASCII).
    The message names the header, never its value.
    """
    if not isinstance(headers, Mapping):
        raise InvalidArgumentType("headers must be a mapping of header names to values")
    out: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidArgumentType("header names and values must be str")
        if name.lower() in RESERVED_HEADERS:
            raise InvalidArgument(f"the {name} header is set by the desk and may not be overridden")
        if not _HEADER_NAME.fullmatch(name):
            raise InvalidArgument(f"{name!r} is not a valid header name")
        if not _HEADER_VALUE.fullmatch(value):
            raise InvalidArgument(
                f"the value of the {name} header holds CR, LF, NUL, another control or a non-ASCII "
                "character (value not shown)"
            )
        out[name] = value
    return out


def check_instance(name: str, value: _T | None, cls: type[_T]) -> _T | None:
    """``value`` if it is ``None`` or a ``cls``; else ``InvalidArgumentType``."""
    if value is not None and not isinstance(value, cls):
        raise InvalidArgumentType(f"{name} must be a {cls.__name__}")
    return value


def check_positive_int(name: str, value: object) -> int:
    """An int of at least 1 (a bool is not an int here)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentType(f"{name} must be an int")
    if value < 1:
        raise InvalidArgument(f"{name} must be at least 1, not {value}")
    return value


def check_bool(name: str, value: object) -> bool:
    """A bool (``True`` or ``False``; no other value stands in for one)."""
    if not isinstance(value, bool):
        raise InvalidArgumentType(f"{name} must be True or False, not {type(value).__name__}")
    return value


def _digits_of(value: int) -> str | None:
    """``str(value)``, or ``None`` past Python's int-conversion limit (4,300 digits)."""
    try:
        return str(value)
    except ValueError:
        return None


def _shown(value: object) -> str:
    """A value for an error message: its repr, cut short (never raises for a huge int)."""
    if isinstance(value, int) and _digits_of(value) is None:
        return "an int of more than 4300 digits"
    return shorten(repr(value), 80)


def check_query_text(name: str, value: str | None) -> str | None:
    """A str for a query value, refused if it holds a lone surrogate: the URL
    encoder would change it silently, and the server would filter on another
    value than the caller's."""
    if value is not None and has_surrogate(value):
        raise InvalidArgument(f"{name} holds a lone surrogate (half of a UTF-16 pair): {_shown(value)}")
    return value


def check_optional_str(name: str, value: object) -> str | None:
    """``None`` or a str."""
    if value is None or isinstance(value, str):
        return value
    raise InvalidArgumentType(f"{name} must be a str or None, not {type(value).__name__}")


def check_seconds(name: str, value: object) -> float:
    """A finite number of seconds, at least 0 (a bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgumentType(f"{name} must be a number of seconds")
    if not 0 <= value < float("inf"):
        raise InvalidArgument(f"{name} must be a finite number of seconds, at least 0, not {value!r}")
    return float(value)


def check_missing(missing: object) -> bool:
    """``missing=``: ``"raise"`` or ``"skip"``; returns whether to skip."""
    if missing not in ("raise", "skip"):
        raise InvalidArgument(f"missing must be 'raise' or 'skip', not {missing!r}")
    return missing == "skip"


_ENV_CHECKS: Final[Mapping[str, Callable[[Any], object]]] = {
    "desk": check_desk_slug,
    "token": check_token,
    "base_url": lambda url: url is None or desk_base_url("acme", url),
    "scopes": check_scopes,
}


def check_env_settings(settings: Mapping[str, Any], options: Mapping[str, Any]) -> None:
    """Check the settings ``AsyncDesk.from_env`` read, naming the variable
    (never the token's value) in the error, and that ``options`` repeat none."""
    clash = sorted(set(settings) & set(options))
    if clash:
        raise InvalidArgumentType(
            f"from_env() reads {', '.join(clash)} from the environment; do not pass them"
        )
    for name, variable in ENV_VARIABLES.items():
        try:
            _ENV_CHECKS[name](settings[name])
        except InvalidArgument as exc:
            raise InvalidArgument(f"{variable}: {exc}") from None


def check_ticket_keys(ids: object) -> Iterator[str]:
    """Many tickets' ``{idOrNumber}`` segments, each checked by ``id_or_number``
    as it is read: ``ids`` is read lazily (it may be endless), and a bad one
    raises when its turn comes.

    A single str, bytes or int is refused at once (``InvalidArgumentType``)
    rather than taken as a collection of characters, and so is an async
    iterable, which is not read (its error says how to pass its ids), and a
    coroutine or other awaitable such as a Future (an ``await`` forgotten; a
    coroutine not yet started is closed).
    """
    if isinstance(ids, Coroutine):
        if inspect.iscoroutine(ids) and inspect.getcoroutinestate(ids) == inspect.CORO_CREATED:
            # Refused, and never started: closed, so no "never awaited" warning
            # follows. One already started belongs to whoever runs it: left alone.
            ids.close()
        raise InvalidArgumentType(
            "ids is a coroutine, not an iterable of ticket numbers or ids: await it first"
        )
    if isinstance(ids, Awaitable):  # a Future or Task: iterable, but its __iter__ is its __await__
        raise InvalidArgumentType(
            f"ids is an awaitable ({type(ids).__name__}), not an iterable of ticket numbers or ids: "
            "await it first"
        )
    if isinstance(ids, AsyncIterable) and not isinstance(ids, Iterable):
        raise InvalidArgumentType(
            f"ids must be a (plain) iterable of ticket numbers or ids, not an async iterable "
            f"({type(ids).__name__}): collect it first, e.g. [i async for i in ids], "
            "or, from a stream of tickets, [t.id async for t in stream]"
        )
    if isinstance(ids, str | bytes) or not isinstance(ids, Iterable):
        raise InvalidArgumentType(
            f"ids must be an iterable of ticket numbers or ids, not a single value ({type(ids).__name__})"
        )
    return map(id_or_number, ids)


def id_or_number(value: object) -> str:
    """The ``{idOrNumber}`` path segment: a ticket number (``int``) or id (a str of digits).

    Raises ``InvalidArgumentType`` for a bool, float or other type, and
    ``InvalidId`` (a ``ValueError``) for a negative number or a non-digit str.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidArgumentType(
            f"a ticket is named by its number (int) or id (str of digits), not {type(value).__name__}"
        )
    text = _digits_of(value) if isinstance(value, int) else value
    if text is None or not _DIGITS.fullmatch(text) or not text.isascii():
        raise InvalidId(
            400, "invalid_id", f"{_shown(value)} is not all digits (checked locally, no request was sent)"
        )
    return text


def status_filter(value: object) -> str:
    """The ``status`` query value: a ``StatusType``, a keyword, or a numeric id
    (``int`` or str of digits). Raises ``InvalidStatus`` (a ``ValueError``) or
    ``InvalidArgumentType``."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidArgumentType(
            f"status must be a StatusType, keyword or numeric id, not {type(value).__name__}"
        )
    if isinstance(value, int):
        text = _digits_of(value)
        if value < 0 or text is None:
            raise InvalidStatus(400, "invalid_status", f"{_shown(value)} is not a status id")
        return text
    if value in STATUS_KEYWORDS or (value.isascii() and _DIGITS.fullmatch(value)):
        return value
    raise InvalidStatus(
        400,
        "invalid_status",
        f"{value!r} is neither a status keyword ({', '.join(sorted(STATUS_KEYWORDS))}) nor a numeric id",
    )


def check_page_size(page_size: object) -> int:
    """Raise unless ``page_size`` is an int from 1 to 100 (the API's ``limit``)."""
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise InvalidArgumentType("page_size must be an int")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidArgument(f"page_size must be from 1 to {MAX_PAGE_SIZE}, not {page_size}")
    return page_size


def check_optional_id(name: str, value: object) -> str | None:
    """``None`` or an id: a str of ASCII digits, or an int (returned as its digits)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidArgumentType(f"{name} must be an id (str of digits) or None, not {type(value).__name__}")
    text = _digits_of(value) if isinstance(value, int) else value
    if text is None or not text.isascii() or not _DIGITS.fullmatch(text):
        raise InvalidArgument(f"{name} must be an id of digits, not {_shown(value)}")
    if _digits_of_text(text) is None:  # cursors and since_id are compared as numbers
        raise InvalidArgument(f"{name} has more digits than any id ({len(text)})")
    return text


def _digits_of_text(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def check_cursor(cursor: object) -> str | None:
    """A resume cursor: ``None`` or a ticket id (str of digits, or an int)."""
    return check_optional_id("cursor", cursor)


def check_since_id(since_id: object) -> str | None:
    """``since_id``: ``None`` or a ticket id (str of digits, or an int).
    Raises ``InvalidArgument`` or ``InvalidArgumentType``."""
    return check_optional_id("since_id", since_id)


def list_filters(
    *, page_size: object, status: object, requester_email: object
) -> Callable[[str | None], dict[str, str]]:
    """Check a listing's filters once, before any I/O, and return the maker of
    each page's query from that page's cursor. Raises what ``check_page_size``,
    ``status_filter`` and ``check_optional_str`` raise."""
    limit = check_page_size(page_size)
    status_value = None if status is None else status_filter(status)
    email = check_query_text("requester_email", check_optional_str("requester_email", requester_email))

    def query(cursor: str | None) -> dict[str, str]:
        return list_query(limit=limit, cursor=cursor, status=status_value, requester_email=email)

    return query


def list_query(
    *, limit: int, cursor: str | None, status: str | None, requester_email: str | None
) -> dict[str, str]:
    """The query of one ``GET /tickets`` page, in the API's names."""
    query = {"limit": str(limit)}
    if cursor is not None:
        query["cursor"] = cursor
    if status is not None:
        query["status"] = status
    if requester_email is not None:
        query["requesterEmail"] = requester_email
    return query


def create_body(
    *,
    email: object,
    subject: object,
    body: object,
    name: object = None,
    priority: object = None,
    department_id: object = None,
    ticket_type_id: object = None,
) -> dict[str, str]:
    """The JSON body of ``POST /tickets``, in the API's names.

    Types are checked here; value rules (lengths, email syntax) are left to the
    server, which answers ``InvalidBody`` with ``issues`` saying where.
    """
    fields: Mapping[str, object] = {
        "email": email,
        "subject": subject,
        "body": body,
    }
    out: dict[str, str] = {}
    for key, value in fields.items():
        if not isinstance(value, str):
            raise InvalidArgumentType(f"{key} must be a str, not {type(value).__name__}")
        out[key] = value
    if isinstance(priority, Enum):
        priority = priority.value
    for key, value in (
        ("name", check_optional_str("name", name)),
        ("priority", check_optional_str("priority", priority)),
    ):
        if value is not None:
            out[key] = value
    for key, arg, value in (
        ("departmentId", "department_id", department_id),
        ("ticketTypeId", "ticket_type_id", ticket_type_id),
    ):
        checked = check_optional_id(arg, value)
        if checked is not None:
            out[key] = checked
    return out


def json_body(body: Mapping[str, str] | None) -> bytes | None:
    """A request body as UTF-8 JSON bytes (``None`` for no body). A lone
    surrogate in a value is sent as its ``\\udXXX`` escape (valid JSON), never
    a ``UnicodeEncodeError``."""
    if body is None:
        return None
    # A lone surrogate cannot be UTF-8: written as its \\udXXX escape, still valid JSON.
    return escape_surrogates(json.dumps(body, ensure_ascii=False)).encode()


# --------------------------------------------------------------------------- the response step


def decipher_response(route: Route, status: int, headers: Mapping[str, str], body: bytes) -> Any:
    """The decoded JSON of a 2xx response, or the exception for any other.

    Pure: ``(route, status, headers, body)`` in, a value out or an exception
    raised, as gidgethub's ``sansio.decipher_response``. A status of 300 or
    more raises its ``APIError`` subclass (the body read as a Headoni error
    document when it is one; ``Retry-After`` and ``Location`` taken from the
    headers). A 2xx body that is not JSON raises ``ResponseDecodeError``.
    """
    if status >= 300:
        raise error_from_response(
            status, _loads_or_none(body), headers=headers, method=route.method, path=route.template
        )
    try:
        return json_loads(body)
    except ValueError:
        raise ResponseDecodeError(
            f"the {status} response body is not JSON", method=route.method, path=route.template
        ) from None


def check_ticket_answer(route: Route, key: str, body: Any) -> None:
    """Raise ``ResponseDecodeError`` unless the ticket in a ``get_ticket``
    answer is the one asked for: ``key`` (digits, leading zeros aside) is its
    ``number`` or its ``id``. A body of another shape is left to the decoder."""
    ticket = body.get("ticket") if isinstance(body, dict) else None
    if not isinstance(ticket, dict):
        return
    wanted = key.lstrip("0") or "0"
    number, ident = ticket.get("number"), ticket.get("id")
    if type(number) is int and len(wanted) <= 20 and number == int(wanted):
        return
    if isinstance(ident, str) and (ident.lstrip("0") or "0") == wanted:
        return
    raise ResponseDecodeError(
        f"asked for ticket {shorten(key, 40)}, the server answered with ticket number "
        f"{_shown(number)} and id {_shown(ident)}",
        method=route.method,
        path=route.template,
    )


def _loads_or_none(body: bytes) -> Any:
    try:
        return json_loads(body) if body else None
    except ValueError:
        return None


# The end of a page as the API writes it: ``..."nextCursor":"123"}``.
_CURSOR_KEY: Final = b'"nextCursor"'
_CURSOR_TAIL: Final = re.compile(rb'"nextCursor"[ \t\r\n]*:[ \t\r\n]*"([0-9]{1,40})"[ \t\r\n]*\}[ \t\r\n]*\Z')


def peek_next_cursor(body: bytes) -> str | None:
    """The ``nextCursor`` a ``GET /tickets`` body most likely holds, read from
    its last bytes without decoding it, or ``None`` when its end is not the
    plain ``"nextCursor":"<digits>"}`` the API writes (``null``, another key
    order, anything odd). A guess, never an answer: the stream starts fetching
    the next page with it while this one is decoded, and drops that fetch
    unless the decoded page names the same cursor. Pure."""
    at = body.rfind(_CURSOR_KEY, max(0, len(body) - 128))
    if at < 0:
        return None
    match = _CURSOR_TAIL.match(body, at)
    return None if match is None else match.group(1).decode("ascii")
