"""Hostile text on a terminal: anyone can file a ticket, so a subject can carry
OSC 52 (write the clipboard) or cursor movement. The CLI escapes terminal
control characters in everything it prints for humans; --json stays exact."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headoni_async._terminal import json_terminal_safe, terminal_safe
from headoni_async.testing import FakeDesk, Fault

from .helpers import run_cli

HOSTILE = (
    "OSC52\x1b]52;c;ZXZpbA==\x07 CSI\x1b[2J\x1b[H C1\x9b31m\x9d0;title\x9c "
    "CR\rBS\x08 DEL\x7f NUL\x00 BEL\x07 cut\ud83d\tcol\nnext line"
)
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def test_terminal_safe_table() -> None:
    assert terminal_safe("plain \t text\nline ü 😀") == "plain \t text\nline ü 😀"
    assert terminal_safe("\x1b]52;c;ZXZpbA==\x07") == "\\x1b]52;c;ZXZpbA==\\x07"
    assert terminal_safe("\x9b2J") == "\\x9b2J"
    assert terminal_safe("a\rb\x7f\x00") == "a\\x0db\\x7f\\x00"
    assert terminal_safe("cut \ud83d") == "cut \\ud83d"


@given(st.text(st.characters(codec=None, categories=None)))
def test_terminal_safe_leaves_no_control_character(text: str) -> None:
    shown = terminal_safe(text)
    assert not UNSAFE.search(shown)
    assert shown.count("\n") == text.count("\n") and shown.count("\t") >= text.count("\t")
    shown.encode("utf-8")  # printable on any UTF-8 terminal


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(st.characters(codec=None, categories=None)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_json_terminal_safe_is_the_same_json(value: object) -> None:
    text = json_terminal_safe(json.dumps(value, ensure_ascii=False, indent=2))
    assert json.loads(text) == value
    assert not UNSAFE.search(text.replace("\n", ""))
    text.encode("utf-8")


def _no_controls(text: str) -> None:
    found = UNSAFE.search(text.replace("\n", "").replace("\t", ""))
    assert found is None, repr(text[max(0, found.start() - 20) : found.end() + 20])


def test_the_cli_escapes_ticket_fields_and_keeps_json_exact(
    env: FakeDesk, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["ticket", "create", "--email", "evil@example.com", "--name", HOSTILE, "--subject", HOSTILE]
    assert run_cli([*argv, "--body", HOSTILE]) == 0
    created = capsys.readouterr().out
    _no_controls(created)
    number = re.search(r"#(\d+)", created)
    assert number is not None
    assert run_cli(["ticket", "get", number.group(1)]) == 0
    human = capsys.readouterr().out
    _no_controls(human)
    assert "\\x1b]52;c;" in human and "next line" in human
    assert run_cli(["ticket", "get", number.group(1), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["subject"] == HOSTILE and doc["messages"][0]["bodyMd"] == HOSTILE
    assert doc["requester"]["name"] == HOSTILE


def test_the_cli_escapes_listings(env: FakeDesk, capsys: pytest.CaptureFixture[str]) -> None:
    env.store.departments[1].name = HOSTILE
    env.store.ticket_types[1].name = HOSTILE
    for command in ("departments", "ticket-types"):
        assert run_cli([command]) == 0
        _no_controls(capsys.readouterr().out)
        assert run_cli([command, "--json"]) == 0
        assert HOSTILE in [d["name"] for d in json.loads(capsys.readouterr().out)]


def test_the_cli_escapes_server_text_in_errors(env: FakeDesk, capsys: pytest.CaptureFixture[str]) -> None:
    env.inject(Fault.error(418, HOSTILE), route="departments")
    assert run_cli(["departments"]) == 1
    err = capsys.readouterr().err
    assert "418" in err
    _no_controls(err)
