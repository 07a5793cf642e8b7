"""The dlt source, through real dlt pipelines into DuckDB files, against the fake
desk on its own thread: what each run loads, what it asks the desk for, what
a failed run leaves behind, and where the token never goes.

dlt pipelines are slow to start, so each test is a story of several runs with
its assertions made after every run, not one pipeline per assertion.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from blockbuster import blockbuster_ctx

dlt = pytest.importorskip("dlt")
duckdb = pytest.importorskip("duckdb")

from dlt.pipeline.exceptions import PipelineStepFailed  # noqa: E402 - only with the extra

from headoni_async import InvalidArgument, InvalidArgumentType, RetryPolicy, ServerError  # noqa: E402
from headoni_async.dlt import _pick_rows, _writable, headoni_source  # noqa: E402
from headoni_async.testing import FakeDesk, Fault  # noqa: E402
from tests.helpers import token_leaks  # noqa: E402

ONE_TRY = RetryPolicy(attempts=1)
README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Everything dlt writes goes under tmp_path: HOME, dlt's data dir and the
    working directory are there, and telemetry is off (no network)."""
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt-data"))
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    monkeypatch.chdir(work)
    return home


@pytest.fixture
def fake(request: pytest.FixtureRequest) -> Iterator[FakeDesk]:
    """A fake desk of 250 tickets (three list pages; another count by indirect
    parametrization) on its own thread: dlt runs the source on its own event
    loop, and ``pipeline.run`` blocks."""
    desk = FakeDesk("acme", tickets=getattr(request, "param", 250), seed=11)
    with desk.serve_in_thread():
        yield desk


def pipeline(tmp_path: Path, name: str = "headoni") -> Any:
    return dlt.pipeline(
        name,
        pipelines_dir=str(tmp_path / "pipelines"),
        destination=dlt.destinations.duckdb(str(tmp_path / "warehouse.duckdb")),
        dataset_name="headoni",
    )


