"""The fake desk's data: tickets, users, departments, types, statuses, tokens,
and the validation rules of the reference, as plain Python with no I/O.

Seeding is deterministic and lazy where it can be: a seeded ticket's messages
are made from the seed when first asked for, so 100,000 tickets start in a
second or two and stay small.
"""

from __future__ import annotations

import bisect
import random
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import attrs

__all__ = ["KNOWN_TICKET_FIELDS", "ApiFailure", "DeskStore", "StoredTicket"]

ALL_SCOPES: Final = frozenset({"tickets:read", "tickets:create"})
PRIORITIES: Final = ("low", "normal", "high", "urgent")
STATUS_TYPES: Final = ("open", "awaiting_reply", "resolved", "closed")
AUTHOR_KINDS: Final = ("agent", "end_user", "system", "automation")
# No whitespace and no control characters (listed, since Python's and ECMA's \s differ).
_EMAIL: Final = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+")
_DIGITS: Final = re.compile(r"[0-9]+")
# Snowflake-like ids: big, increasing with time, never JSON numbers.
_EPOCH_ID: Final = 1490375649312800768
_ID_STEP: Final = 1 << 22
_START: Final = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
_MILLISECOND: Final = timedelta(milliseconds=1)
# The fields the reference documents on a ticket: `extra` may not shadow them.
KNOWN_TICKET_FIELDS: Final = frozenset(
    {"id", "number", "subject", "priority", "status", "requester", "createdAt", "updatedAt"}
    | {"department", "ticketType", "messages"}
)


class ApiFailure(Exception):
    """An API error answer: status plus the documented error body."""

    def __init__(self, status: int, code: str, detail: str | None = None, issues: list[Any] | None = None):
        super().__init__(code)
        self.status = status
        self.body: dict[str, Any] = {"error": code}
        if detail is not None:
            self.body["detail"] = detail
        if issues is not None:
            self.body["issues"] = issues


def iso(ts: datetime) -> str:
    """The API's timestamp form: ``2026-06-04T15:21:09.000Z``."""
    # %Y does not pad years before 1000 on every platform: ISO 8601 needs four digits.
    return f"{ts.year:04d}" + ts.strftime("-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


@attrs.define
class Department:
    id: str
    name: str
    is_default: bool = False
    is_public: bool = True
    deleted: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "isDefault": self.is_default,
            "isPublicToUsers": self.is_public,
        }


@attrs.define
class TicketType:
    id: str
    name: str
    sort: int
    is_internal: bool = False
    is_default: bool = False
    archived: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "isInternal": self.is_internal,
            "isDefault": self.is_default,
        }


@attrs.define
class Status:
    id: str
    label: str
    internal_type: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "internalType": self.internal_type}


@attrs.define
class Message:
    id: str
    author_kind: str
    body_md: str
    created_at: str
    internal: bool = False


@attrs.define
class StoredTicket:
    """One ticket. ``messages`` is ``None`` until first needed for a seeded ticket."""

    id: int
    number: int
    subject: str
    priority: str
    status: Status
    email: str | None
    name: str | None
    department: Department
    ticket_type: TicketType
    created_at: str
    updated_at: str
    seed: int
    messages: list[Message] | None = None
    summary_json: bytes | None = None  # rendered once, reused by every page (until an edit)
    extra: dict[str, Any] | None = None  # fields the reference does not know, sent as given


@attrs.define
class Token:
    desk: str
    scopes: frozenset[str]
    name: str
    revoked: bool = False


_FIRST = ("Alice", "Bob", "Chen", "Dana", "Emeka", "Fatima", "Goran", "Hana", "Ivan", "Jules", "Kofi", "Lena")
_LAST = ("Smith", "Okafor", "Novak", "Tanaka", "Garcia", "Khan", "Müller", "Rossi", "Larsen", "Silva")
_TOPICS = (
    "Login broken on staging",
    "Invoice shows the wrong VAT",
    "Cannot export CSV",
    "Password reset email never arrives",
    "Feature request: dark mode",
    "App crashes on upload",
    "Refund for double charge",
    "Webhook retries flood our endpoint",
    "SSO with Okta fails",
    "Slow dashboard since Monday",
)
_BODIES = (
    "I loop back to /sign-in after typing my email.",
    "Steps: open the page, click **Export**, nothing happens.",
    "This started after the last update. Screenshot attached.",
    "Could you look into this today? It blocks our team.",
    "Thanks, that fixed it!",
)


