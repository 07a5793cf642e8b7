"""The installed distribution's metadata says what the ecosystem expects.

(The wheel itself, LICENSE inside and a build without warnings, is checked by
``.ci/run``, which builds it.)
"""

from __future__ import annotations

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