def query(p: Any, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with p.sql_client() as client:
        return [tuple(row) for row in client.execute_sql(sql, *args)]


def loaded_rows(p: Any, table: str) -> int:
    """How many rows of ``table`` the last run extracted (0 when none)."""
    counts = p.last_trace.last_normalize_info.row_counts
    return int(counts.get(table, 0))


def store_rows(fake: FakeDesk) -> dict[str, tuple[Any, ...]]:
    """The fake's tickets as the warehouse should hold them (a lone surrogate as U+FFFD)."""
    return {
        str(t.id): (t.number, _fffd(t.subject), t.priority, t.status.label, t.email, t.updated_at)
        for t in fake.store.iter_tickets()
    }


def table_rows(p: Any) -> dict[str, tuple[Any, ...]]:
    rows = query(
        p,
        "SELECT id, number, subject, priority, status__label, requester__email, updated_at FROM tickets",
    )
    return {r[0]: (r[1], r[2], r[3], r[4], r[5], _iso(r[6])) for r in rows}


def _fffd(text: str) -> str:
    return re.sub("[\ud800-\udfff]", "\ufffd", text)


def _iso(value: Any) -> str:
    # dlt types ISO timestamps as timestamps; the fake keeps the API's text.
    if isinstance(value, str):
        return value
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def public_messages(fake: FakeDesk) -> dict[str, list[str]]:
    """Each ticket's public message ids, oldest first, as the desk holds them."""
    return {
        str(t.id): [
            m.id
            for m in sorted(fake.store.messages_of(t), key=lambda m: (m.created_at, m.id))
            if not m.internal
        ]
        for t in fake.store.iter_tickets()
    }


def messages_by_ticket(p: Any) -> dict[str, list[str]]:
    rows = query(
        p,
        "SELECT t.id, m.id FROM tickets__messages m JOIN tickets t ON m._dlt_parent_id = t._dlt_id "
        "ORDER BY t.id, m._dlt_list_idx",
    )
    got: dict[str, list[str]] = {}
    for ticket_id, message_id in rows:
        got.setdefault(ticket_id, []).append(message_id)
    return got


def assert_no_token(root: Path, token: str, *texts: str) -> None:
    secret = token.removeprefix("hd_").encode()
    assert len(secret) > 8
    for path in root.rglob("*"):
        if path.is_file():
            assert secret not in path.read_bytes(), path
    for text in texts:
        assert secret.decode() not in text


def test_runs_load_everything_then_only_the_new_and_changed_and_a_failed_run_loses_nothing(
    home: Path, tmp_path: Path, fake: FakeDesk
) -> None:
    token = fake.mint_token({"tickets:read"})
    p = pipeline(tmp_path)

    def run(**options: Any) -> int:
        before = fake.count("list_tickets")
        p.run(headoni_source(desk="acme", token=token, base_url=fake.base_url, retry=ONE_TRY, **options))
        return fake.count("list_tickets") - before

    def cursor() -> str:
        return str(p.state["sources"]["headoni"]["resources"]["tickets"]["desks"]["acme"]["last_id"])

    # First run: everything, three list pages, values as the desk holds them.
    assert run(refresh=True) == 3
    assert loaded_rows(p, "tickets") == 250
    assert table_rows(p) == store_rows(fake)
    assert query(p, "SELECT name FROM departments ORDER BY name") == [("Billing",), ("Engineering",), ("Support",)]
    assert query(p, "SELECT count(*) FROM ticket_types") == [(3,)]
    assert cursor() == fake.store.all_ids_desc()[0]  # dlt's state: the newest id loaded

    # New tickets and changed ones: one with fields the models do not know (one of them
    # a number no warehouse integer holds), one with a lone surrogate (valid JSON, never
    # valid UTF-8). Either would make dlt fail every run from then on if passed as is.
    # And one removed from the desk: the warehouse keeps it as last loaded.
    new_ids = fake.add_tickets(30)
    old = fake.store.all_ids_desc()[100:102]
    gone = fake.store.all_ids_desc()[102]
    fake.edit_ticket(old[0], subject="Edited \ud800 subject")
    fake.edit_ticket(old[1], extra={"sentimentScore": 0.25, "bigNumber": 10**30})
    fake.remove_ticket(gone)
    assert run(refresh=True) == 3  # a refresh walks the whole list...
    assert loaded_rows(p, "tickets") == 32  # ...and loads only the new and the changed
    rows = table_rows(p)
    kept = rows.pop(gone)
    assert rows == store_rows(fake) and kept[0] > 1000
    assert set(new_ids) <= set(rows)
    seen = p.state["sources"]["headoni"]["resources"]["tickets"]["desks"]["acme"]["updated_at"]
    assert set(seen) == set(fake.store.all_ids_desc())  # the removed one is forgotten in the state
    assert query(p, "SELECT id, sentiment_score, big_number FROM tickets WHERE sentiment_score IS NOT NULL") == [
        (old[1], 0.25, str(10**30))  # exact, as text
    ]
    assert query(p, "SELECT subject FROM tickets WHERE id = ?", old[0]) == [("Edited \ufffd subject",)]

    # 150 new tickets, two pages; the second list request of the next run fails for good.
    fake.add_tickets(150)
    fake.edit_ticket(old[0], subject="Edited again, not looked at without refresh")
    before = cursor()
    fake.inject(Fault.error(503, "unavailable"), route="list_tickets", on=fake.count("list_tickets") + 2)
    with pytest.raises(PipelineStepFailed) as failed:
        run()
    assert _caused_by(failed.value, ServerError)
    assert frame_leaks(failed.value, token) == []  # what an error tracker would capture
    assert cursor() == before  # the failed run committed no state...
    assert query(p, "SELECT count(*) FROM tickets") == [(280,)]  # ...and loaded no row
    fake.clear_faults()

    # The next run loads what the failed one did not, nothing twice, and stops at the old cursor.
    assert run() == 2
    assert loaded_rows(p, "tickets") == 150
    assert query(p, "SELECT count(*), count(DISTINCT id) FROM tickets") == [(430, 430)]
    assert query(p, "SELECT subject FROM tickets WHERE id = ?", old[0]) == [("Edited \ufffd subject",)]
    assert cursor() == fake.store.all_ids_desc()[0]

    # Nothing new: one request, no ticket row; departments and types replaced, not appended.
    assert run() == 1
    assert loaded_rows(p, "tickets") == 0
    assert query(p, "SELECT count(*) FROM departments") == [(3,)]
    assert_no_token(tmp_path, token, str(p.last_trace), str(failed.value), repr(p.state))


@pytest.mark.parametrize("fake", [60], indirect=True)  # whole tickets: one request each
def test_full_tickets_with_messages_after_a_partial_run_a_refresh_and_then_another_desk(
    home: Path, tmp_path: Path, fake: FakeDesk
) -> None:
    token = fake.mint_token({"tickets:read"})
    p = pipeline(tmp_path)
    source = {"desk": "acme", "token": token, "base_url": fake.base_url, "full": True, "page_size": 25}

    # A run stopped early (dlt's add_limit: one page) loads that page and keeps the cursor
    # where it was, so the next run loads the rest instead of skipping it.
    p.run(headoni_source(**source).add_limit(1))
    assert loaded_rows(p, "tickets") == 25
    # dlt runs the resources on its own event loop, in a thread; blockbuster raises on
    # any blocking call made there (dlt's own file work runs on the main thread).
    with blockbuster_ctx():
        p.run(headoni_source(**source, refresh=True))
    assert loaded_rows(p, "tickets") == 60  # the first page again (merged) and the rest
    assert table_rows(p) == store_rows(fake)
    assert query(p, "SELECT count(*), count(DISTINCT id) FROM tickets WHERE department__name IS NOT NULL") == [
        (60, 60)
    ]
    assert messages_by_ticket(p) == public_messages(fake)  # public only, oldest first, each once
    assert not query(p, "SELECT 1 FROM tickets__messages WHERE body_md LIKE 'INTERNAL NOTE%'")

    # A refresh fetches whole only the ticket that changed, and replaces its messages.
    changed = fake.store.all_ids_desc()[40]
    fake.edit_ticket(changed, subject="Changed, fetched whole again")
    before = fake.count("get_ticket")
    p.run(headoni_source(**source, refresh=True))
    assert fake.count("get_ticket") - before == 1
    assert loaded_rows(p, "tickets") == 1
    assert table_rows(p) == store_rows(fake)
    assert messages_by_ticket(p) == public_messages(fake)

    # The same pipeline pointed at another desk: its cursor is its own, so none of its
    # tickets is skipped for being older than the first desk's newest.
    other = FakeDesk("globex", tickets=120, seed=5)
    with other.serve_in_thread():
        assert int(other.store.all_ids_desc()[-1]) < int(fake.store.all_ids_desc()[0])
        p.run(headoni_source(desk="globex", token=other.mint_token({"tickets:read"}), base_url=other.base_url))
    assert loaded_rows(p, "tickets") == 120
    assert query(p, "SELECT count(*) FROM tickets") == [(180,)]


def test_the_same_slug_at_another_base_url_has_a_cursor_of_its_own(home: Path, tmp_path: Path) -> None:
    # Tried first on a local fake desk, then pointed at the real one under the same
    # slug: the fake's newest id must not hide the real desk's older tickets.
    first, second = FakeDesk("acme", tickets=30, seed=1), FakeDesk("acme", tickets=20, seed=2)
    p = pipeline(tmp_path)
    for desk in (first, second):
        with desk.serve_in_thread():
            p.run(headoni_source(desk="acme", token=desk.mint_token({"tickets:read"}), base_url=desk.base_url))
    assert int(second.store.all_ids_desc()[0]) < int(first.store.all_ids_desc()[0])
    assert loaded_rows(p, "tickets") == 20
    assert {r[0] for r in query(p, "SELECT id FROM tickets")} >= set(second.store.all_ids_desc())


def test_the_module_names_one_documented_source() -> None:
    import headoni_async.dlt as module

    assert module.__all__ == ["headoni_source"]
    assert "Raises:" in (module.headoni_source.__doc__ or "")


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"page_size": 0}, InvalidArgument),
        ({"page_size": 101}, InvalidArgument),
        ({"concurrency": True}, InvalidArgumentType),
        ({"desk": "support.acme.com"}, InvalidArgument),
        ({"token": "hd_bad token"}, InvalidArgument),
        ({"base_url": "http://example.com/api/v1"}, InvalidArgument),  # plain http off loopback
    ],
)
def test_bad_arguments_fail_when_the_source_is_made(
    home: Path, fake: FakeDesk, options: dict[str, Any], error: type[Exception]
) -> None:
    arguments = {"desk": "acme", "token": fake.mint_token(), "base_url": fake.base_url, **options}
    with pytest.raises(error) as bad:
        headoni_source(**arguments)
    assert "bad token" not in str(bad.value)
    # Not in this module's frames (dlt's argument binding and the desk's own checks are theirs).
    assert [leak for leak in frame_leaks(bad.value, arguments["token"]) if leak.startswith("_headoni(")] == []
    assert fake.count() == 0


