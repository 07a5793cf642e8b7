"""The installed distribution's metadata says what the ecosystem expects.

(The wheel itself, LICENSE inside and a build without warnings, is checked by
``.ci/run``, which builds it.)
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import distribution

import headoni_async
from headoni_async._version import VERSION


def test_metadata_license_urls_classifiers_and_one_version() -> None:
    meta = distribution("headoni-async").metadata
    assert meta["Version"] == VERSION == headoni_async.__version__
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert not any(c.startswith("License ::") for c in meta.get_all("Classifier") or [])  # PEP 639
    urls = {u.split(",")[0] for u in meta.get_all("Project-URL") or []}
    assert {"Documentation", "Changelog", "Issues"} <= urls
    classifiers = set(meta.get_all("Classifier") or [])
    for needed in (
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Framework :: AsyncIO",
        "Typing :: Typed",
        "Development Status :: 3 - Alpha",
    ):
        assert needed in classifiers, needed


def test_lint_and_type_tools_are_in_dev_not_test() -> None:
    requires = distribution("headoni-async").requires or []
    by_extra: dict[str, set[str]] = {}
    for req in requires:
        name = req.split(";")[0].split(">")[0].split("=")[0].split("<")[0].strip()
        extra = req.split("extra ==")[1].strip().strip("\"'") if "extra ==" in req else ""
        by_extra.setdefault(extra, set()).add(name)
    assert {"ruff", "mypy"} <= by_extra["dev"]
    assert not {"ruff", "mypy"} & by_extra["test"]


def test_the_fake_desk_and_the_cli_work_without_pytest() -> None:
    """pytest is a test tool, not a dependency: ``headoni demo``, ``fake-desk``
    and ``headoni_async.testing.FakeDesk`` must import without it."""
    code = (
        "import sys; sys.modules['pytest'] = None\n"  # an import of pytest now fails
        "from headoni_async.testing import FakeDesk, Fault\n"
        "import headoni_async.cli\n"
        "from headoni_async.cli import main\n"
        "raise SystemExit(main(['demo', '--tickets', '5']))\n"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter, fixed code
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "identical" in done.stdout
