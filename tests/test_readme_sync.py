"""The README's `headoni sync` section, run as written: the schema it shows is
the schema the sync creates, its query runs on a synced database, and its
library example runs against a fake desk."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from headoni_async import _mirror
from headoni_async.testing import FakeDesk

README = Path(__file__).resolve().parent.parent / "README.md"


def block(heading: str, lang: str) -> str:
    """The first ``lang`` code block after ``heading`` in the README."""
    text = README.read_text()
    start = text.index(heading)
    match = re.compile(rf"```{lang}\n(.*?)```", re.S).search(text, start)
    assert match is not None, f"no {lang} block after {heading!r}"
    return match.group(1)


def test_the_schema_shown_is_the_schema_made() -> None:
    assert block("### The schema", "sql").strip() == _mirror._SCHEMA.strip()


@pytest.fixture
def env(headoni_fake_desk: FakeDesk, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeDesk:
    monkeypatch.setenv("HEADONI_DESK", "acme")
    monkeypatch.setenv("HEADONI_BASE_URL", headoni_fake_desk.base_url)
    monkeypatch.setenv("HEADONI_TOKEN", headoni_fake_desk.mint_token())
    monkeypatch.chdir(tmp_path)
    return headoni_fake_desk


@pytest.mark.headoni_fake(tickets=120, seed=2)
def test_the_library_example_then_the_query(env: FakeDesk, capsys: pytest.CaptureFixture[str]) -> None:
    code = block("### From Python", "python")
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})  # noqa: S102 - the README's own example
    assert "120 new, 0 changed, 0 deleted, 120 fetched whole in" in capsys.readouterr().out
    conn = sqlite3.connect("tickets.db")
    try:
        found = conn.execute(block("### A query", "sql")).fetchall()
    finally:
        conn.close()
    assert found and all(isinstance(n, int) and messages >= 1 for n, _, _, messages in found)
    assert [messages for *_, messages in found] == sorted((m for *_, m in found), reverse=True)