def test_readme_example_runs_with_the_token_from_dlt_secrets_and_leaves_it_nowhere(
    home: Path,
    tmp_path: Path,
    fake: FakeDesk,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    section = README.read_text(encoding="utf-8").split("## Load into a warehouse", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    token = fake.mint_token({"tickets:read"})
    # dlt's environment provider: the way a deployment passes secrets and config.
    monkeypatch.setenv("SOURCES__HEADONI__TOKEN", token)
    monkeypatch.setenv("SOURCES__HEADONI__BASE_URL", fake.base_url)
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "DEBUG")
    caplog.set_level(logging.DEBUG)
    scope: dict[str, Any] = {}
    exec(compile(code.group(1), "README.md", "exec"), scope)  # noqa: S102 - our own README
    con = duckdb.connect(str(Path.cwd() / "headoni.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM acme.tickets").fetchone() == (250,)
        assert con.execute("SELECT count(*) FROM acme.departments").fetchone() == (3,)
    finally:
        con.close()
    p = scope["pipeline"]
    trace = p.last_trace
    assert any(v.key == "token" and v.is_secret_hint for v in trace.resolved_config_values)
    out, err = capfd.readouterr()
    # Everything under tmp_path: dlt's data dir (pipeline working dir, trace,
    # state, schemas, load packages), the DuckDB file, and HOME, which stays empty.
    assert_no_token(tmp_path, token, str(trace), repr(trace), repr(p.state), caplog.text, out, err)
    assert not any(home.iterdir())


@pytest.mark.parametrize(
    ("since", "seen", "refresh", "loaded", "newest"),
    [
        (None, None, False, ["1000", "999", "998"], 1000),
        (999, None, False, ["1000"], 1000),  # numbers, not text: "999" > "1000" as text
        (1000, None, False, [], 1000),
        (999, {"999": "a", "998": "b"}, True, ["1000"], 1000),  # unchanged: not loaded again
        (999, {"999": "a", "998": "old"}, True, ["1000", "998"], 1000),  # changed
        (999, {"999": "a"}, True, ["1000", "998"], 1000),  # never seen: loaded
        (999, None, True, ["1000", "999", "998"], 1000),
    ],
)
def test_pick_rows(
    since: int | None, seen: dict[str, str] | None, refresh: bool, loaded: list[str], newest: int
) -> None:
    records = [{"id": "1000", "updatedAt": "a"}, {"id": "999", "updatedAt": "a"}, {"id": "998", "updatedAt": "b"}]
    rows, top = _pick_rows(records, since=since, seen=seen, refresh=refresh)
    assert [r["id"] for r in rows] == loaded
    assert top == newest
    assert all(r is records[[x["id"] for x in records].index(r["id"])] for r in rows)  # as sent, not copied
    assert _pick_rows([], since=since, seen=seen, refresh=refresh) == ([], None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "plain"),
        ("Müller 😀", "Müller 😀"),
        ("a\ud800b\udfff", "a\ufffdb\ufffd"),
        (2**63 - 1, 2**63 - 1),
        (2**63, "9223372036854775808"),
        (-(2**63), -(2**63)),
        (-(2**63) - 1, "-9223372036854775809"),
        (10**4000, "1" + "0" * 4000),
        (True, True),
        (1.5, 1.5),
        (None, None),
        ({"k\udfff": [1, 10**30, {"x": "\udc00"}]}, {"k\ufffd": [1, str(10**30), {"x": "\ufffd"}]}),
    ],
)
def test_writable_values(value: Any, expected: Any) -> None:
    assert _writable(value) == expected


def test_writable_hands_back_the_same_record_when_nothing_needs_it() -> None:
    record = {"id": "1", "subject": "Müller", "n": [1, {"a": None, "b": 2.5}], "ok": True}
    assert _writable(record) is record
    odd = {"id": "2", "n": [1, {"a": 2**64}]}
    fixed = _writable(odd)
    assert fixed == {"id": "2", "n": [1, {"a": str(2**64)}]} and odd["n"][1]["a"] == 2**64  # a copy


def frame_leaks(exc: BaseException, token: str) -> list[str]:
    return token_leaks(exc, token, skip=__file__)


def _caused_by(exc: BaseException, cls: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, cls):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
