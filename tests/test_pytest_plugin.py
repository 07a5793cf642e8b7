"""The pytest plugin in projects of its own: throwaway projects run by pytest in
subprocesses (strict mode, auto mode, no pytest-asyncio, shared fixtures), and
what registering the plugin imports.

The projects start together in one module-scoped fixture, so their few seconds
of pytest start-up overlap instead of adding up.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from headoni_async.testing import desk_fixture, fake_desk_fixture

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_plugin_example() -> str:
    """The README's plugin example, as a user would paste it."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    (example,) = [b for b in blocks if "headoni_desk" in b and "def test_" in b]
    return example


SHARED = """
import pytest
from headoni_async.testing import desk_fixture, fake_desk_fixture

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.headoni_fake(tickets=120, seed=2)]
headoni_fake_desk = fake_desk_fixture(scope="module")
headoni_desk = desk_fixture(loop_scope="module")
seen = []

async def test_first(headoni_desk, headoni_fake_desk):
    seen.append(headoni_fake_desk)
    assert len([t async for t in headoni_desk.tickets()]) == 120

async def test_second_shares_the_desk_and_the_loop(headoni_desk, headoni_fake_desk):
    seen.append(headoni_fake_desk)
    assert seen[0] is seen[1]
    await headoni_desk.departments()
"""

MISMATCH = """
import pytest

@pytest.mark.asyncio(loop_scope="module")
async def test_module_loop_with_the_function_loop_desk(headoni_desk):
    await headoni_desk.departments()
"""

AUTO_UNMARKED = """
async def test_unmarked(headoni_desk, headoni_fake_desk):
    assert [d.name async for d in _aiter(await headoni_desk.departments())]

async def _aiter(items):
    for item in items:
        yield item
"""

SYNC_ONLY = """
def test_the_fake_desk_needs_no_event_loop(headoni_fake_desk, headoni_token):
    assert headoni_fake_desk.base_url.startswith("http://127.0.0.1:")
    assert headoni_token.startswith("hd_")

async def test_wants_the_async_desk(headoni_desk):
    pass
"""

# Importing these at plugin registration is what the plugin must not do.
HEAVY = ("aiohttp", "headoni_async", "attrs", "attr", "cattrs", "tenacity", "rich", "yarl", "multidict")

# What was imported once every plugin was registered and configured, before
# collection imports the tests (and, through them, the package).
RECORD_IMPORTS = f"""
import sys

def pytest_sessionstart(session):
    loaded = {{m.split(".")[0] for m in sys.modules}}
    with open("imports.txt", "w") as f:
        f.write(f"PLUGIN: {{'_headoni_async_pytest' in loaded}}\\nHEAVY: {{sorted(loaded & {set(HEAVY)!r})}}\\n")
"""


def _project(root: Path, ini: str, files: dict[str, str]) -> Path:
    root.mkdir()
    (root / "pytest.ini").write_text(textwrap.dedent(ini))
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text))
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, subprocess.Popen[str]]]:
    """Start every throwaway project at once; each test waits for its own."""
    base = tmp_path_factory.mktemp("projects")
    example = readme_plugin_example()
    projects = {
        "strict": (
            _project(
                base / "strict",
                "[pytest]\n",  # a fresh project: pytest-asyncio's default strict mode
                {"test_readme.py": example, "test_shared.py": SHARED, "test_mismatch.py": MISMATCH},
            ),
            [],
        ),
        "auto": (
            _project(
                base / "auto",
                "[pytest]\nasyncio_mode = auto\n",
                {"test_readme.py": example, "test_unmarked.py": AUTO_UNMARKED, "conftest.py": RECORD_IMPORTS},
            ),
            [],
        ),
        "no-asyncio": (
            _project(base / "no_asyncio", "[pytest]\n", {"test_sync.py": SYNC_ONLY}),
            ["-p", "no:asyncio"],
        ),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    procs: dict[str, subprocess.Popen[str]] = {}
    for name, (root, args) in projects.items():
        procs[name] = subprocess.Popen(  # noqa: S603 - our own interpreter and pytest, fixed arguments
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args, "--rootdir", str(root)],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    yield procs
    for proc in procs.values():
        proc.kill()
        proc.communicate()


def _output(proc: subprocess.Popen[str]) -> str:
    out, _ = proc.communicate(timeout=120)
    return out


def test_strict_mode_runs_the_readme_example_and_shares_a_module_scoped_desk(
    runs: dict[str, subprocess.Popen[str]],
) -> None:
    out = _output(runs["strict"])
    assert "mode=Mode.STRICT" in out, out
    for name in (
        "test_readme.py::test_my_export_survives_a_reset",
        "test_shared.py::test_first",
        "test_shared.py::test_second_shares_the_desk_and_the_loop",
    ):
        assert f"PASSED {name}" in out, out
    assert re.search(r"\b1 failed, 3 passed\b", out), out


def test_a_desk_on_another_loop_scope_gets_a_clear_error(runs: dict[str, subprocess.Popen[str]]) -> None:
    out = _output(runs["strict"])
    assert "FAILED test_mismatch.py::test_module_loop_with_the_function_loop_desk" in out, out
    assert "WrongEventLoop" in out and "loop_scope" in out, out
    assert "Timeout context manager" not in out, out


def test_auto_mode_runs_the_readme_example_and_unmarked_tests(runs: dict[str, subprocess.Popen[str]]) -> None:
    out = _output(runs["auto"])
    assert "mode=Mode.AUTO" in out, out
    assert re.search(r"\b2 passed in\b", out) and "FAILED" not in out, out


def test_without_pytest_asyncio_the_desk_fixture_says_what_to_install(
    runs: dict[str, subprocess.Popen[str]],
) -> None:
    out = _output(runs["no-asyncio"])
    assert "PASSED test_sync.py::test_the_fake_desk_needs_no_event_loop" in out, out
    assert "ERROR test_sync.py::test_wants_the_async_desk" in out, out
    line = "headoni_desk needs the pytest-asyncio plugin: pip install pytest-asyncio"
    assert line in out, out
    assert "fixture 'headoni_desk' not found" not in out, out


def test_registering_the_plugin_imports_nothing_heavy(runs: dict[str, subprocess.Popen[str]]) -> None:
    _output(runs["auto"])
    text = (Path(str(runs["auto"].args[-1])) / "imports.txt").read_text()
    assert "PLUGIN: True" in text, text  # it was registered ...
    assert "HEAVY: []" in text, text  # ... and imported neither the package nor its dependencies


def test_fixture_factories_refuse_unknown_scopes_and_options() -> None:
    with pytest.raises(ValueError, match="scope must be one of"):
        fake_desk_fixture(scope="modul")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown fake desk option"):
        fake_desk_fixture(ticket=5)
    with pytest.raises(ValueError, match="loop_scope must be one of"):
        desk_fixture(loop_scope="forever")  # type: ignore[arg-type]
