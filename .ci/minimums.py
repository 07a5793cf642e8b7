"""Print pip constraints pinning every declared floor: ``name>=X`` becomes ``name==X``.

Reads pyproject.toml's runtime dependencies and the extras named on the command
line, so the floors CI installs are always exactly the declared ones.
Usage: python .ci/minimums.py test speedups otel dlt > constraints.txt
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
requirements = list(project["dependencies"])
for extra in sys.argv[1:]:
    requirements += project["optional-dependencies"][extra]
pins: dict[str, str] = {}
for requirement in requirements:
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)\s*(;.*)?", requirement)
    if match is None:
        sys.exit(f"no plain '>=' floor to pin in {requirement!r}")
    pins[match[1].lower()] = f"{match[1]}=={match[3]}"
sys.stdout.write("".join(f"{pin}\n" for pin in pins.values()))
