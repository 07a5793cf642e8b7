"""The README's export and records examples, run as written, so they cannot rot.

A fenced block right after ``<!-- readme-test: NAME -->`` is taken verbatim:
the Python one is executed, the shell one is run line by line against a fake
desk (``headoni`` being this checkout's CLI)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from headoni_async.cli import main
from headoni_async.testing import FakeDesk

README = Path(__file__).resolve().parent.parent / "README.md"


def _block(name: str) -> str:
    text = README.read_text()
    match = re.search(rf"<!-- readme-test: {name} -->\n```\w+\n(.*?)```", text, re.S)
    assert match, f"no readme-test block {name!r} in the README"
    return match.group(1)


def test_the_records_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    code = compile(_block("records"), "README.md:records", "exec")
    exec(code, {"__name__": "readme"})  # noqa: S102 - our own README, verbatim
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("1001 [") and "'tags'" in printed[0]


@pytest.mark.headoni_fake(tickets=300, seed=2)
def test_the_export_example_runs(
    headoni_fake_desk: FakeDesk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = headoni_fake_desk
    env = {"HEADONI_DESK": "acme", "HEADONI_BASE_URL": fake.base_url, "HEADONI_TOKEN": fake.mint_token()}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    for line in _block("export").splitlines():
        command = line.split("#", 1)[0].strip()
        if "|" in command:  # a pipeline: a real shell and process
            cli = f"{shlex.quote(sys.executable)} -m headoni_async.cli"
            shell = command.replace("headoni ", cli + " ", 1)
            done = subprocess.run(shell, shell=True, capture_output=True, check=False, timeout=60)  # noqa: S602 - a README line
            assert done.returncode == 0 and done.stderr == b"", done
            assert len(done.stdout.splitlines()) == 3
        else:
            argv = shlex.split(command)
            assert argv[0] == "headoni"
            assert main(argv[1:]) == 0, command
    ids = fake.store.all_ids_desc()
    assert [json.loads(x)["id"] for x in (tmp_path / "tickets.jsonl").read_text().splitlines()] == ids
    opened = [json.loads(x) for x in (tmp_path / "open.jsonl").read_text().splitlines()]
    assert opened and all(t["status"]["internalType"] == "open" and t["messages"] for t in opened)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["open.jsonl", "tickets.jsonl"]
