"""`headoni export` never destroys, mixes or truncates data: lines are the
server's own JSON; a fresh run replaces the target only when it completes;
one run per target; resume only the same export, from a checkpoint whose
every field is checked; stdout and closed pipes; kills at random moments.

Against a fake desk on its own thread, with the CLI in-process or as a real
process (kills, locks, pipes, resource limits)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headoni_async import AsyncDesk, InvalidArgument, ServerError
from headoni_async._checkpoint import ExportRefused, parse_checkpoint
from headoni_async._export import export_tickets
from headoni_async.cli import main
from headoni_async.testing import FakeDesk, Fault
from headoni_async.testing._fake import _summary, _ticket_document

from .documents import ODD
from .helpers import cancelled_while_closing, run_cli, wait_until_sync

CLI = [sys.executable, "-m", "headoni_async.cli", "export"]
OLD = b'{"previous":"export","kept":true}\n'


@pytest.fixture
def env(headoni_fake_desk: FakeDesk, monkeypatch: pytest.MonkeyPatch) -> FakeDesk:
    monkeypatch.setenv("HEADONI_DESK", headoni_fake_desk.slug)
    monkeypatch.setenv("HEADONI_BASE_URL", headoni_fake_desk.base_url)
    monkeypatch.setenv("HEADONI_TOKEN", headoni_fake_desk.mint_token())
    return headoni_fake_desk


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """The target, holding a previous export that must survive any failure."""
    path = tmp_path / "t.jsonl"
    path.write_bytes(OLD)
    return path


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_bytes().splitlines()]


def _files(out: Path) -> dict[str, bytes | None]:
    """Every file of an export, as bytes (None when absent)."""
    names = [out.name + s for s in ("", ".partial", ".checkpoint", ".lock")]
    return {n: (out.parent / n).read_bytes() if (out.parent / n).exists() else None for n in names}


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _unfinished(env: FakeDesk, out: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> None:
    """Leave an unfinished export to ``out``: the desk fails from the run's 3rd page on."""
    start = env.count("list_tickets")
    env.inject(Fault.html_error(503), route="list_tickets", on=range(start + 3, start + 10_000))
    assert run_cli(["export", "--out", str(out), *extra]) == 1
    capsys.readouterr()
    env.clear_faults()


# ---------------------------------------------------------------- the server's own JSON


@pytest.mark.headoni_fake(tickets=120, seed=4)
@pytest.mark.parametrize("full", [False, True], ids=["summaries", "full"])
def test_every_line_is_the_servers_object_exactly(env: FakeDesk, out: Path, full: bool) -> None:
    ids = env.store.all_ids_desc()
    env.edit_ticket(ids[3], extra=ODD)
    env.edit_ticket(ids[110], extra={"tags": ["vip"], "assignee": None, "sla": {"due": "soon"}})
    odd_time = env.store.lookup(ids[5])
    odd_time.created_at = "0999-01-01T00:00:00.123456+02:00"  # not what our models would write
    odd_time.summary_json = None
    assert main(["export", "--out", str(out), *(["--full"] if full else [])]) == 0
    lines = out.read_bytes().splitlines()
    expected = [_ticket_document(env.store, t) if full else _summary(t) for t in env.store.iter_tickets()]
    assert [json.loads(line) for line in lines] == expected
    third = json.loads(lines[3])
    assert {k: third[k] for k in ODD} == ODD
    assert json.loads(lines[5])["createdAt"] == "0999-01-01T00:00:00.123456+02:00"
    assert b"\\ud83d" in lines[3] and "\U0001f600".encode() in lines[3]  # escape kept, astral as UTF-8
    assert b"123456789012345678901234567890" in lines[3]  # every digit, not a float
    assert not (out.parent / "t.jsonl.checkpoint").exists()
    assert not (out.parent / "t.jsonl.partial").exists() and not (out.parent / "t.jsonl.lock").exists()


# ---------------------------------------------------------------- a failing run changes nothing


