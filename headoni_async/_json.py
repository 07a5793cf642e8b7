"""The JSON codec: ``json_loads`` (bytes -> value) and ``json_dumps`` /
``json_dumpb`` (value -> text / UTF-8 bytes). orjson when installed
(``headoni-async[speedups]``), else the standard library; any document one of
them refuses or would read lossily goes to the strict stdlib path, so that
every value decoded here can be written back as valid JSON."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable
from typing import Any, Final

__all__ = ["escape_surrogates", "has_surrogate", "json_dumpb", "json_dumps", "json_loads"]


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value in (_INF, -_INF):
        # Read as inf it could only be written back as invalid JSON (or null).
        raise ValueError(f"the number {text[:20]} is beyond what a double holds")
    return value


_INF: Final = float("inf")
_STDLIB_DECODER: Final = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)


def _loads_stdlib(data: bytes) -> Any:
    """The standard library's decoder, strict: ``NaN``/``Infinity`` (not JSON) and
    numbers beyond a double are ``ValueError``s; lone surrogate escapes are kept."""
    try:
        # As json.loads does with bytes: UTF-8 (or -16/-32), surrogates passed through.
        text = data.decode(json.detect_encoding(data), "surrogatepass")
        return _STDLIB_DECODER.decode(text)
    except RecursionError:  # deep nesting: a bad body, not a crash
        raise ValueError("JSON nested too deeply") from None


# A JSON integer of 20 digits or more, or a negative one of 19, may lie outside
# 64 bits, where orjson silently reads it as a float (losing digits). Digits and
# minus signs all become "0", so one substring test finds any such run; a match
# (rare: ids are 19 digits, quoted, unsigned) sends the document to the stdlib.
_LONG_NUMBER: Final = bytes.maketrans(b"0123456789-", b"00000000000")
_RUN: Final = b"0" * 20


def _orjson() -> Any:
    """The orjson module, or ``None`` without the (optional) speedups extra.
    Imported by name so that type checking does not depend on the extra."""
    try:
        return importlib.import_module("orjson")
    except ImportError:
        return None


def _pick_loads() -> Callable[[bytes], Any]:
    orjson = _orjson()
    if orjson is None:
        return _loads_stdlib
    fast: Callable[[bytes], Any] = orjson.loads
    refused: type[Exception] = orjson.JSONDecodeError

    def loads(data: bytes) -> Any:
        if _RUN in data.translate(_LONG_NUMBER):
            return _loads_stdlib(data)
        try:
            return fast(data)
        except refused:
            # orjson refuses some valid documents (a lone surrogate escape such as
            # "\\ud83d", which JavaScript servers emit when they cut an emoji in
            # half). The stdlib reads them; this document only pays for it.
            return _loads_stdlib(data)

    return loads


json_loads: Final = _pick_loads()
"""Decode JSON bytes: orjson when installed (``headoni-async[speedups]``), else
the stdlib. Any valid JSON document decodes, lone surrogate escapes and integers
of any size (up to Python's 4300-digit limit) included: a document orjson
refuses or would read lossily goes to the stdlib decoder. Raises a
``ValueError`` subclass for anything that is not JSON, and for a number
beyond what a double holds (``1e400``)."""


def _pick_dumpb() -> Callable[[Any], bytes]:
    orjson = _orjson()
    if orjson is None:
        return _dumpb_stdlib
    fast: Callable[[Any], bytes] = orjson.dumps

    def dumpb(value: Any) -> bytes:
        try:
            return fast(value)
        except TypeError:  # a lone surrogate, an int past 64 bits: the stdlib writes those
            return _dumpb_stdlib(value)

    return dumpb


_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _escape_surrogate(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def has_surrogate(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate (half of a UTF-16 pair)."""
    return _SURROGATE.search(text) is not None


def escape_surrogates(text: str) -> str:
    """JSON ``text`` with each lone surrogate written as the ``\\udXXX`` escape
    it was read from (a surrogate can stand only inside a JSON string), so
    that the text encodes to UTF-8."""
    return _SURROGATE.sub(_escape_surrogate, text)


def _dumpb_stdlib(value: Any) -> bytes:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return escape_surrogates(text).encode()


json_dumpb: Final = _pick_dumpb()
"""``json_dumps`` as UTF-8 bytes (what files and sockets want)."""


def json_dumps(value: Any) -> str:
    """Compact JSON text for any value ``json_loads`` produced: lone surrogates
    are written as ``\\udXXX`` escapes, integers keep every digit, other
    non-ASCII characters are written as themselves. The text always encodes to
    UTF-8. Raises ``TypeError`` for a value JSON has no form for (a set, an
    object) and ``ValueError`` for a non-finite float."""
    return json_dumpb(value).decode()
