"""The private msgspec structs of a ``GET /tickets`` page (the ``speedups`` extra).

Importing this module raises ``ImportError`` when msgspec is not installed; the
models then decode every page through the ordinary JSON path.

The structs accept only a page the ordinary path would read the same way, and
refuse everything else, so that the models' hook can fall back to the ordinary
path for it (which then gives its own result or error):

- unknown fields anywhere are refused (``forbid_unknown_fields``): msgspec skips
  the values of unknown fields without checking them as strictly as a decoder
  that keeps them (invalid UTF-8, ``1e999`` and huge numbers pass its skip);
- numbers outside 64 bits are refused by the builder (``_hotpath``), not
  here: a range constraint (``msgspec.Meta``) would make every int 4 bytes
  bigger (0.4 MB per 100,000 summaries held). The ordinary path reads such
  numbers with the stdlib decoder, whatever it makes of them;
- timestamps and enum values stay strings: the models' own code reads them
  (msgspec's datetime parser rounds 7-9 fractional digits and accepts a
  lowercase ``t``/``z``, which ours refuses).

The structs hold only atomic values, so they are not tracked by the garbage
collector (``gc=False``).
"""

from __future__ import annotations

from typing import Final

import msgspec

__all__ = ["PageStruct", "decode_page_struct"]

class StatusStruct(msgspec.Struct, rename="camel", forbid_unknown_fields=True, gc=False):
    id: str
    label: str
    internal_type: str


class RequesterStruct(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    email: str | None
    name: str | None = None


class SummaryStruct(msgspec.Struct, rename="camel", forbid_unknown_fields=True, gc=False):
    id: str
    number: int
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
