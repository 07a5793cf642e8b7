"""The headoni command end to end against a fake desk on its own thread."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from headoni_async.cli import main
from headoni_async.testing import FakeDesk, Fault

from .conftest import CANARY
from .documents import SUMMARY
from .helpers import on_a_terminal, run_cli


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


@pytest.mark.headoni_fake(tickets=2000, seed=5)
def test_export_equals_the_desk(env: FakeDesk, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "t.jsonl"
    assert main(["export", "--out", str(out)]) == 0
    assert _ids(out) == env.store.all_ids_desc()
    first = json.loads(out.read_text().splitlines()[0])
    assert set(first) == set(SUMMARY)
    assert "exported 2000 tickets in 20 pages" in capsys.readouterr().err


@pytest.mark.headoni_fake(tickets=300, seed=5)
def test_export_to_stdout_with_filters(env: FakeDesk, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["export", "--status", "open"]) == 0
    lines = capsysbinary.readouterr().out.decode().splitlines()
    expected = [str(t.id) for t in env.store.iter_tickets() if t.status.internal_type == "open"]
    assert [json.loads(x)["id"] for x in lines] == expected and expected


@pytest.mark.parametrize("tickets", [1, 100, 150, 700])
def test_demo_sizes(tickets: int, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["demo", "--tickets", str(tickets), "--out", str(tmp_path / "d.jsonl")]) == 0
    assert (
        f"with 2 injected connection failures: 2 retries, {tickets} lines, identical"
        in capsys.readouterr().out
    )


@pytest.mark.headoni_fake(tickets=150, seed=5)
def test_export_full_has_messages(env: FakeDesk, tmp_path: Path) -> None:
    out = tmp_path / "full.jsonl"
    assert main(["export", "--full", "--concurrency", "4", "--out", str(out)]) == 0
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [d["id"] for d in docs] == env.store.all_ids_desc()
    assert all(d["messages"] and "department" in d for d in docs)
    assert not any("INTERNAL NOTE" in m["bodyMd"] for d in docs for m in d["messages"])
    assert env.max_in_flight <= 5  # 4 fetches plus the page prefetch


@pytest.mark.headoni_fake(tickets=2000, seed=5)
def test_export_survives_injected_faults(env: FakeDesk, tmp_path: Path) -> None:
    env.inject(Fault.reset_mid_body(300), route="list_tickets", on=3)
    env.inject(Fault.truncate(), route="list_tickets", on=8)
    env.inject(Fault.reset(), route="list_tickets", on=12)
    out = tmp_path / "t.jsonl"
    assert main(["export", "--out", str(out)]) == 0
    assert _ids(out) == env.store.all_ids_desc()
    assert env.count("list_tickets") == 20 + 3


def test_ticket_get_human_and_json(env: FakeDesk, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ticket", "get", "1001"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("#1001 ") and "requester:" in text and "---" in text
    assert main(["ticket", "get", "1001", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["number"] == 1001 and doc["messages"]


def test_ticket_create_and_listings(env: FakeDesk, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["ticket", "create", "--email", "cli@example.com", "--subject", "From the CLI", "--body", "hi"]
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("created #")
    assert main([*argv, "--json", "--priority", "high"]) == 0
    assert json.loads(capsys.readouterr().out)["priority"] == "high"
    assert main(["departments"]) == 0
    assert "Support  (default)" in capsys.readouterr().out
    assert main(["ticket-types", "--json"]) == 0
    assert [t["name"] for t in json.loads(capsys.readouterr().out)] == [
        "Question",
        "Incident",
        "Internal task",
    ]


@pytest.mark.parametrize(
    ("setup", "argv", "code", "message"),
    [
        ("no-token", ["departments"], 2, "no token: set HEADONI_TOKEN"),
        (
            "read-only",
            ["ticket", "create", "--email", "a@b.co", "--subject", "s", "--body", "b"],
            1,
            "token lacks tickets:create: mint a token with that scope on the desk's API page",
        ),
        ("revoked", ["departments"], 1, "unauthenticated"),
        ("foreign", ["departments"], 1, "another desk"),
        ("canary", ["ticket", "get", "12a"], 2, "not all digits"),
        ("canary", ["ticket", "get", "999999"], 1, "no ticket 999999 on this desk"),
    ],
)
def test_errors_are_one_line_without_the_token(
    env: FakeDesk,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    setup: str,
    argv: list[str],
    code: int,
    message: str,
) -> None:
    token = CANARY
    env.store.tokens[CANARY.removeprefix("hd_")] = env.store.tokens[env.mint_token().removeprefix("hd_")]
    if setup == "no-token":
        monkeypatch.delenv("HEADONI_TOKEN")
    else:
        if setup == "read-only":
            env.store.tokens[CANARY.removeprefix("hd_")] = env.store.tokens[
                env.mint_token({"tickets:read"}).removeprefix("hd_")
            ]
        elif setup == "revoked":
            env.revoke(token)
        elif setup == "foreign":
            env.store.tokens[CANARY.removeprefix("hd_")] = env.store.tokens[
                env.mint_token(desk="globex").removeprefix("hd_")
            ]
        monkeypatch.setenv("HEADONI_TOKEN", token)
    assert run_cli(argv) == code
    out = capsys.readouterr()
    assert message in out.err and "Traceback" not in out.err
    assert len(out.err.strip().splitlines()) == 1
    assert CANARY not in out.err + out.out and CANARY.removeprefix("hd_") not in out.err + out.out


def test_demo(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["demo", "--tickets", "700", "--out", str(tmp_path / "d.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "exported 700 tickets in 7 pages" in out
    assert "exactly the desk's tickets, newest first" in out
    assert "with 2 injected connection failures: 2 retries, 700 lines, identical" in out
    assert len(_ids(tmp_path / "d.jsonl")) == 700


def test_fake_desk_command_serves_until_ctrl_c() -> None:
    import urllib.request

    proc = subprocess.Popen(
        [sys.executable, "-m", "headoni_async.cli", "fake-desk", "--port", "0", "--tickets", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        exports = proc.stdout.readline()
        assert first.startswith("fake desk 'acme' with 30 tickets at http://127.0.0.1:")
        settings = dict(part.split("=", 1) for part in exports.split()[1:])
        request = urllib.request.Request(  # noqa: S310 - a loopback http URL, checked below
            settings["HEADONI_BASE_URL"] + "/tickets?limit=100",
            headers={"Authorization": f"Bearer {settings['HEADONI_TOKEN']}"},
        )
        assert settings["HEADONI_BASE_URL"].startswith("http://127.0.0.1:")  # loopback only
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - a loopback http URL we just checked
            assert len(json.loads(resp.read())["tickets"]) == 30
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 130 and "Traceback" not in err


@pytest.mark.headoni_fake(tickets=1500, seed=5)
def test_progress_bar_on_a_terminal(env: FakeDesk, tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    code, screen = on_a_terminal([sys.executable, "-m", "headoni_async.cli", "export", "--out", str(out)])
    assert code == 0
    assert "1500 tickets, 15 pages" in screen and "tickets/s" in screen and "retries" in screen
    assert len(_ids(out)) == 1500
