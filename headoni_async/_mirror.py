"""The SQLite side of ``headoni sync``: schema, state, locking, transactions,
and the one thread every database call runs on.

Everything here but :class:`Mirror` is synchronous and runs on the mirror's
own thread (``sqlite3`` connections belong to the thread that made them, and
no database call may block the event loop). ``Mirror`` is the async face the
sync engine awaits.

The state row says what the tickets table already covers, in ticket ids:

- ``high_water``: every ticket whose id is at most this was stored (by a walk
  that reached the bottom of the desk, or the previous high-water mark).
- ``walk_top``/``walk_cursor``: an unfinished walk for new tickets. Every
  ticket from ``walk_cursor`` up to ``walk_top`` is stored; what lies between
  ``high_water`` and ``walk_cursor`` is not yet.
- ``refresh_cursor``: where an unfinished ``--refresh`` walk goes on.

Each page is written in one transaction together with the state that covers
it, so a process killed at any moment leaves tickets and state agreeing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar

import attrs

from ._errors import InvalidArgument, SyncError, SyncLocked, SyncMismatch, SyncStateDamaged
from ._filelock import LockBusy, await_release, exclusive_lock

__all__ = ["SCHEMA_VERSION", "Mirror", "PageWrite", "Stored", "SyncState"]

SCHEMA_VERSION: Final = 1
"""Kept in ``PRAGMA user_version``. A database of a later version is refused."""

_T = TypeVar("_T")

_SCHEMA: Final = """
CREATE TABLE tickets (
    id                TEXT PRIMARY KEY,   -- the ticket id, digits
    number            INTEGER,            -- the per-desk number customers see
    status_type       TEXT,               -- status.internalType
    priority          TEXT,
    requester_email   TEXT,
    created_at        TEXT,               -- as the server wrote it
    updated_at        TEXT,               -- as the server wrote it
    summary           TEXT NOT NULL,      -- the summary JSON as received
    ticket            TEXT,               -- the whole ticket JSON as received, or NULL
    ticket_updated_at TEXT,               -- updatedAt of that whole ticket
    synced_at         TEXT NOT NULL,      -- when the sync last wrote this row
    deleted_at        TEXT                -- when the sync found it gone, NULL while listed
);
-- Ticket ids in numeric order (equal-length digit strings sort as numbers).
CREATE INDEX tickets_id_order ON tickets (length(id), id);
CREATE TABLE departments (
    id        TEXT PRIMARY KEY,
    name      TEXT,
    raw       TEXT NOT NULL,
    synced_at TEXT NOT NULL
);
CREATE TABLE ticket_types (
    id        TEXT PRIMARY KEY,
    name      TEXT,
    raw       TEXT NOT NULL,
    synced_at TEXT NOT NULL
);
CREATE TABLE sync_state (
    only            INTEGER PRIMARY KEY CHECK (only = 1),
    desk            TEXT NOT NULL,
    base_url        TEXT NOT NULL,
    high_water      TEXT,
    walk_top        TEXT,
    walk_cursor     TEXT,
    refresh_cursor  TEXT,
    created_at      TEXT NOT NULL,
    last_sync_at    TEXT,
    last_refresh_at TEXT
);
-- Tickets the --refresh walk under way did not find where it looked: marked
-- deleted when that walk completes, then forgotten.
CREATE TABLE sync_unlisted (
    id TEXT PRIMARY KEY
);
"""
_POSITIONS: Final = ("high_water", "walk_top", "walk_cursor", "refresh_cursor")
_STATE_COLUMNS: Final = (
    "desk",
    "base_url",
    *_POSITIONS,
    "created_at",
    "last_sync_at",
    "last_refresh_at",
)
_INT64: Final = range(-(2**63), 2**63)


def now_iso() -> str:
    """The current UTC time in the API's own form (``2026-06-04T15:21:09.000Z``)."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


@attrs.frozen
class SyncState:
    """The validated ``sync_state`` row."""

    desk: str
    base_url: str
    high_water: str | None
    walk_top: str | None
    walk_cursor: str | None
    refresh_cursor: str | None
    created_at: str
    last_sync_at: str | None
    last_refresh_at: str | None


@attrs.frozen
class Stored:
    """What the mirror holds for one ticket, as far as a walk needs to know."""

    updated_at: str | None
    deleted: bool
    ticket_updated_at: str | None
    has_ticket: bool