class DeskStore:
    """All of one fake desk's state. Methods raise ``ApiFailure`` as the API would answer."""

    def __init__(self, slug: str = "acme", *, tickets: int = 0, seed: int = 0) -> None:
        self.slug = slug
        self.seed = seed
        self.tokens: dict[str, Token] = {}
        self.statuses = [
            Status("1490300000000000001", "Open", "open"),
            Status("1490300000000000002", "Pending", "awaiting_reply"),
            Status("1490300000000000003", "Waiting on customer", "awaiting_reply"),
            Status("1490300000000000004", "Solved", "resolved"),
            Status("1490300000000000005", "Closed", "closed"),
        ]
        self.departments = [
            Department("1490200000000000001", "Support", is_default=True),
            Department("1490200000000000002", "Billing"),
            Department("1490200000000000003", "Engineering", is_public=False),
            Department("1490200000000000004", "Legacy", deleted=True),
        ]
        self.ticket_types = [
            TicketType("1490100000000000001", "Question", sort=1, is_default=True),
            TicketType("1490100000000000002", "Incident", sort=2),
            TicketType("1490100000000000003", "Internal task", sort=3, is_internal=True),
            TicketType("1490100000000000004", "Old form", sort=4, archived=True),
        ]
        self.users: dict[str, str | None] = {}
        # Ascending by id; pages walk it from the end.
        self._ids: list[int] = []
        self._tickets: list[StoredTicket] = []
        self._by_id: dict[int, StoredTicket] = {}
        self._by_number: dict[int, StoredTicket] = {}
        self._next_number = 1001
        self._next_message = 0
        self._seed_tickets(tickets)

    # ------------------------------------------------------------------ seeding

    def _seed_tickets(self, count: int) -> None:
        rng = random.Random(self.seed)  # noqa: S311 - test data, not secrets
        people = []
        for i in range(max(1, min(count // 4, 5000))):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            email = f"{first.lower()}.{last.lower()}{i}@example.com".replace("ü", "ue")
            name = None if i % 17 == 0 else f"{first} {last}"
            people.append((email, name))
        departments = [d for d in self.departments if not d.deleted]
        types = [t for t in self.ticket_types if not t.archived]
        for i in range(count):
            email, name = people[rng.randrange(len(people))]
            if email not in self.users:
                self.users[email] = name
            created = _START + timedelta(seconds=i * 37 + rng.randrange(30))
            updated = created + timedelta(seconds=rng.randrange(86400))
            self._append(
                StoredTicket(
                    id=_EPOCH_ID + i * _ID_STEP + rng.randrange(1 << 20),
                    number=self._take_number(),
                    subject=f"{rng.choice(_TOPICS)} (#{i})",
                    priority=PRIORITIES[rng.randrange(4)],
                    status=self.statuses[rng.randrange(len(self.statuses))],
                    email=email,
                    name=name,
                    department=departments[rng.randrange(len(departments))],
                    ticket_type=types[rng.randrange(len(types))],
                    created_at=iso(created),
                    updated_at=iso(updated),
                    seed=rng.randrange(1 << 30),
                )
            )

    def _take_number(self) -> int:
        number = self._next_number
        self._next_number += 1
        return number

    def _append(self, ticket: StoredTicket) -> None:
        if self._ids and ticket.id <= self._ids[-1]:
            raise ValueError("ticket ids must grow")
        self._ids.append(ticket.id)
        self._tickets.append(ticket)
        self._by_id[ticket.id] = ticket
        self._by_number[ticket.number] = ticket

    def messages_of(self, ticket: StoredTicket) -> list[Message]:
        """The ticket's messages (public and internal), made from its seed on first use."""
        if ticket.messages is None:
            rng = random.Random(ticket.seed)  # noqa: S311 - test data
            created = datetime.fromisoformat(ticket.created_at)
            messages = [Message(str(ticket.id + 1), "end_user", _BODIES[rng.randrange(5)], ticket.created_at)]
            for j in range(rng.randrange(4)):
                kind = AUTHOR_KINDS[(j + ticket.seed) % 4]
                at = iso(created + timedelta(minutes=5 * (j + 1)))
                messages.append(Message(str(ticket.id + 2 + j), kind, _BODIES[rng.randrange(5)], at))
            # Every seeded ticket has one internal note, so a leak shows at once.
            note_at = iso(created + timedelta(minutes=1))
            messages.insert(
                1, Message(str(ticket.id + 9), "agent", "INTERNAL NOTE: do not share", note_at, True)
            )
            ticket.messages = messages
        return ticket.messages

    # ------------------------------------------------------------------ tokens

    def mint_token(
        self, scopes: Iterable[str] = ALL_SCOPES, *, name: str = "test token", desk: str | None = None
    ) -> str:
        """A new token (``hd_`` + random) with these scopes; ``desk`` makes it
        belong to another desk (for ``token_desk_mismatch``)."""
        chosen = frozenset(scopes)
        if not chosen <= ALL_SCOPES:
            raise ValueError(f"unknown scopes {sorted(chosen - ALL_SCOPES)}")
        secret = secrets.token_urlsafe(24)
        self.tokens[secret] = Token(desk or self.slug, chosen, name)
        return "hd_" + secret

    def revoke(self, token: str) -> None:
        """Revoke a token: its next request gets 401 (immediate and permanent)."""
        entry = self.tokens.get(token.removeprefix("hd_"))
        if entry is not None:
            entry.revoked = True

    def authorize(self, header: str | None, scope: str) -> None:
        """Check an ``Authorization`` header for a route's scope; raise as the API would."""
        if not header or not header.startswith("Bearer "):
            raise ApiFailure(401, "unauthenticated", "missing bearer token")
        secret = header[len("Bearer ") :].strip().removeprefix("hd_")
        token = self.tokens.get(secret)
        if token is None or token.revoked:
            raise ApiFailure(401, "unauthenticated", "unknown or revoked token")
        if token.desk != self.slug:
            raise ApiFailure(403, "token_desk_mismatch", "token belongs to another desk")
        if scope not in token.scopes:
            raise ApiFailure(403, "insufficient_scope", f'requires "{scope}"')

    # ------------------------------------------------------------------ reads

    def __len__(self) -> int:
        return len(self._tickets)

    def all_ids_desc(self) -> list[str]:
        """Every ticket id, newest first, as the API lists them."""
        return [str(i) for i in reversed(self._ids)]

    def find(self, key: str) -> StoredTicket:
        """``{idOrNumber}``: digits only, number tried first, then id."""
        if not key.isascii() or not _DIGITS.fullmatch(key):
            raise ApiFailure(400, "invalid_id", "idOrNumber must be all digits")
        value = _small_int(key)
        if value is None:  # past any 64-bit id or number: no such ticket (and no int() past 4,300 digits)
            raise ApiFailure(404, "ticket_not_found")
        ticket = self._by_number.get(value) or self._by_id.get(value)
        if ticket is None:
            raise ApiFailure(404, "ticket_not_found")
        return ticket

    def page(self, query: Mapping[str, str]) -> tuple[list[StoredTicket], str | None]:
        """``GET /tickets``: validate the query, then one keyset page, id descending."""
        issues: list[dict[str, Any]] = []
        limit = 25
        raw_limit = query.get("limit")
        if raw_limit is not None:
            value = _small_int(raw_limit) if raw_limit.isascii() and _DIGITS.fullmatch(raw_limit) else None
            if value is None or not 1 <= value <= 100:
                issues.append(_issue("limit", "out_of_range", "limit must be an integer from 1 to 100"))
            else:
                limit = value
        cursor: int | None = None
        raw_cursor = query.get("cursor")
        if raw_cursor is not None:
            if raw_cursor.isascii() and _DIGITS.fullmatch(raw_cursor):
                cursor = _small_int(raw_cursor)
            if cursor is None:
                issues.append(_issue("cursor", "invalid_string", "cursor must be a ticket id"))
        if issues:
            raise ApiFailure(400, "invalid_query", "query parameters failed validation", issues)
        status_ids: set[str] | None = None
        raw_status = query.get("status")
        if raw_status is not None:
            if raw_status in STATUS_TYPES:
                status_ids = {s.id for s in self.statuses if s.internal_type == raw_status}
            elif raw_status.isascii() and _DIGITS.fullmatch(raw_status):
                status_ids = {raw_status}
            else:
                raise ApiFailure(400, "invalid_status", f"unknown status {raw_status!r}")
        email = query.get("requesterEmail")
        email = email.lower() if email is not None else None
        end = len(self._ids) if cursor is None else bisect.bisect_left(self._ids, cursor)
        found: list[StoredTicket] = []
        for index in range(end - 1, -1, -1):
            ticket = self._tickets[index]
            if status_ids is not None and ticket.status.id not in status_ids:
                continue
            if email is not None and ticket.email != email:
                continue
            found.append(ticket)
            if len(found) == limit:
                break
        more = bool(found) and len(found) == limit and self._has_more(found[-1].id, status_ids, email)
        return found, (str(found[-1].id) if more else None)

    def _has_more(self, below: int, status_ids: set[str] | None, email: str | None) -> bool:
        for index in range(bisect.bisect_left(self._ids, below) - 1, -1, -1):
            ticket = self._tickets[index]
            if (status_ids is None or ticket.status.id in status_ids) and (
                email is None or ticket.email == email
            ):
                return True
        return False

    def listed_departments(self) -> list[Department]:
        """``GET /departments``: every non-deleted department, private ones included, by name."""
        return sorted((d for d in self.departments if not d.deleted), key=lambda d: d.name)

    def listed_ticket_types(self) -> list[TicketType]:
        """``GET /ticket-types``: every non-archived type, in the desk's sort order."""
        return sorted((t for t in self.ticket_types if not t.archived), key=lambda t: t.sort)

    # ------------------------------------------------------------------ create

    def create(self, body: Any, now: datetime | None = None) -> StoredTicket:
        """``POST /tickets``: validate like the reference, then store the ticket."""
        if not isinstance(body, dict):
            raise ApiFailure(
                400,
                "invalid_body",
                "body must be a JSON object",
                [_issue("", "invalid_type", "expected object")],
            )
        issues: list[dict[str, Any]] = []
        email = _text(body, "email", issues, required=True, max_len=255)
        if email is not None and not _EMAIL.fullmatch(email):
            issues.append(_issue("email", "invalid_string", "invalid email"))
        name = _text(body, "name", issues, max_len=120)
        subject = _text(body, "subject", issues, required=True, min_len=1, max_len=500)
        text = _text(body, "body", issues, required=True, min_len=1, max_len=50_000)
        priority = _text(body, "priority", issues)
        if priority is not None and priority not in PRIORITIES:
            issues.append(
                _issue("priority", "invalid_enum_value", f"expected one of {', '.join(PRIORITIES)}")
            )
        department_id = _text(body, "departmentId", issues, digits=True)
        type_id = _text(body, "ticketTypeId", issues, digits=True)
        if issues:
            raise ApiFailure(400, "invalid_body", "body failed validation", issues)
        if email is None or subject is None or text is None:  # unreachable: issues were raised
            raise ApiFailure(400, "invalid_body", "body failed validation")
        department = self._department(department_id)
        ticket_type = self._ticket_type(type_id)
        email = email.lower()
        if email not in self.users:
            self.users[email] = name if name is not None else email.split("@", 1)[0]
        stamp = iso(now or datetime.now(UTC))
        new_id = self._ids[-1] + _ID_STEP if self._ids else _EPOCH_ID
        ticket = StoredTicket(
            id=new_id,
            number=self._take_number(),
            subject=subject,
            priority=priority or "normal",
            status=self.statuses[0],
            email=email,
            name=self.users[email],
            department=department,
            ticket_type=ticket_type,
            created_at=stamp,
            updated_at=stamp,
            seed=0,
            messages=[Message(str(new_id + 1), "end_user", text, stamp)],
        )
        self._append(ticket)
        return ticket

    def _department(self, department_id: str | None) -> Department:
        if department_id is None:
            return next(d for d in self.departments if d.is_default and not d.deleted)
        for d in self.departments:
            if d.id == department_id and not d.deleted:
                return d
        raise ApiFailure(400, "department_not_found", f"department {department_id} is not on this desk")

    def _ticket_type(self, type_id: str | None) -> TicketType:
        if type_id is None:
            return next(t for t in self.ticket_types if t.is_default and not t.archived)
        for t in self.ticket_types:
            if t.id == type_id and not t.archived:
                return t
        raise ApiFailure(400, "ticket_type_not_found", f"ticket type {type_id} is not on this desk")

    # ------------------------------------------------------------------ changes (test controls)

    def lookup(self, key: int | str) -> StoredTicket:
        """A ticket by number (``int``) or id (``str``). Raises ``KeyError``."""
        if isinstance(key, bool) or not isinstance(key, int | str):
            raise TypeError(f"a ticket is named by its number (int) or id (str), not {type(key).__name__}")
        if isinstance(key, int):
            ticket = self._by_number.get(key)
        else:
            ticket = self._by_id.get(int(key)) if key.isascii() and _DIGITS.fullmatch(key) else None
        if ticket is None:
            raise KeyError(key)
        return ticket

    def edit(
        self,
        key: int | str,
        *,
        subject: str | None = None,
        priority: str | None = None,
        status: str | None = None,
        extra: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> StoredTicket:
        """Change a ticket as an agent would; ``updatedAt`` moves strictly later.

        ``status`` is an internal type (the first status of that type) or a
        status id; ``extra`` adds or replaces fields the reference does not
        know. Raises ``KeyError`` for an unknown ticket, ``ValueError`` for a
        value the desk would not hold."""
        ticket = self.lookup(key)
        if priority is not None and priority not in PRIORITIES:
            raise ValueError(f"priority must be one of {PRIORITIES}, not {priority!r}")
        new_status = None
        if status is not None:
            new_status = next(
                (s for s in self.statuses if status in (s.internal_type, s.id)),
                None,
            )
            if new_status is None:
                raise ValueError(
                    f"status {status!r} is neither an internal type nor a status id of this desk"
                )
        if extra is not None and KNOWN_TICKET_FIELDS & set(extra):
            raise ValueError(
                f"extra may not replace a known field: {sorted(KNOWN_TICKET_FIELDS & set(extra))}"
            )
        if subject is not None:
            ticket.subject = subject
        if priority is not None:
            ticket.priority = priority
        if new_status is not None:
            ticket.status = new_status
        if extra is not None:
            ticket.extra = {**(ticket.extra or {}), **extra}
        stamp = max(now or datetime.now(UTC), datetime.fromisoformat(ticket.updated_at) + _MILLISECOND)
        ticket.updated_at = iso(stamp)
        ticket.summary_json = None
        return ticket

    def remove(self, key: int | str) -> None:
        """Delete a ticket: no longer listed, and 404 by id or number. Raises ``KeyError``."""
        ticket = self.lookup(key)
        index = bisect.bisect_left(self._ids, ticket.id)
        del self._ids[index]
        del self._tickets[index]
        del self._by_id[ticket.id]
        del self._by_number[ticket.number]

    def add(self, count: int, now: datetime | None = None) -> list[str]:
        """``count`` new tickets, ids above every other; returns their ids, oldest first."""
        rng = random.Random(f"{self.seed}:{self._next_number}")  # noqa: S311 - test data
        emails = sorted(self.users) or ["new.user@example.com"]
        departments = [d for d in self.departments if not d.deleted]
        types = [t for t in self.ticket_types if not t.archived]
        stamp = iso(now or datetime.now(UTC))
        made: list[str] = []
        for _ in range(count):
            email = emails[rng.randrange(len(emails))]
            self.users.setdefault(email, None)
            new_id = (self._ids[-1] if self._ids else _EPOCH_ID) + _ID_STEP + rng.randrange(1 << 20)
            self._append(
                StoredTicket(
                    id=new_id,
                    number=self._take_number(),
                    subject=f"{rng.choice(_TOPICS)} (new)",
                    priority=PRIORITIES[rng.randrange(4)],
                    status=self.statuses[0],
                    email=email,
                    name=self.users[email],
                    department=departments[rng.randrange(len(departments))],
                    ticket_type=types[rng.randrange(len(types))],
                    created_at=stamp,
                    updated_at=stamp,
                    seed=rng.randrange(1 << 30),
                )
            )
            made.append(str(new_id))
        return made

    def iter_tickets(self) -> Iterator[StoredTicket]:
        """Every ticket, newest first."""
        return reversed(self._tickets)


_MAX_ID_DIGITS: Final = 20  # a 64-bit id or number


def _small_int(digits: str) -> int | None:
    """An ASCII digit string as an int, or ``None`` past 64 bits (leading zeros allowed)."""
    significant = digits.lstrip("0") or "0"
    return int(significant) if len(significant) <= _MAX_ID_DIGITS else None


def _issue(path: str, code: str, message: str) -> dict[str, Any]:
    return {"path": [path] if path else [], "code": code, "message": message}


def _text(
    body: Mapping[str, Any],
    key: str,
    issues: list[dict[str, Any]],
    *,
    required: bool = False,
    min_len: int = 0,
    max_len: int | None = None,
    digits: bool = False,
) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            issues.append(_issue(key, "invalid_type", "required"))
        return None
    if not isinstance(value, str):
        issues.append(_issue(key, "invalid_type", f"expected string, received {type(value).__name__}"))
        return None
    if len(value) < min_len:
        issues.append(_issue(key, "too_small", f"must be at least {min_len} characters"))
    if max_len is not None and len(value) > max_len:
        issues.append(_issue(key, "too_big", f"must be at most {max_len} characters"))
    if digits and not (value.isascii() and _DIGITS.fullmatch(value)):
        issues.append(_issue(key, "invalid_string", "must be an id of digits"))
    return value
