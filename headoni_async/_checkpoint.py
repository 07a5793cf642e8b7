"""An export's checkpoint, pure: the files an export keeps beside its target
(``ExportFiles``), the checkpoint file's format (``Checkpoint``, validated
field by field by ``parse_checkpoint``), and ``ExportRefused``, the refusal
every check of an export raises. Pure but for ``ExportFiles.beside``, which
resolves a symlink; the export job (``_export``) does the file work."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from ._errors import InvalidArgument
from ._json import json_loads

__all__ = [
    "FORMAT_VERSION",
    "Checkpoint",
    "ExportFiles",
    "ExportRefused",
    "checkpoint_path",
    "damaged",
    "describe",
    "parse_checkpoint",
]

FORMAT_VERSION: Final = 1
"""The checkpoint's format. A checkpoint of any other version is refused."""

_MODES: Final = ("summaries", "full")
_KEYS: Final = frozenset(
    {"format", "desk", "baseUrl", "filters", "mode", "cursor", "lastId", "offset", "count"}
)
_FILTER_KEYS: Final = frozenset({"status", "requesterEmail"})


class ExportRefused(InvalidArgument):
    """The export cannot run as asked (an unfinished export in the way, a
    damaged or foreign checkpoint, an unusable target). Nothing was changed."""


@attrs.frozen
class ExportFiles:
    """The target and the files an export keeps beside it."""

    target: Path
    partial: Path
    checkpoint: Path
    lock: Path

    @classmethod
    def beside(cls, out: Path) -> ExportFiles:
        """The files for an export to ``out``; a symlink is followed, so its
        target is the file replaced and the lock is shared by every link."""
        target = Path(os.path.realpath(out))
        return cls(
            target=target,
            partial=target.with_name(target.name + ".partial"),
            checkpoint=target.with_name(target.name + ".checkpoint"),
            lock=target.with_name(target.name + ".lock"),
        )


def checkpoint_path(out: Path) -> Path:
    """Where the checkpoint of an export to ``out`` lives."""
    return ExportFiles.beside(out).checkpoint


@attrs.frozen
class Checkpoint:
    """A validated checkpoint: what the run is (``identity``) and how far it got."""

    identity: dict[str, Any]
    cursor: str | None
    last_id: str | None
    offset: int
    count: int

    def to_json(self) -> dict[str, Any]:
        """The checkpoint file's JSON object."""
        return {
            "format": FORMAT_VERSION,
            **self.identity,
            "cursor": self.cursor,
            "lastId": self.last_id,
            "offset": self.offset,
            "count": self.count,
        }


def damaged(where: Path, why: str) -> ExportRefused:
    return ExportRefused(
        f"the checkpoint {where} is damaged ({why}); nothing was changed: "
        "run with --restart to start the export over"
    )


def _id_or_none(value: Any) -> bool:
    return value is None or (type(value) is str and value.isascii() and value.isdigit())


def _count(value: Any) -> bool:
    return type(value) is int and value >= 0


def parse_checkpoint(raw: bytes, where: Path) -> Checkpoint:
    """Validate a checkpoint file's bytes, every field. Raises ``ExportRefused``
    naming the first problem (damaged, or written by another format version)."""
    try:
        data = json_loads(raw)
    except ValueError:
        raise damaged(where, "not JSON") from None
    if not isinstance(data, dict):
        raise damaged(where, "not a JSON object")
    version = data.get("format")
    if version != FORMAT_VERSION or type(version) is not int:
        shown = "none" if version is None else _short(version)
        raise ExportRefused(
            f"the checkpoint {where} was written by another version of headoni (format {shown}, "
            f"this one reads {FORMAT_VERSION}); nothing was changed: run with --restart to start over"
        )
    missing, unknown = sorted(_KEYS - set(data)), sorted(set(data) - _KEYS)
    if missing or unknown:
        raise damaged(where, f"missing {missing}" if missing else f"unknown fields {unknown}")
    checks: Sequence[tuple[str, Callable[[Any], bool], str]] = (
        ("desk", lambda v: type(v) is str and bool(v), "a desk slug"),
        ("baseUrl", lambda v: type(v) is str and bool(v), "a URL"),
        ("mode", lambda v: v in _MODES, "'summaries' or 'full'"),
        ("filters", _filters_ok, "an object of status and requesterEmail"),
        ("cursor", _id_or_none, "a ticket id or null"),
        ("lastId", _id_or_none, "a ticket id or null"),
        ("offset", _count, "a byte count (an integer, 0 or more)"),
        ("count", _count, "a ticket count (an integer, 0 or more)"),
    )
    for key, ok, expected in checks:
        if not ok(data[key]):
            raise damaged(where, f"{key} must be {expected}, not {_short(data[key])}")
    count, offset = data["count"], data["offset"]
    # Each line is at least "{}\n"; no line, no last id; a line means a cursor.
    if offset < 3 * count or (count == 0) != (offset == 0) or (count == 0) != (data["lastId"] is None):
        raise damaged(where, f"offset {offset}, count {count} and lastId disagree")
    if count and data["cursor"] is None:
        raise damaged(where, "cursor is null after tickets were written")
    identity = {k: data[k] for k in ("desk", "baseUrl", "filters", "mode")}
    return Checkpoint(identity, data["cursor"], data["lastId"], offset, count)


def _filters_ok(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == _FILTER_KEYS
        and all(v is None or type(v) is str for v in value.values())
    )


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def describe(identity: dict[str, Any]) -> str:
    filters = ", ".join(f"{k}={v}" for k, v in identity["filters"].items() if v is not None)
    return f"desk {identity['desk']!r} at {identity['baseUrl']}, {identity['mode']}" + (
        f", {filters}" if filters else ", no filters"
    )