@attrs.frozen
class PageWrite:
    """One page's changes, written in one transaction.

    ``summaries``: the page's rows (see ``summary_row``), written when new or
    changed. ``wholes``:
    ``(id, ticket JSON, its updatedAt)``. ``gone``: a range of ids
    ``(above, below)`` (exclusive; ``None`` is open) that a refresh page
    listed completely: rows in it not in ``listed`` are remembered as
    unlisted (a range open above starts a new refresh and forgets the
    earlier ones). ``complete``: this page ends a refresh walk, so every
    ticket it left unlisted is marked deleted. ``vanished``: ids the server
    answered 404 for, marked deleted at once. ``state``: state columns to
    set in the same transaction.
    """

    summaries: Sequence[tuple[Any, ...]] = ()
    wholes: Sequence[tuple[str, str, str | None]] = ()
    listed: frozenset[str] = frozenset()
    gone: tuple[str | None, str | None] | None = None
    complete: bool = False
    vanished: Sequence[str] = ()
    state: Mapping[str, str | None] = attrs.field(factory=dict)


# ---------------------------------------------------------------- pure helpers


def is_id(value: object) -> bool:
    """A ticket id as the mirror keeps it: a str of ASCII digits."""
    return isinstance(value, str) and value.isascii() and value.isdigit()


def id_key(ticket_id: str) -> tuple[int, str]:
    """The numeric order of digit strings without leading zeros."""
    return (len(ticket_id), ticket_id)


def id_range_sql(above: str | None, below: str | None) -> tuple[str, list[Any]]:
    """A WHERE clause selecting ids strictly between ``above`` and ``below``
    (numerically; ``None`` is unbounded), shaped so that SQLite can use the
    ``(length(id), id)`` index."""
    clauses: list[str] = []
    params: list[Any] = []
    if above is not None and below is not None and len(above) == len(below):
        return "(length(id) = ? AND id > ? AND id < ?)", [len(above), above, below]
    if above is not None:
        clauses.append("(length(id) = ? AND id > ?) OR length(id) > ?")
        params += [len(above), above, len(above)]
    if below is not None:
        clauses.append("(length(id) = ? AND id < ?) OR length(id) < ?")
        params += [len(below), below, len(below)]
    if not clauses:
        return "1", []
    return " AND ".join(f"({c})" for c in clauses), params


