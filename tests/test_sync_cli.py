"""``headoni sync`` end to end: the command, its errors and exit codes, signals,
and SIGKILL at random moments followed by a rerun (subprocesses running the
CLI against a fake desk on its own thread, real SQLite files)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from headoni_async import AsyncDesk
from headoni_async import _mirror as mirror
from headoni_async.cli import main
from headoni_async.testing import FakeDesk

from .conftest import CANARY
from .helpers import assert_mirror_is_the_desk, audited, on_a_terminal, query, rows, run_cli

KILLS = int(os.environ.get("HEADONI_SYNC_KILLS", "6"))
"""SIGKILLs in the kill test (the suite keeps it small; set it to 50 for the long run)."""


def _check(fake: FakeDesk, db: Path, *, whole: bool = False) -> None:
    async def run() -> None:
        async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url) as desk:
            await assert_mirror_is_the_desk(db, desk, whole=whole)

    asyncio.run(run())


def _spawn(db: Path, *extra: str, **kw: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
        [sys.executable, "-m", "headoni_async.cli", "sync", "--db", str(db), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
        **kw,
    )


def _stored(db: Path) -> int:
    """Tickets committed so far (0 before the schema exists)."""
    try:
        return len(rows(db)) if db.exists() else 0
    except sqlite3.OperationalError:
        return 0


def test_sync_command(env: FakeDesk, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "t.db"
    assert main(["sync", "--db", str(db), "--full"]) == 0
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1 and "synced 250 new, 0 changed, 0 deleted, 0 restored, 250 fetched whole" in err
    )
    assert "3 pages, 255 requests, 0 retries" in err and f"250 tickets in {db}" in err
    env.edit_ticket(1010, priority="urgent")
    assert main(["sync", "--db", str(db), "--refresh", "--full", "--concurrency", "2"]) == 0
    assert "0 new, 1 changed, 0 deleted, 0 restored, 1 fetched whole" in capsys.readouterr().err
    _check(env, db)


def _hold_lock(db: Path) -> Any:
    handle = db.with_name(db.name + ".lock").open("a+b")
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    return handle


def test_errors_are_one_line_with_their_exit_codes(
    env: FakeDesk, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "t.db"
    assert main(["sync", "--db", str(db)]) == 0
    capsys.readouterr()

    def fails(code: int, says: str) -> None:
        assert run_cli(["sync", "--db", str(db)]) == code
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("headoni: error: ") and says in err, err
        assert "Traceback" not in err and CANARY not in err

    held = _hold_lock(db)
    started = time.monotonic()
    fails(1, "another sync is using")
    assert time.monotonic() - started < 4  # not SQLite's 5 s busy timeout
    held.close()
    monkeypatch.setenv("HEADONI_TOKEN", CANARY)
    fails(1, "refused the token")
    monkeypatch.setenv("HEADONI_BASE_URL", env.base_url.replace("127.0.0.1", "localhost"))
    fails(2, "mirrors base URL")
    monkeypatch.setenv("HEADONI_BASE_URL", env.base_url)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE sync_state SET high_water = 'not an id'")
    conn.commit()
    conn.close()
    fails(2, "--reset-state")
    monkeypatch.setenv("HEADONI_TOKEN", env.mint_token())
    assert main(["sync", "--db", str(db), "--reset-state"]) == 0
    assert "synced 0 new, 0 changed" in capsys.readouterr().err
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {mirror.SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    fails(2, "upgrade headoni-async")
    (tmp_path / "junk.db").write_text("not a database\n" * 200)
    assert run_cli(["sync", "--db", str(tmp_path / "junk.db")]) == 2
    assert "not a headoni sync database" in capsys.readouterr().err
    # (":memory:" is SQLite's in-memory database: the run would "sync" into RAM and keep nothing.)
    places = ((tmp_path, "is a folder"), (tmp_path / "no" / "t.db", "does not exist"), (":memory:", "in memory"))
    for where, says in places:
        assert run_cli(["sync", "--db", str(where)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and says in err and ".lock" not in err, err


SIGNALS = [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]

# A process that imports the CLI once, then forks one child per run: each child
# is a whole `headoni sync` process (killed for real) that starts in
# milliseconds instead of the interpreter's half second, so the test can afford
# many kills. It forks before any thread exists, so the children are sound.
_FORKER = """
import json, os, sys
from headoni_async.cli import main
for line in sys.stdin:
    argv, log = json.loads(line)
    pid = os.fork()
    if pid == 0:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, 2)
        code = 1
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except KeyboardInterrupt:  # Ctrl-C after the command had returned
            code = 199
        finally:
            sys.stderr.flush()
            os._exit(code)
    print(pid, flush=True)
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


