"""Print every declared floor as an exact pin: ``name>=X`` becomes ``name==X``.

Reads pyproject.toml's runtime dependencies and the extras named on the command
line, so what CI installs is always exactly the declared floors. ``--skip NAME``
leaves a requirement out (one whose own needs exceed another's floor).
Usage: python .ci/minimums.py test speedups otel --skip schemathesis > floors.txt
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("extras", nargs="*")
parser.add_argument("--skip", action="append", default=[])
args = parser.parse_args()
project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
requirements = list(project["dependencies"])
for extra in args.extras:
    requirements += project["optional-dependencies"][extra]
pins: dict[str, str] = {}
for requirement in requirements:
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)\s*(;.*)?", requirement)
    if match is None:
        sys.exit(f"no plain '>=' floor to pin in {requirement!r}")
    if match[1].lower() not in {s.lower() for s in args.skip}:
        pins[match[1].lower()] = f"{match[1]}{match[2] or ''}=={match[3]}"
sys.stdout.write("".join(f"{pin}\n" for pin in pins.values()))
