"""The headoni command as gh users expect it, through real processes against a
fake desk: --version, python -m, global options after the subcommand, help,
one line per validation issue, errors that name the ticket and say when a check
was local, --base-url alone, number validation, a demo that cleans up, and the
tickets table.

The processes start together in one module-scoped fixture, so their start-up
overlaps instead of adding up.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from headoni_async import __version__
from headoni_async.cli import _parser
from headoni_async.testing import FakeDesk, fake_desk_fixture

from .helpers import on_a_terminal

headoni_fake_desk = fake_desk_fixture(scope="module", tickets=300, seed=4)

HEADONI = str(Path(sys.executable).with_name("headoni"))
MODULE = [sys.executable, "-m", "headoni_async"]


class Runs:
    """Every command of this module, started at once; ``result(name)`` waits for one."""

    def __init__(self, fake: FakeDesk, tmp: Path) -> None:
        self.tmp = tmp
        self.demo_tmp = tmp / "demo-tmp"
        self.demo_tmp.mkdir()
        token = fake.mint_token()
        desk_env = {**os.environ, "HEADONI_DESK": "acme", "HEADONI_TOKEN": token}
        desk_env["HEADONI_BASE_URL"] = fake.base_url
        desk_env.pop("COLUMNS", None)
        no_desk = {k: v for k, v in desk_env.items() if k not in ("HEADONI_DESK", "HEADONI_BASE_URL")}
        commands: dict[str, tuple[list[str], dict[str, str]]] = {
            "version": ([HEADONI, "--version"], desk_env),
            "module-version": ([*MODULE, "--version"], desk_env),
            "global-after": ([*MODULE, "departments", "-v", "--json"], desk_env),
            "create-invalid": (
                [*MODULE, "ticket", "create", "--email", "not-an-email", "--subject", "", "--body", ""],
                desk_env,
            ),
            "not-found": ([*MODULE, "ticket", "get", "987654"], desk_env),
            "local-check": ([*MODULE, "ticket", "get", "12a"], desk_env),
            "base-url-only": ([*MODULE, "--base-url", fake.base_url, "ticket-types"], no_desk),
            "fake-desk-negative": ([*MODULE, "fake-desk", "--tickets", "-5"], desk_env),
            "demo-zero": ([*MODULE, "demo", "--tickets", "0"], desk_env),
            "demo-cleans-up": (
                [*MODULE, "demo", "--tickets", "40"],
                {**desk_env, "TMPDIR": str(self.demo_tmp)},
            ),
            "tickets": ([*MODULE, "tickets", "--status", "open", "--limit", "7"], desk_env),
            "tickets-json": ([*MODULE, "tickets", "--limit", "3", "--json"], desk_env),
        }
        self.procs = {
            name: subprocess.Popen(  # noqa: S603 - our own interpreter and command, fixed arguments
                argv, env=env, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for name, (argv, env) in commands.items()
        }
        self.results: dict[str, tuple[int, str, str]] = {}

    def result(self, name: str) -> tuple[int, str, str]:
        if name not in self.results:
            proc = self.procs[name]
            out, err = proc.communicate(timeout=120)
            self.results[name] = (proc.returncode, out, err)
        return self.results[name]

    def close(self) -> None:
        for proc in self.procs.values():
            proc.kill()
            proc.communicate()


@pytest.fixture(scope="module")
def runs(headoni_fake_desk: FakeDesk, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    started = Runs(headoni_fake_desk, tmp_path_factory.mktemp("cli"))
    yield started
    started.close()


def test_version_and_python_m_are_the_same_command(runs: Runs) -> None:
    code, out, _ = runs.result("version")
    assert code == 0 and out.startswith(f"headoni {__version__} ")
    assert runs.result("module-version") == (code, out, "")


def test_global_options_are_accepted_after_the_subcommand(runs: Runs) -> None:
    code, out, err = runs.result("global-after")
    assert code == 0, err
    assert json.loads(out) and "GET /departments" in err  # -v logged the request


def test_every_option_has_help_and_help_ends_with_env_exit_codes_and_examples() -> None:
    parser = _parser()
    seen = 0
    for sub in _all_parsers(parser):
        for action in sub._actions:
            if action.option_strings or action.dest not in ("command", "ticket_command"):
                assert action.help, f"{sub.prog}: {action.option_strings or action.dest}"
                seen += 1
    assert seen > 40
    text = parser.format_help()
    tail = text[text.index("environment variables:") :]
    for needed in (
        "HEADONI_DESK",
        "HEADONI_TOKEN",
        "HEADONI_BASE_URL",
        "exit codes:",
        "130",
        "143",
        "examples:",
    ):
        assert needed in tail, needed
    assert sum(line.startswith("  headoni ") for line in tail.splitlines()) >= 2


def _all_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _all_parsers(sub)


def test_create_prints_each_validation_issue_on_its_own_line(runs: Runs, headoni_fake_desk: FakeDesk) -> None:
    code, _, err = runs.result("create-invalid")
    assert code == 1
    lines = err.splitlines()
    assert lines[0].startswith("headoni: error: POST /tickets: 400 invalid_body")
    issues = [line.strip() for line in lines[1:]]
    assert {i.split(":")[0] for i in issues} == {"email", "subject", "body"}, err
    assert all(len(i.split(": ", 1)[1]) > 3 for i in issues), err


def test_not_found_names_the_ticket(runs: Runs) -> None:
    code, _, err = runs.result("not-found")
    assert code == 1 and "no ticket 987654 on this desk" in err, err


def test_a_local_check_says_so_and_shows_no_status(runs: Runs) -> None:
    code, _, err = runs.result("local-check")
    assert code == 2 and "checked locally: nothing was sent" in err, err
    assert "400" not in err


def test_base_url_without_desk_works(runs: Runs) -> None:
    code, out, err = runs.result("base-url-only")
    assert code == 0 and out.strip(), err


def test_fake_desk_and_demo_refuse_bad_numbers(runs: Runs) -> None:
    for name, option in (("fake-desk-negative", "--tickets"), ("demo-zero", "--tickets")):
        code, _, err = runs.result(name)
        assert code == 2 and f"argument {option}" in err and "out of range" in err, err


def test_demo_without_out_leaves_no_files(runs: Runs) -> None:
    code, out, err = runs.result("demo-cleans-up")
    assert code == 0, err
    assert "identical" in out and "files:" not in out
    assert list(runs.demo_tmp.iterdir()) == []


def test_tickets_lists_for_people_and_scripts(runs: Runs, headoni_fake_desk: FakeDesk) -> None:
    open_tickets = [t for t in headoni_fake_desk.store.iter_tickets() if t.status.internal_type == "open"]
    code, out, err = runs.result("tickets")
    assert code == 0, err
    rows = [line.split("\t") for line in out.splitlines()]
    assert [int(r[0]) for r in rows] == [t.number for t in open_tickets[:7]]
    assert all(len(r) == 6 for r in rows)

    code, out, err = runs.result("tickets-json")
    assert code == 0, err
    records = json.loads(out)
    assert [r["id"] for r in records] == headoni_fake_desk.store.all_ids_desc()[:3]


def test_progress_bar_keeps_warnings_above_it_and_labels_a_resume(tmp_path: Path) -> None:
    from headoni_async.testing import Fault

    fake = FakeDesk("acme", tickets=1200, seed=2)
    out = tmp_path / "t.jsonl"
    with fake.serve_in_thread() as url:
        env = {**os.environ, "HEADONI_BASE_URL": url, "HEADONI_TOKEN": fake.mint_token()}
        fake.inject(Fault.reset(), route="list_tickets", on=3)  # retried: one warning
        fake.inject(Fault.error(403, "insufficient_scope"), route="list_tickets", on=8)  # fatal
        code, screen = on_a_terminal([*MODULE, "export", "--out", str(out)], env)
        assert code == 1, screen
        warning = screen.index("headoni: retrying GET /tickets")
        # The bar was cleared before the warning was written, never written over.
        before = screen[max(0, warning - 12) : warning]
        assert re.search(r"(\n|\r|\x1b\[[0-9;]*[A-Za-z])$", before), repr(
            screen[max(0, warning - 200) : warning]
        )
        code, screen = on_a_terminal([*MODULE, "export", "--out", str(out), "--resume"], env)
    assert code == 0, screen
    assert "this run: 600 tickets" in screen and "in the file: 1200 tickets" in screen, screen


def test_sigterm_is_handled_like_ctrl_c_by_a_plain_lookup() -> None:
    import signal
    import time

    fake = FakeDesk("acme", tickets=5, latency=30)  # every answer waits: the call is in flight
    with fake.serve_in_thread() as url:
        env = {**os.environ, "HEADONI_BASE_URL": url, "HEADONI_TOKEN": fake.mint_token()}
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and command, fixed arguments
            [*MODULE, "departments"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 60
        while fake.count("departments") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert err.strip() == "headoni: terminated"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("headoni tic", "ticket tickets ticket-types"),
        ("headoni ticket cr", "create"),
        ("headoni --desk acme ticket get --js", "--json"),
        ("headoni tickets --status open --li", "--limit"),
    ],
)
def test_bash_completion_follows_subcommands_and_options(line: str, expected: str) -> None:
    from headoni_async._cli_args import bash_completion

    script = bash_completion(_parser()) + (
        f'read -ra COMP_WORDS <<< "{line}"; COMP_CWORD=$((${{#COMP_WORDS[@]}}-1)); _headoni; echo "${{COMPREPLY[*]}}"\n'
    )
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30, check=True)  # noqa: S603, S607 - bash runs our own script
    assert done.stdout.strip() == expected