def clean_text(value: object) -> str | None:
    """A value for a queryable TEXT column: a str (lone surrogates replaced
    by U+FFFD; the exact value stays in the JSON column), or ``None``."""
    if not isinstance(value, str):
        return None
    if value.isascii():
        return value
    try:
        value.encode()
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def clean_int(value: object) -> int | None:
    """A value for the INTEGER ``number`` column: ``None`` past 64 bits (the
    column's affinity would turn its text into a rounded REAL; the exact
    value is in the JSON)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if value in _INT64 else None


def _field(record: Mapping[str, Any], *path: str) -> Any:
    value: Any = record
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def summary_row(record: Mapping[str, Any], summary_json: str) -> tuple[Any, ...]:
    """The queryable columns of one summary record (the server's own JSON)."""
    return (
        record["id"],
        clean_int(record.get("number")),
        clean_text(_field(record, "status", "internalType")),
        clean_text(record.get("priority")),
        clean_text(_field(record, "requester", "email")),
        clean_text(record.get("createdAt")),
        clean_text(record.get("updatedAt")),
        summary_json,
    )


def validate_state(row: Mapping[str, Any]) -> SyncState:
    """Check every field of the state row; ``SyncStateDamaged`` names the first bad one."""

    def bad(text: str) -> SyncStateDamaged:
        return SyncStateDamaged(f"the sync state is damaged: {text}")

    for name in ("desk", "base_url", "created_at"):
        if not isinstance(row[name], str) or not row[name]:
            raise bad(f"{name} is {row[name]!r}")
    for name in ("last_sync_at", "last_refresh_at"):
        if row[name] is not None and not isinstance(row[name], str):
            raise bad(f"{name} is {row[name]!r}")
    for name in _POSITIONS:
        value = row[name]
        if value is not None and not (is_id(value) and (value == "0" or not value.startswith("0"))):
            raise bad(f"{name} is {value!r}, not a ticket id")
    state = SyncState(**{name: row[name] for name in _STATE_COLUMNS})
    top, cursor, high = state.walk_top, state.walk_cursor, state.high_water
    if (top is None) != (cursor is None):
        raise bad(f"walk_top is {top!r} but walk_cursor is {cursor!r}")
    if top is not None and cursor is not None:
        if id_key(cursor) > id_key(top):
            raise bad(f"walk_cursor {cursor} is above walk_top {top}")
        if high is not None and id_key(cursor) <= id_key(high):
            raise bad(f"walk_cursor {cursor} is not above high_water {high}")
    return state


# ---------------------------------------------------------------- the lock


def lock_path(db: Path) -> Path:
    """The lock a sync holds for its whole run (see ``_filelock``)."""
    return db.with_name(db.name + ".lock")


def acquire_lock(db: Path) -> contextlib.AbstractContextManager[None]:
    """Take ``<db>.lock``: a second sync on the same database fails at once with
    ``SyncLocked`` (not after SQLite's busy timeout), and the OS releases the
    lock when the process dies, however it dies. Returns what releases it."""
    # Beside the file itself, so a symlink or another spelling of the path
    # finds the same lock.
    lock = lock_path(db.resolve())
    held = exclusive_lock(lock, str(db))
    try:
        held.__enter__()
    except LockBusy:
        raise SyncLocked(f"another sync is using {db} (it holds {lock}); wait for it to finish") from None
    return held


# ---------------------------------------------------------------- opening


def refuse_hard_links(db: Path) -> None:
    """Refuse a database file with more than one name: the lock is taken by
    name, and SQLite keeps a WAL per name, so two syncs through two names would
    write one file through two logs (SQLite's own list of ways to corrupt a
    database). Raises ``SyncError``."""
    try:
        links = os.stat(db).st_nlink
    except FileNotFoundError:
        return
    if links > 1:
        raise SyncError(
            f"{db} has {links} hard links: a sync database must have one name "
            "(copy it instead of linking it)"
        )


def connect(db: Path) -> sqlite3.Connection:
    """Open the database in autocommit mode (transactions are explicit), WAL."""
    conn = sqlite3.connect(db, isolation_level=None, timeout=5.0)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode = WAL").fetchone()
        # In WAL mode NORMAL never corrupts: a power cut may lose the last
        # commits, and with them their state, so a rerun simply redoes them.
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise SyncMismatch(f"{db} is not a headoni sync database ({exc})") from None
    return conn


def prepare(
    conn: sqlite3.Connection, db: Path, desk: str, base_url: str, *, reset_state: bool = False
) -> SyncState:
    """Create the schema in a new database, or check an existing one: its
    schema version, that it mirrors this desk at this base URL, and its state.

    Raises ``SyncMismatch`` (another desk or base URL, a later schema, not a
    sync database) and ``SyncStateDamaged``.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        state = _prepare(conn, db, desk, base_url, reset_state)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return state


def _prepare(conn: sqlite3.Connection, db: Path, desk: str, base_url: str, reset_state: bool) -> SyncState:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
    if version == 0 and not tables:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute(
            "INSERT INTO sync_state (only, desk, base_url, created_at) VALUES (1, ?, ?, ?)",
            (desk, base_url, now_iso()),
        )
    elif version > SCHEMA_VERSION:
        raise SyncMismatch(
            f"{db} has schema version {version}, written by a later headoni-async "
            f"(this one reads up to {SCHEMA_VERSION}): upgrade headoni-async"
        )
    elif version != SCHEMA_VERSION or "sync_state" not in tables:
        raise SyncMismatch(f"{db} is not a headoni sync database (a database of something else)")
    rows = conn.execute("SELECT * FROM sync_state").fetchall()
    if len(rows) != 1:
        if not reset_state:
            raise SyncStateDamaged(f"the sync state of {db} is damaged: {len(rows)} state rows")
        conn.execute("DELETE FROM sync_state")
        conn.execute(
            "INSERT INTO sync_state (only, desk, base_url, created_at) VALUES (1, ?, ?, ?)",
            (desk, base_url, now_iso()),
        )
        rows = conn.execute("SELECT * FROM sync_state").fetchall()
    row = dict(rows[0])
    for name, wanted in (("desk", desk), ("base_url", base_url)):
        if isinstance(row[name], str) and row[name] and row[name] != wanted:
            what = "desk" if name == "desk" else "base URL"
            raise SyncMismatch(
                f"{db} mirrors {what} {row[name]!r}, not {wanted!r}: use another --db for this desk"
            )
    if reset_state:
        # Forget where the walks were (and a damaged identity): the next walk
        # covers the whole desk again, rewriting only what differs.
        values = {"desk": desk, "base_url": base_url, **dict.fromkeys(_POSITIONS)}
        if not isinstance(row["created_at"], str) or not row["created_at"]:
            values["created_at"] = now_iso()
        for name in ("last_sync_at", "last_refresh_at"):
            if not isinstance(row[name], str):
                values[name] = None
        _set_state(conn, values)
        conn.execute("DELETE FROM sync_unlisted")
        row.update(values)
    try:
        return validate_state(row)
    except SyncStateDamaged as exc:
        raise SyncStateDamaged(
            f"{db}: {exc}; nothing was changed (--reset-state makes the next sync walk the whole "
            "desk again, keeping every row)"
        ) from None


# ---------------------------------------------------------------- reading and writing


def _set_state(conn: sqlite3.Connection, values: Mapping[str, str | None]) -> None:
    unknown = set(values) - set(_STATE_COLUMNS)
    if unknown:
        raise ValueError(f"not state columns: {sorted(unknown)}")
    if values:
        assignments = ", ".join(f"{name} = ?" for name in values)
        conn.execute(f"UPDATE sync_state SET {assignments} WHERE only = 1", list(values.values()))  # noqa: S608 - column names from the fixed list above


def stored(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, Stored]:
    """What the mirror holds for these ids (absent ids are not in the result)."""
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = conn.execute(
        "SELECT id, updated_at, deleted_at, ticket_updated_at, ticket IS NOT NULL "  # noqa: S608 - only placeholders
        f"FROM tickets WHERE id IN ({marks})",
        list(ids),
    )
    return {r[0]: Stored(r[1], r[2] is not None, r[3], bool(r[4])) for r in rows}


@attrs.frozen
class Written:
    """What one ``write_page`` changed."""

    new: int = 0
    changed: int = 0
    restored: int = 0
    deleted: int = 0
    vanished: int = 0


def write_page(conn: sqlite3.Connection, page: PageWrite, now: str) -> Written:
    """Write one page and the state that covers it, in one transaction.

    A summary row is written only when its ticket is new, marked deleted, or
    its ``updated_at`` differs from the stored one: an unchanged ticket is
    never rewritten."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        have = stored(conn, [row[0] for row in page.summaries])
        new = changed = restored = 0
        rows = []
        for row in page.summaries:
            old = have.get(row[0])
            if old is None:
                new += 1
            elif old.deleted:
                restored += 1
            elif old.updated_at != row[6]:
                changed += 1
            else:
                continue
            rows.append((*row, now))
        conn.executemany(
            """INSERT INTO tickets (id, number, status_type, priority, requester_email,
                                    created_at, updated_at, summary, synced_at, deleted_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)
               ON CONFLICT (id) DO UPDATE SET
                   number = excluded.number, status_type = excluded.status_type,
                   priority = excluded.priority, requester_email = excluded.requester_email,
                   created_at = excluded.created_at, updated_at = excluded.updated_at,
                   summary = excluded.summary, synced_at = excluded.synced_at, deleted_at = NULL""",
            rows,
        )
        conn.executemany(
            "UPDATE tickets SET ticket = ?, ticket_updated_at = ?, synced_at = ? WHERE id = ?",
            [(doc, updated, now, tid) for tid, doc, updated in page.wholes],
        )
        deleted = 0
        if page.gone is not None:
            above, below = page.gone
            if below is None:  # the first page of a refresh walk from the top
                conn.execute("DELETE FROM sync_unlisted")
            where, params = id_range_sql(above, below)
            listed = sorted(page.listed)
            marks = ",".join("?" * len(listed))
            conn.execute(
                "INSERT OR IGNORE INTO sync_unlisted (id) SELECT id FROM tickets "  # noqa: S608 - placeholders and fixed SQL only
                f"WHERE deleted_at IS NULL AND ({where})" + (f" AND id NOT IN ({marks})" if listed else ""),
                [*params, *listed],
            )
            if listed:  # listed anywhere in the walk is never gone (whatever the id's spelling)
                conn.execute(f"DELETE FROM sync_unlisted WHERE id IN ({marks})", listed)  # noqa: S608 - placeholders only
        if page.complete:
            deleted = conn.execute(
                "UPDATE tickets SET deleted_at = ? WHERE deleted_at IS NULL "
                "AND id IN (SELECT id FROM sync_unlisted)",
                (now,),
            ).rowcount
            conn.execute("DELETE FROM sync_unlisted")
        vanished = 0
        for tid in page.vanished:
            vanished += conn.execute(
                "UPDATE tickets SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL", (now, tid)
            ).rowcount
        _set_state(conn, page.state)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return Written(new=new, changed=changed, restored=restored, deleted=deleted, vanished=vanished)


def set_state(conn: sqlite3.Connection, values: Mapping[str, str | None]) -> None:
    """Set state columns in a transaction of their own."""
    write_page(conn, PageWrite(state=values), now_iso())


def replace_catalog(conn: sqlite3.Connection, table: str, rows: Iterable[tuple[str, Any, str]]) -> None:
    """Replace ``departments`` or ``ticket_types`` with ``(id, name, raw JSON)`` rows."""
    if table not in ("departments", "ticket_types"):
        raise ValueError(f"not a catalog table: {table}")
    now = now_iso()
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(f"DELETE FROM {table}")  # noqa: S608 - one of two fixed names
        conn.executemany(
            f"INSERT OR REPLACE INTO {table} (id, name, raw, synced_at) VALUES (?, ?, ?, ?)",  # noqa: S608 - fixed name
            [(tid, clean_text(name), raw, now) for tid, name, raw in rows],
        )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def is_empty(conn: sqlite3.Connection) -> bool:
    """Whether the mirror holds no ticket at all (not even one marked deleted)."""
    return conn.execute("SELECT 1 FROM tickets LIMIT 1").fetchone() is None


def listed_count(conn: sqlite3.Connection) -> int:
    """Tickets in the mirror that the desk still lists (not marked deleted)."""
    return int(conn.execute("SELECT count(*) FROM tickets WHERE deleted_at IS NULL").fetchone()[0])


# ---------------------------------------------------------------- the async face


class Mirror:
    """The mirror database, driven from the event loop: every call runs on one
    dedicated thread that owns the connection. Use ``async with await
    Mirror.open(...)``; closing waits for a call still running, so the
    connection is never closed under a transaction."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="headoni-sync-db")
        self._conn: sqlite3.Connection | None = None
        self._lock: contextlib.AbstractContextManager[None] | None = None
        self._state: SyncState | None = None

    @property
    def state(self) -> SyncState:
        """The state row as it was when the database was opened."""
        if self._state is None:
            raise SyncError(f"the database {self.db} is not open")
        return self._state

    @classmethod
    async def open(cls, db: Path, desk: str, base_url: str, *, reset_state: bool = False) -> Mirror:
        """Lock, open and check the database (see ``prepare``); raises ``SyncLocked``,
        ``SyncMismatch``, ``SyncStateDamaged``, ``SyncError``, or ``InvalidArgument``
        for ``:memory:``, a path that is a folder or in a folder that does not exist."""
        mirror = cls(db)
        try:
            mirror._state = await mirror._call(mirror._open, desk, base_url, reset_state)
        except BaseException:
            await mirror.close()
            raise
        return mirror

    def _open(self, desk: str, base_url: str, reset_state: bool) -> SyncState:
        if str(self.db) == ":memory:":  # SQLite's name for a database that dies with the run
            raise InvalidArgument(":memory: would keep the mirror in memory only: name a database file")
        if self.db.is_dir():
            raise InvalidArgument(f"{self.db} is a folder: name the database file in it")
        if not self.db.parent.is_dir():
            raise InvalidArgument(f"the folder of {self.db} does not exist")
        self._lock = acquire_lock(self.db)
        refuse_hard_links(self.db)
        self._conn = connect(self.db)
        return prepare(self._conn, self.db, desk, base_url, reset_state=reset_state)

    async def _call(self, fn: Callable[..., _T], *args: Any) -> _T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except sqlite3.Error as exc:
            raise SyncError(f"the database {self.db} failed: {exc}") from None

    async def run(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run ``fn(connection, *args)`` on the database thread."""
        return await self._call(self._with_conn, fn, *args)

    def _with_conn(self, fn: Callable[..., _T], *args: Any) -> _T:
        if self._conn is None:
            raise SyncError(f"the database {self.db} is closed")
        return fn(self._conn, *args)

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        lock, self._lock = self._lock, None
        try:
            if conn is not None:
                conn.close()
        finally:
            if lock is not None:
                lock.__exit__(None, None, None)

    async def close(self) -> None:
        """Close the connection and release the lock (after any call still
        running on the database thread). Idempotent."""
        loop = asyncio.get_running_loop()
        done = loop.run_in_executor(self._executor, self._close)
        try:
            # The close runs after the running call, on the database thread, and
            # is waited for even when the caller is cancelled, so the caller's
            # next sync is not SyncLocked.
            await await_release(done)
        finally:
            self._executor.shutdown(wait=False)

    async def __aenter__(self) -> Mirror:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