class Forker:
    """Runs ``headoni`` in forked children of one warm process."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter, a fixed script
            [sys.executable, "-c", _FORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )

    def start(self, argv: list[str], log: Path) -> int:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps([argv, str(log)]) + "\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def wait(self) -> int:
        assert self.proc.stdout is not None
        return int(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=20)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.mark.headoni_fake(tickets=300, seed=9)
def test_killed_at_random_moments_then_rerun_equals_the_desk(env: FakeDesk, tmp_path: Path) -> None:
    """Stopped at random moments, by Ctrl-C, SIGTERM, then SIGKILL (new tickets
    arriving between runs), then run to the end: every ticket once, every field
    equal, and no row written twice (triggers inside each page's own
    transaction count every write)."""
    rng = random.Random()
    seed = rng.randrange(10**6)
    rng.seed(seed)
    db = tmp_path / "t.db"
    audited(db, env.base_url)
    env.latency = 0.002
    kills = 0
    log = tmp_path / "stderr.txt"
    forker = Forker()
    try:
        for round_ in range(len(SIGNALS) + KILLS):
            if round_ % 2:
                env.add_tickets(rng.randint(1, 150))  # new tickets above an interrupted walk
            sig, code, word = SIGNALS[round_] if round_ < len(SIGNALS) else (signal.SIGKILL, -9, "")
            start = env.count()
            pid = forker.start(["sync", "--db", str(db), "--full"], log)
            deadline = time.monotonic() + 10
            while env.count() == start and time.monotonic() < deadline:
                time.sleep(0.002)
            if round_ == len(SIGNALS):
                pass  # the first SIGKILL lands right after the run's first request: surely mid-run
            else:
                time.sleep(rng.uniform(0, 0.1 if sig != signal.SIGKILL else 0.4))
            with contextlib.suppress(ProcessLookupError):  # (it may be done already)
                os.kill(pid, sig)
            status = forker.wait()
            err = log.read_text()
            if status == -9:
                kills += 1
            elif status != 0 and "synced" not in err:
                # It stopped the work: the command noticed, one line, the database named.
                # (A signal after the summary line may end the process any way it likes.)
                assert status == code, err
                assert word in err and "run sync again" in err and "Traceback" not in err
    finally:
        forker.close()
    env.latency = 0
    assert main(["sync", "--db", str(db), "--full"]) == 0
    _check(env, db, whole=True)
    writes = query(db, "SELECT what, count(*), count(DISTINCT id) FROM audit GROUP BY what ORDER BY what")
    total = len(env.store.all_ids_desc())
    assert writes == [("insert", total, total), ("ticket", total, total)], f"seed {seed}"
    assert query(db, "SELECT walk_top, walk_cursor FROM sync_state") == [(None, None)]
    assert kills >= min(KILLS, 1), f"seed {seed}: no run was killed"


@pytest.mark.headoni_fake(tickets=300, seed=5)
def test_progress_on_a_terminal(env: FakeDesk, tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "headoni_async.cli", "sync", "--db", str(tmp_path / "t.db")]
    code, screen = on_a_terminal(argv)
    assert code == 0
    assert "new tickets: 300 new, 0 changed, 0 deleted, 0 fetched whole, 3 pages" in screen
    assert "synced 300 new" in screen


def test_summary_json_is_queryable(env: FakeDesk, tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    assert main(["sync", "--db", str(db)]) == 0
    (summary,) = query(db, "SELECT summary FROM tickets ORDER BY number LIMIT 1")[0]
    assert json.loads(summary)["number"] == 1001