@pytest.mark.headoni_fake(tickets=1000, seed=5)
def test_a_failing_fresh_export_leaves_the_previous_file_byte_identical(
    env: FakeDesk, out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env.inject(Fault.html_error(503), route="list_tickets", on=range(4, 10_000))
    assert run_cli(["export", "--out", str(out)]) == 1
    line = _one_line(capsys.readouterr().err)
    assert "503" in line and "300 tickets are saved" in line
    assert "--resume to continue from the last page saved" in line
    assert out.read_bytes() == OLD
    partial = out.parent / "t.jsonl.partial"
    assert _ids(partial) == env.store.all_ids_desc()[:300]
    # The resumed run fails too: still nothing changed.
    assert run_cli(["export", "--out", str(out), "--resume"]) == 1
    assert out.read_bytes() == OLD
    env.clear_faults()
    assert main(["export", "--out", str(out), "--resume"]) == 0
    assert _ids(out) == env.store.all_ids_desc()


@pytest.mark.parametrize("fault", ["revoked", "typo"])
def test_a_run_failing_before_any_ticket_leaves_nothing_to_resume(
    env: FakeDesk, out: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    if fault == "revoked":
        monkeypatch.setenv("HEADONI_TOKEN", "hd_revoked")
        code, argv = 1, ["export", "--out", str(out)]
    else:
        code, argv = 2, ["export", "--out", str(out), "--status", "opne"]
    assert run_cli(argv) == code
    line = _one_line(capsys.readouterr().err)
    assert "--resume" not in line
    assert _files(out) == {
        "t.jsonl": OLD,
        "t.jsonl.partial": None,
        "t.jsonl.checkpoint": None,
        "t.jsonl.lock": None,
    }


@pytest.mark.headoni_fake(tickets=500, seed=5)
def test_a_429_says_its_retry_after(env: FakeDesk, out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env.inject(Fault.error(429, "rate_limited", retry_after="30"), route="list_tickets", on=3)
    assert run_cli(["export", "--out", str(out)]) == 1
    line = _one_line(capsys.readouterr().err)
    assert "429" in line and "wait 30 s" in line and "Retry-After" in line and "--resume" in line
    assert out.read_bytes() == OLD


# ---------------------------------------------------------------- unfinished exports and their checkpoints


@pytest.mark.headoni_fake(tickets=500, seed=5)
def test_a_fresh_export_over_an_unfinished_one_is_refused(
    env: FakeDesk, out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _unfinished(env, out, capsys)
    before = _files(out)
    assert run_cli(["export", "--out", str(out)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "unfinished export" in line and "--resume" in line and "--restart" in line
    assert _files(out) == before
    assert run_cli(["export", "--out", str(out), "--resume", "--restart"]) == 2
    assert _files(out) == before
    assert main(["export", "--out", str(out), "--restart"]) == 0
    assert _ids(out) == env.store.all_ids_desc()


@pytest.mark.headoni_fake(tickets=500, seed=5)
@pytest.mark.parametrize(
    "change",
    [["--status", "open"], ["--requester-email", "a@example.com"], ["--full"], ["other-url"], ["other-desk"]],
)
def test_resume_of_another_export_is_refused(
    env: FakeDesk,
    out: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    change: list[str],
) -> None:
    _unfinished(env, out, capsys)
    before = _files(out)
    other = FakeDesk("globex" if change == ["other-desk"] else "acme", tickets=500, seed=5)
    with other.serve_in_thread() as other_url:
        argv = ["export", "--out", str(out), "--resume"]
        if change[0].startswith("other-"):
            monkeypatch.setenv("HEADONI_BASE_URL", other_url)
            monkeypatch.setenv("HEADONI_TOKEN", other.mint_token())
            if change == ["other-desk"]:
                monkeypatch.setenv("HEADONI_DESK", "globex")
        else:
            argv += change
        assert run_cli(argv) == 2
        assert other.count() == 0
    line = _one_line(capsys.readouterr().err)
    assert "needs the same desk, base URL, filters and mode" in line and "--restart" in line
    assert _files(out) == before
    assert env.count("list_tickets") == 3  # only the first run's


def _checkpoint_cases() -> Iterator[Any]:
    for key in ("offset", "count", "cursor", "lastId", "desk", "baseUrl", "filters", "mode", "format"):
        yield pytest.param(key, "missing", id=f"{key}-missing")
    bad: dict[str, list[Any]] = {
        "offset": ["abc", None, 1.5, -1, True, "100", [], 10**30],
        "count": ["abc", None, 2.5, -3, False, 10**30],
        "cursor": ["abc", 123, "", "-5", "١٢٣", {}],
        "lastId": [7, "x", ""],
        "desk": [5, "", None],
        "baseUrl": [None, 1],
        "filters": [None, [], {"status": None}, {"status": 1, "requesterEmail": None}],
        "mode": ["everything", None, 1],
        "format": [2, 0, "1", True, None, 1.0],
    }
    for key, values in bad.items():
        for i, value in enumerate(values):
            yield pytest.param(key, value, id=f"{key}-{i}")
    yield pytest.param("unknown", "field", id="unknown-field")


GOOD_CHECKPOINT: dict[str, Any] = {
    "format": 1,
    "desk": "acme",
    "baseUrl": "http://127.0.0.1:8080/api/v1",
    "filters": {"status": None, "requesterEmail": None},
    "mode": "summaries",
    "cursor": "1490375649312800768",
    "lastId": "1490375649312800768",
    "offset": 600,
    "count": 2,
}


def test_a_good_checkpoint_parses() -> None:
    saved = parse_checkpoint(json.dumps(GOOD_CHECKPOINT).encode(), Path("x"))
    assert saved.to_json() == GOOD_CHECKPOINT and saved.offset == 600


@pytest.mark.parametrize(("key", "value"), list(_checkpoint_cases()))
def test_every_checkpoint_field_is_validated(key: str, value: Any) -> None:
    data = dict(GOOD_CHECKPOINT)
    if value == "missing":
        del data[key]
    else:
        data[key] = value
    if key == "offset" and value == 10**30:
        parse_checkpoint(json.dumps(data).encode(), Path("x"))  # valid: the partial file's size decides
        return
    with pytest.raises(ExportRefused, match=r"x .*(damaged|another version).*--restart"):
        parse_checkpoint(json.dumps(data).encode(), Path("x"))


@pytest.mark.parametrize(
    ("count", "offset", "last_id", "cursor"),
    [(0, 10, None, None), (5, 0, "1", "1"), (1, 2, "1", "1"), (1, 9, None, "1"), (2, 90, "1", None)],
)
def test_checkpoint_counts_must_agree(
    count: int, offset: int, last_id: str | None, cursor: str | None
) -> None:
    data = {**GOOD_CHECKPOINT, "count": count, "offset": offset, "lastId": last_id, "cursor": cursor}
    with pytest.raises(ExportRefused, match="damaged"):
        parse_checkpoint(json.dumps(data).encode(), Path("x"))


@pytest.mark.headoni_fake(tickets=300, seed=5)
@pytest.mark.parametrize(
    ("key", "value"), [("offset", "abc"), ("count", None), ("offset", 1.5), ("format", 2), ("offset", 10**30)]
)
def test_a_damaged_checkpoint_is_one_line_exit_2_and_nothing_changes(
    env: FakeDesk, out: Path, capsys: pytest.CaptureFixture[str], key: str, value: Any
) -> None:
    _unfinished(env, out, capsys)
    checkpoint = out.parent / "t.jsonl.checkpoint"
    checkpoint.write_text(json.dumps({**json.loads(checkpoint.read_bytes()), key: value}))
    before = _files(out)
    requests = env.count()
    assert run_cli(["export", "--out", str(out), "--resume"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert ("checkpoint" in line or "shorter" in line) and "--restart" in line
    assert _files(out) == before and env.count() == requests


@pytest.mark.parametrize(
    "raw", [b"", b"not json", b"[]", b"\xff\xfe", b'{"format": 1', b"null", b'{"format": NaN}']
)
def test_a_checkpoint_that_is_not_a_json_object_is_refused(raw: bytes) -> None:
    with pytest.raises(ExportRefused, match=r"(damaged|another version)"):
        parse_checkpoint(raw, Path("x.checkpoint"))


@pytest.mark.headoni_fake(tickets=300, seed=5)
@pytest.mark.parametrize("damage", ["deleted", "shorter", "other-last-line", "longer"])
def test_the_partial_file_changed_between_runs(
    env: FakeDesk, out: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    _unfinished(env, out, capsys)
    partial = out.parent / "t.jsonl.partial"
    data = partial.read_bytes()
    if damage == "deleted":
        partial.unlink()
    elif damage == "shorter":
        partial.write_bytes(data[:-10])
    elif damage == "other-last-line":
        lines = data.splitlines(keepends=True)
        partial.write_bytes(b"".join(lines[:-1]) + lines[-1].replace(b'"id":"', b'"id":"9'))
    else:  # a page half-written when the process died: cut away, then resumed
        partial.write_bytes(data + b'{"id":"123","subj')
    if damage == "longer":
        assert main(["export", "--out", str(out), "--resume"]) == 0
        assert _ids(out) == env.store.all_ids_desc()
        return
    before = _files(out)
    assert run_cli(["export", "--out", str(out), "--resume"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "--restart" in line
    assert _files(out) == before


def test_resume_with_nothing_unfinished_starts_afresh(env: FakeDesk, out: Path) -> None:
    assert main(["export", "--out", str(out), "--resume"]) == 0
    assert _ids(out) == env.store.all_ids_desc()
    assert main(["export", "--out", str(out), "--resume"]) == 0  # again: the same file
    assert _ids(out) == env.store.all_ids_desc()


# ---------------------------------------------------------------- odd targets


def test_odd_targets_are_refused_before_any_request(
    env: FakeDesk, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "dir.jsonl").mkdir()
    os.mkfifo(tmp_path / "fifo")
    for target, words in [
        (tmp_path / "dir.jsonl", "is a directory"),
        (tmp_path / "fifo", "not a regular file"),
        (tmp_path / "missing" / "t.jsonl", "folder does not exist"),
    ]:
        assert run_cli(["export", "--out", str(target)]) == 2
        assert words in _one_line(capsys.readouterr().err)
    assert env.count() == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.jsonl", "fifo"]


def test_a_symlink_target_replaces_the_file_it_points_to(env: FakeDesk, out: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.jsonl"
    link.symlink_to(out)
    out.chmod(0o600)
    assert main(["export", "--out", str(link)]) == 0
    assert link.is_symlink() and _ids(out) == env.store.all_ids_desc()
    assert out.stat().st_mode & 0o777 == 0o600  # never more readable than the file it replaced


@contextlib.contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    """A folder no entry can be created in: chmod, or for root (who ignores
    modes) the immutable attribute, where the file system has it."""
    if os.geteuid() != 0:
        folder.chmod(0o500)
        try:
            yield
        finally:
            folder.chmod(0o700)
        return
    chattr = shutil.which("chattr")
    set_immutable = [chattr, "+i", str(folder)] if chattr else []
    if not set_immutable or subprocess.run(set_immutable, capture_output=True, check=False).returncode:  # noqa: S603 - chattr on our tmp folder
        pytest.skip("root ignores modes, and this file system has no immutable attribute")
    try:
        yield
    finally:
        subprocess.run([*set_immutable[:1], "-i", str(folder)], check=True)  # noqa: S603 - chattr on our tmp folder


def test_a_read_only_folder(env: FakeDesk, out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with _read_only(out.parent):
        assert run_cli(["export", "--out", str(out)]) == 1
        line = _one_line(capsys.readouterr().err)
        assert ("Permission denied" in line or "not permitted" in line) and "t.jsonl.lock" in line
        assert out.read_bytes() == OLD and env.count() == 0


# ---------------------------------------------------------------- stdout and pipes


@pytest.mark.headoni_fake(tickets=300, seed=5)
def test_out_dash_is_stdout_and_not_resumable(
    env: FakeDesk, capsysbinary: pytest.CaptureFixture[bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["export", "--out", "-"]) == 0
    captured = capsysbinary.readouterr()
    assert [json.loads(x)["id"] for x in captured.out.splitlines()] == env.store.all_ids_desc()
    assert captured.err == b"" and list(tmp_path.iterdir()) == []
    for flag in ("--resume", "--restart"):
        assert run_cli(["export", "--out", "-", flag]) == 2
        assert b"need --out FILE" in capsysbinary.readouterr().err


@pytest.mark.headoni_fake(tickets=1000, seed=5)
def test_a_closed_pipe_ends_quietly(env: FakeDesk) -> None:
    proc = subprocess.Popen(CLI, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # noqa: S603 - fixed argv
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()  # like `| head -n 1`
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=30) == 0
    assert json.loads(first)["id"] == env.store.all_ids_desc()[0]
    assert err == b""


# ---------------------------------------------------------------- one run at a time, and kills


def _spawn(out: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
        [*CLI, "--out", str(out), *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _saved(out: Path) -> int:
    try:
        return int(json.loads((out.parent / (out.name + ".checkpoint")).read_bytes())["count"])
    except (OSError, ValueError, KeyError):
        return 0


@pytest.mark.headoni_fake(tickets=1000, seed=5, latency=0.02)
def test_two_exports_to_one_target_at_once(
    env: FakeDesk, out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _spawn(out)
    wait_until_sync(lambda: _saved(out) > 0, within=20)
    started = time.monotonic()
    for argv in (["--out", str(out)], ["--out", str(out), "--resume"], ["--out", str(out), "--restart"]):
        assert run_cli(["export", *argv]) == 1
        line = _one_line(capsys.readouterr().err)
        assert "another run is working on" in line
    assert time.monotonic() - started < 5  # at once, not after the other run
    _, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    assert _ids(out) == env.store.all_ids_desc()


@pytest.mark.headoni_fake(tickets=2000, seed=5, latency=0.02)
def test_killed_at_random_moments_then_resumed_loses_and_repeats_nothing(env: FakeDesk, out: Path) -> None:
    moments = [round(random.uniform(0.3, 0.9), 3) for _ in range(3)]
    for moment in moments:
        proc = _spawn(out, "--resume")
        time.sleep(moment)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.stderr is not None
        proc.stderr.close()
        done = out.read_bytes()
        # Never anything in between. (The moments are in the message, to replay a failure.)
        assert done == OLD or _ids(out) == env.store.all_ids_desc(), moments
    assert main(["export", "--out", str(out), "--resume"]) == 0
    assert _ids(out) == env.store.all_ids_desc(), moments


@pytest.mark.headoni_fake(tickets=3000, seed=5, latency=0.03)
@pytest.mark.parametrize(
    ("sig", "code", "word"), [(signal.SIGINT, 130, b"interrupted"), (signal.SIGTERM, 143, b"terminated")]
)
def test_ctrl_c_saves_the_last_page_and_resume_completes(
    env: FakeDesk, out: Path, sig: int, code: int, word: bytes
) -> None:
    proc = _spawn(out)
    wait_until_sync(lambda: _saved(out) > 0, within=20)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == code, err
    assert word + b" (the last page is saved: run again with --resume)" in err
    assert b"Traceback" not in err and out.read_bytes() == OLD
    written = len(_ids(out.parent / "t.jsonl.partial"))
    assert 0 < written < 3000 and _saved(out) == written  # every whole page written is saved
    env.latency = 0
    assert main(["export", "--out", str(out), "--resume"]) == 0
    assert _ids(out) == env.store.all_ids_desc()


@pytest.mark.headoni_fake(tickets=1000, seed=5)
def test_a_full_disk_mid_run(env: FakeDesk, out: Path) -> None:
    import resource

    def limit() -> None:  # EFBIG past 40 kB, as a full disk gives ENOSPC
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))

    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
        [*CLI, "--out", str(out)], stderr=subprocess.PIPE, preexec_fn=limit
    )
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    line = _one_line(err.decode())
    assert "File too large" in line and "--resume to continue from the last page saved" in line
    assert out.read_bytes() == OLD
    assert main(["export", "--out", str(out), "--resume"]) == 0
    assert _ids(out) == env.store.all_ids_desc()


# ---------------------------------------------------------------- the library call


async def test_tickets_deleted_during_a_full_export_are_counted_not_written(
    headoni_fake_desk: FakeDesk, tmp_path: Path
) -> None:
    fake = headoni_fake_desk
    doomed = fake.store.all_ids_desc()[150]

    def on_page(progress: Any) -> None:
        if progress.pages == 1:
            fake.remove_ticket(doomed)  # on the next page, which may already be listed

    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url) as desk:
        result = await export_tickets(desk, tmp_path / "t.jsonl", full=True, on_page=on_page)
        with pytest.raises(InvalidArgument):
            await export_tickets(desk, tmp_path / "t.jsonl", resume=True, restart=True)
        with pytest.raises(InvalidArgument):
            await export_tickets(desk, tmp_path / "t.jsonl", concurrency=0)
    assert _ids(tmp_path / "t.jsonl") == fake.store.all_ids_desc()
    assert result.vanished in (0, 1) and result.total_in_file == 249


async def test_a_failure_between_checkpoints_saves_every_whole_page(
    headoni_fake_desk: FakeDesk, tmp_path: Path
) -> None:
    fake = headoni_fake_desk
    fake.inject(Fault.html_error(503), route="list_tickets", on=5)
    out = tmp_path / "t.jsonl"
    seen: list[int] = []
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url) as desk:
        with pytest.raises(ServerError):
            await export_tickets(
                desk, out, page_size=20, checkpoint_every=3600, on_page=lambda p: seen.append(_saved(out))
            )
        assert seen == [20, 20, 20, 20]  # the first page only, while the run went well
        assert _saved(out) == 80  # then, failing, every whole page written
        fake.clear_faults()
        result = await export_tickets(desk, out, resume=True, page_size=20)
    assert result.tickets == 170 and _ids(out) == fake.store.all_ids_desc()


def test_a_full_export_resumes_exactly(env: FakeDesk, out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env.inject(Fault.error(500, "boom"), route="get_ticket", on=150)
    assert run_cli(["export", "--full", "--concurrency", "4", "--out", str(out)]) == 1
    assert "100 tickets are saved" in _one_line(capsys.readouterr().err)
    first_run = env.count("get_ticket")
    assert json.loads((out.parent / "t.jsonl.checkpoint").read_bytes())["mode"] == "full"
    assert run_cli(["export", "--out", str(out), "--resume"]) == 2  # summaries: another export
    assert main(["export", "--full", "--out", str(out), "--resume"]) == 0
    docs = [json.loads(line) for line in out.read_bytes().splitlines()]
    assert docs == [_ticket_document(env.store, t) for t in env.store.iter_tickets()]
    assert env.count("get_ticket") == first_run + 150  # from the failed page on, each once


@pytest.mark.headoni_fake(tickets=300, seed=5)
def test_symlinks_planted_beside_the_target_are_never_written_through(
    env: FakeDesk, out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    _unfinished(env, out, capsys)
    (tmp_path / "t.jsonl.checkpoint.tmp").symlink_to(victim)
    assert main(["export", "--out", str(out), "--resume"]) == 0
    assert victim.read_bytes() == b"precious" and _ids(out) == env.store.all_ids_desc()
    capsys.readouterr()
    _unfinished(env, out, capsys)
    partial = tmp_path / "t.jsonl.partial"
    victim.write_bytes(partial.read_bytes())
    partial.unlink()
    partial.symlink_to(victim)
    assert run_cli(["export", "--out", str(out), "--resume"]) == 1
    assert "t.jsonl.partial" in _one_line(capsys.readouterr().err)
    partial.unlink()
    (tmp_path / "t.jsonl.lock").symlink_to(victim)
    assert run_cli(["export", "--out", str(out), "--restart"]) == 1
    assert "t.jsonl.lock" in _one_line(capsys.readouterr().err)
    assert victim.read_bytes().count(b"\n") == 200  # what it held, untouched


@pytest.mark.headoni_fake(tickets=0)
def test_an_empty_desk_exports_an_empty_file(
    env: FakeDesk, out: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert main(["export", "--out", str(out)]) == 0
    assert out.read_bytes() == b"" and b"exported 0 tickets in 1 pages" in capsysbinary.readouterr().err
    assert sorted(p.name for p in out.parent.iterdir()) == ["t.jsonl"]
    assert main(["export"]) == 0 and capsysbinary.readouterr().out == b""


async def test_a_target_that_cannot_be_replaced_at_the_end_stays_resumable(
    headoni_fake_desk: FakeDesk, tmp_path: Path
) -> None:
    fake = headoni_fake_desk
    out = tmp_path / "t.jsonl"

    def on_page(progress: Any) -> None:
        if progress.pages == 3:  # the last page: the target turns into a folder
            out.mkdir()

    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url) as desk:
        with pytest.raises(IsADirectoryError):
            await export_tickets(desk, out, on_page=on_page, checkpoint_every=0)
        assert _saved(out) == 250
        out.rmdir()
        result = await export_tickets(desk, out, resume=True)
    assert result.tickets == 0 and _ids(out) == fake.store.all_ids_desc()
    assert fake.count("list_tickets") == 3 + 1  # one empty page below the last ticket, nothing again


def test_a_read_only_target_keeps_its_mode_and_can_be_resumed(
    env: FakeDesk, out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out.chmod(0o400)
    _unfinished(env, out, capsys)
    assert main(["export", "--out", str(out), "--resume"]) == 0
    assert _ids(out) == env.store.all_ids_desc() and stat.S_IMODE(out.stat().st_mode) == 0o400


def test_two_names_for_one_file_share_its_lock(
    env: FakeDesk, out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from headoni_async._checkpoint import ExportFiles
    from headoni_async._filelock import exclusive_lock

    link = tmp_path / "link.jsonl"
    link.symlink_to(out)
    with exclusive_lock(ExportFiles.beside(out).lock, "the test"):  # as another run would
        assert run_cli(["export", "--out", str(link)]) == 1
        assert "another run is working on" in _one_line(capsys.readouterr().err)
    assert out.read_bytes() == OLD and env.count() == 0
    assert not (tmp_path / "t.jsonl.lock").exists()  # removed when released


async def test_cancelled_while_closing_releases_the_lock_before_it_returns(
    headoni_fake_desk: FakeDesk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Cancelled as it closes (the export had just finished): the caller's next
    # export must not find the lock still held (LockBusy).
    from headoni_async import _export

    fake = headoni_fake_desk
    out = tmp_path / "t.jsonl"
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url) as desk:
        await cancelled_while_closing(monkeypatch, _export._FileOutput, "close", lambda: export_tickets(desk, out))
        await export_tickets(desk, out)  # not LockBusy
    assert _ids(out) == fake.store.all_ids_desc()


async def test_cancelled_during_the_final_rename_leaves_no_checkpoint_behind(
    headoni_fake_desk: FakeDesk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl-C while the finished file is being put in place: the rename runs
    # on, so the target is the whole export, and no checkpoint may then claim
    # an unfinished export (one that --resume refuses, as its lines are gone).
    import threading

    from headoni_async import _export

    fake = headoni_fake_desk
    out = tmp_path / "t.jsonl"
    renamed, cancelled = threading.Event(), threading.Event()

    def sync_dir(folder: Path) -> None:  # runs right after the rename, on the worker thread
        renamed.set()
        cancelled.wait(5)

    monkeypatch.setattr(_export, "_sync_dir", sync_dir)
    async with AsyncDesk("acme", fake.mint_token(), base_url=fake.base_url) as desk:
        task = asyncio.ensure_future(export_tickets(desk, out, page_size=20, checkpoint_every=3600))
        while not renamed.is_set():  # noqa: ASYNC110 - a thread's event
            await asyncio.sleep(0.005)
        task.cancel()
        cancelled.set()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert _ids(out) == fake.store.all_ids_desc()
    assert _files(out)[out.name + ".checkpoint"] is None
    assert _files(out)[out.name + ".partial"] is None
