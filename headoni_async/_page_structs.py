"""The private msgspec structs of a ``GET /tickets`` page (the ``speedups`` extra).

Importing this module raises ``ImportError`` when msgspec is not installed; the
models then decode every page through the ordinary JSON path.

The structs accept only a page the ordinary path would read the same way, and
refuse everything else, so that the models' hook can fall back to the ordinary
path for it (which then gives its own result or error):

- unknown fields anywhere are refused (``forbid_unknown_fields``): msgspec skips
  the values of unknown fields without checking them as strictly as a decoder
  that keeps them (invalid UTF-8, ``1e999`` and huge numbers pass its skip);
- numbers outside 64 bits are refused (orjson reads them as floats, and the
  ordinary path then hands them to the stdlib decoder);
- timestamps and enum values stay strings: the models' own code reads them
  (msgspec's datetime parser rounds 7-9 fractional digits and accepts a
  lowercase ``t``/``z``, which ours refuses).

The structs hold only atomic values, so they are not tracked by the garbage
collector (``gc=False``).
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

__all__ = ["PageStruct", "decode_page_struct"]

_Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


class StatusStruct(msgspec.Struct, rename="camel", forbid_unknown_fields=True, gc=False):
    id: str
    label: str
    internal_type: str


class RequesterStruct(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    email: str | None
    name: str | None = None


class SummaryStruct(msgspec.Struct, rename="camel", forbid_unknown_fields=True, gc=False):
    id: str
    number: _Int64
    subject: str
    priority: str
    status: StatusStruct
    requester: RequesterStruct
    created_at: str
    updated_at: str


class PageStruct(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    tickets: list[SummaryStruct]
    next_cursor: str | None


decode_page_struct: Final = msgspec.json.Decoder(PageStruct).decode
"""Page bytes -> ``PageStruct``. Raises ``msgspec.MsgspecError`` (and, for absurd
nesting, ``RecursionError``) for anything the structs do not accept."""
