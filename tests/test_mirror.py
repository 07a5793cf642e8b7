"""The sync's SQLite side on real database files: schema, identity, state
validation, the lock, one transaction per page, and the pure helpers."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headoni_async import SyncError, SyncLocked, SyncMismatch, SyncStateDamaged
from headoni_async import _mirror as db

from .helpers import cancelled_while_closing

BASE = "http://127.0.0.1:1/api/v1"


async def _open(path: Path, desk: str = "acme", base_url: str = BASE, **kw: Any) -> db.Mirror:
    return await db.Mirror.open(path, desk, base_url, **kw)


async def test_a_new_database_gets_the_schema_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    async with await _open(path) as mirror:
        assert mirror.state.high_water is None and mirror.state.desk == "acme"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION
    columns = [r[1] for r in conn.execute("PRAGMA table_info(tickets)")]
    assert columns[:11] == [
        "id", "number", "status_type", "priority", "requester_email", "created_at",
        "updated_at", "summary", "ticket", "ticket_updated_at", "synced_at",
    ]
    assert "deleted_at" in columns
    for table in ("departments", "ticket_types"):
        assert [r[1] for r in conn.execute(f"PRAGMA table_info({table})")] == ["id", "name", "raw", "synced_at"]
    conn.close()


async def test_reopening_keeps_the_state(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    async with await _open(path) as mirror:
        await mirror.run(db.set_state, {"high_water": "1500"})
    async with await _open(path) as mirror:
        assert mirror.state.high_water == "1500"


@pytest.mark.parametrize(
    ("desk", "base_url", "says"),
    [("other", BASE, "desk 'acme'"), ("acme", "http://127.0.0.1:2/api/v1", "base URL")],
)
async def test_another_desk_or_base_url_is_refused(tmp_path: Path, desk: str, base_url: str, says: str) -> None:
    path = tmp_path / "t.db"
    await (await _open(path)).close()
    before = path.read_bytes()
    with pytest.raises(SyncMismatch, match=says) as info:
        await _open(path, desk, base_url)
    assert "\n" not in str(info.value)
    assert path.read_bytes() == before


async def test_a_later_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    await (await _open(path)).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {db.SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(SyncMismatch, match="later headoni-async"):
        await _open(path)


async def test_other_files_are_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not SQLite at all" * 100)
    with pytest.raises(SyncMismatch, match="not a headoni sync database"):
        await _open(junk)
    assert junk.read_bytes() == b"this is not SQLite at all" * 100
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (x)")
    conn.commit()
    conn.close()
    with pytest.raises(SyncMismatch, match="not a headoni sync database"):
        await _open(other)


DAMAGE = [
    ("high_water", "'abc'", "high_water is 'abc'"),
    ("high_water", "'\u0661\u0665'", "not a ticket id"),  # digits, but not ASCII ones
    ("refresh_cursor", "''", "refresh_cursor is ''"),
    ("high_water", "'-5'", "not a ticket id"),
    ("high_water", "x'3135'", "high_water is b'15'"),
    ("walk_top", "'2000'", "walk_cursor is None"),
    ("walk_cursor", "'2000'", "walk_top is None"),
    ("desk", "''", "desk is ''"),
    ("base_url", "NULL", "base_url is None"),  # (NOT NULL: set by a table rebuild below)
    ("last_sync_at", "x'00'", "last_sync_at is b"),
]


@pytest.mark.parametrize(("column", "value", "says"), DAMAGE)
async def test_a_damaged_state_row_is_one_line_and_changes_nothing(
    tmp_path: Path, column: str, value: str, says: str
) -> None:
    path = tmp_path / "t.db"
    await (await _open(path)).close()
    conn = sqlite3.connect(path, isolation_level=None)
    if value == "NULL":
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute(
            "UPDATE sqlite_schema SET sql = replace(sql, 'base_url        TEXT NOT NULL', 'base_url TEXT') "
            "WHERE name = 'sync_state'"
        )
        conn.execute("PRAGMA writable_schema = OFF")
        conn.close()
        conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"UPDATE sync_state SET {column} = {value}")  # noqa: S608 - the test's own table of values
    conn.close()
    before = _dump(path)
    with pytest.raises(SyncStateDamaged, match=says) as info:
        await _open(path)
    assert "\n" not in str(info.value) and "--reset-state" in str(info.value)
    assert _dump(path) == before
    async with await _open(path, reset_state=True) as mirror:
        assert mirror.state.high_water is None and mirror.state.walk_top is None


async def test_inconsistent_walk_positions_are_damage(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    async with await _open(path) as mirror:
        await mirror.run(db.set_state, {"high_water": "1000", "walk_top": "900", "walk_cursor": "900"})
    with pytest.raises(SyncStateDamaged, match="not above high_water"):
        await _open(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE sync_state SET high_water = NULL, walk_top = '5', walk_cursor = '7'")
    conn.close()
    with pytest.raises(SyncStateDamaged, match="above walk_top"):
        await _open(path)


async def test_missing_or_extra_state_rows_are_damage(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    await (await _open(path)).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DELETE FROM sync_state")
    conn.close()
    with pytest.raises(SyncStateDamaged, match="0 state rows"):
        await _open(path)
    async with await _open(path, reset_state=True) as mirror:
        assert mirror.state.desk == "acme"


async def test_reset_state_still_refuses_another_desk(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    await (await _open(path)).close()
    with pytest.raises(SyncMismatch):
        await _open(path, "other", reset_state=True)


async def test_a_second_open_fails_at_once_while_the_first_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    async with await _open(path):
        with pytest.raises(SyncLocked, match="another sync is using") as info:
            await _open(path)
        assert "\n" not in str(info.value)
    async with await _open(path):  # released on close
        link = tmp_path / "elsewhere" / "link.db"
        link.parent.mkdir()
        link.symlink_to(path)
        with pytest.raises(SyncLocked):  # the same database by another name
            await _open(link)


async def test_a_hard_linked_database_is_refused_by_either_name(tmp_path: Path) -> None:
    # A hard link is the same file under a name the lock does not know, and
    # SQLite keeps its WAL per name: two syncs would write the file through
    # two logs at once. Refused before anything is written.
    path = tmp_path / "t.db"
    async with await _open(path):
        pass
    other = tmp_path / "other.db"
    other.hardlink_to(path)
    before = path.read_bytes()
    for name in (path, other):
        with pytest.raises(SyncError, match="hard link") as info:
            await _open(name)
        assert "\n" not in str(info.value)
    assert path.read_bytes() == before
    assert _names(tmp_path) == ["other.db", "t.db"]  # no lock, WAL or journal left


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def test_a_cancelled_close_releases_the_lock_before_it_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A sync cancelled while it closes (it had just finished) must not return
    # with the lock still held: the caller's next sync would be SyncLocked.
    path = tmp_path / "t.db"
    mirror = await _open(path)
    await cancelled_while_closing(monkeypatch, db.Mirror, "_close", mirror.close)
    async with await _open(path):  # not SyncLocked
        pass


async def test_one_transaction_per_page(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    rec = {"id": "1001", "number": 1, "updatedAt": "2026-01-01T00:00:00.000Z"}
    row = db.summary_row(rec, json.dumps(rec))
    async with await _open(path) as mirror:
        bad = db.PageWrite(summaries=[row], state={"not_a_column": "1"})
        with pytest.raises(ValueError, match="not state columns"):
            await mirror.run(db.write_page, bad, db.now_iso())
        assert await mirror.run(db.listed_count) == 0  # the summary was rolled back with it
        good = db.PageWrite(summaries=[row], state={"walk_top": "1001", "walk_cursor": "1001"})
        await mirror.run(db.write_page, good, db.now_iso())
        assert await mirror.run(db.listed_count) == 1


async def test_a_failing_database_is_a_sync_error(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    async with await _open(path) as mirror:

        def broken(conn: sqlite3.Connection) -> None:
            conn.execute("SELECT * FROM no_such_table")

        with pytest.raises(SyncError, match="no such table"):
            await mirror.run(broken)


def _dump(path: Path) -> list[Any]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


# ---------------------------------------------------------------- pure helpers

ids = st.integers(min_value=0, max_value=10**25).map(str)


@given(ids, st.one_of(st.none(), ids), st.one_of(st.none(), ids))
def test_id_range_sql_selects_exactly_the_numeric_range(x: str, above: str | None, below: str | None) -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE tickets (id TEXT PRIMARY KEY)")
    conn.execute("INSERT INTO tickets VALUES (?)", (x,))
    where, params = db.id_range_sql(above, below)
    query = f"SELECT count(*) FROM tickets WHERE {where}"  # noqa: S608 - placeholders only
    got = conn.execute(query, params).fetchone()[0]
    expected = (above is None or int(x) > int(above)) and (below is None or int(x) < int(below))
    assert got == int(expected)
    conn.close()


def test_id_range_sql_uses_the_index() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE tickets (id TEXT PRIMARY KEY)")
    conn.execute("CREATE INDEX tickets_id_order ON tickets (length(id), id)")
    for above, below in (("100", "200"), ("100", None), (None, "200"), ("99", "1000")):
        where, params = db.id_range_sql(above, below)
        query = f"EXPLAIN QUERY PLAN SELECT id FROM tickets WHERE {where}"  # noqa: S608 - placeholders only
        plan = " ".join(r[3] for r in conn.execute(query, params))
        assert "tickets_id_order" in plan and "SCAN" not in plan.replace("MULTI-INDEX OR", ""), plan
    conn.close()


def test_columns_never_refuse_a_value() -> None:
    assert db.clean_text("caf\u00e9 \ud83d") == "caf\u00e9 \ufffd"
    assert db.clean_text("\ud83d\ude00") == "\U0001f600"  # a pair that was split in two str code points
    assert db.clean_text(5) is None
    assert db.clean_int(10**30) is None and db.clean_int(True) is None and db.clean_int(7) == 7
    odd = {"id": "1", "number": 10**30, "status": "open", "requester": None, "priority": "\udc00"}
    row = db.summary_row(odd, "{}")
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a, b, c, d, e, f, g, h)")
    conn.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)  # no UnicodeEncodeError, no OverflowError
    assert conn.execute("SELECT b, c, d, e FROM t").fetchone() == (None, None, "\ufffd", None)
    conn.close()


async def test_the_number_column_never_holds_a_rounded_number(tmp_path: Path) -> None:
    # The real table's INTEGER affinity turns the text of a number past 64 bits
    # into a REAL (10**30 + 1 read back as 1e+30): a different number. The exact
    # value stays in the summary JSON; the flat column holds it exactly or not at all.
    numbers = [2**63 - 1, -(2**63), 10**30 + 1, -(10**20)]
    recs = [{"id": str(100 + i), "number": n, "updatedAt": "u"} for i, n in enumerate(numbers)]
    page = db.PageWrite(summaries=[db.summary_row(r, json.dumps(r)) for r in recs])
    async with await _open(tmp_path / "t.db") as mirror:
        await mirror.run(db.write_page, page, db.now_iso())

        def read(conn: sqlite3.Connection) -> list[Any]:
            return [r[0] for r in conn.execute("SELECT number FROM tickets ORDER BY id")]

        assert await mirror.run(read) == [2**63 - 1, -(2**63), None, None]


async def test_a_ticket_listed_anywhere_in_a_refresh_is_never_marked(tmp_path: Path) -> None:
    # "0123" sorts with the four-digit ids in the index, so the first page's range
    # query sees it although it is listed further down: it must not be marked.
    path = tmp_path / "t.db"
    recs = [{"id": i, "updatedAt": "u"} for i in ("500", "0123", "77")]
    rows_ = [db.summary_row(r, json.dumps(r)) for r in recs]
    async with await _open(path) as mirror:
        await mirror.run(db.write_page, db.PageWrite(summaries=rows_), db.now_iso())
        first = db.PageWrite(summaries=rows_[:1], listed=frozenset({"500"}), gone=("400", None))
        await mirror.run(db.write_page, first, db.now_iso())
        last = db.PageWrite(
            summaries=rows_[1:2], listed=frozenset({"0123"}), gone=(None, "400"), complete=True
        )
        written = await mirror.run(db.write_page, last, db.now_iso())
        assert written.deleted == 1  # "77" only: not listed by the walk
        assert await mirror.run(db.listed_count) == 2
