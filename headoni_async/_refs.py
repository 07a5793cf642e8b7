"""Ticket references in chat text: ``[#1247]`` and ``#1247``. Pure, no I/O.

What counts as a mention (decided here, tested as a table in
``tests/test_refs.py``):

- ``#`` then 1 to 18 ASCII digits (a ticket number; 19 digits and more is a
  snowflake id or some other long number, not a ``[#1247]`` reference), not
  starting with ``0`` (numbers start at 1; ``#007`` is not a ticket number).
- The ``#`` stands at the start of the text, after whitespace, or after one
  of ``( [ { " ' , ; ! ?`` and the typographic quotes, or after an emphasis
  mark ``* _ ~`` that is not glued to a word (so ``[#1247]``, ``(#1247)`` and
  ``*#1247*`` count, ``snake_#12`` does not). Not after a letter, digit, ``/``,
  ``&``, ``=``, ``<`` or ``.`` (a word, a URL fragment, an HTML entity
  ``&#1247;``, a Discord channel ``<#123...>``).
- The digits are not followed by a letter or digit, nor by one of
  ``. , : / _ -`` and then a letter, digit or ``_`` (``#12.5``, ``#1,000``,
  ``#12:30``, ``#12-abc`` are longer numbers or words).
- Nothing inside a URL counts (``https://x.example/#12``, ``www.x.example/a#12``).
"""

from __future__ import annotations

import re
from typing import Final

from ._errors import InvalidArgumentType

__all__ = ["parse_ticket_refs"]

_REF: Final = re.compile(
    # the start of the text, or one of these right before the #; an emphasis
    # mark (_ * ~) only when no word is glued to it (`_#12_`, never `snake_#12`)
    r"(?:(?<![^\s(\[{\"',;!?\u2018\u201c])|(?<=[_*~])(?<!\w[_*~]))"
    r"#([1-9][0-9]{0,17})"
    r"(?![^\W_])(?![.,:/_-]\w)"  # not the head of a longer word or number
)
_URL: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S*|\bwww\.\S*", re.IGNORECASE)


def parse_ticket_refs(text: str) -> list[int]:
    """The ticket numbers ``text`` mentions as ``[#1247]`` or ``#1247``, in
    order of first mention, without duplicates.

    A ``#`` inside a longer word, a URL (its fragment included), an HTML
    entity or a longer number is not a mention; see the module docstring for
    the exact rules.

    Raises:
        InvalidArgumentType: ``text`` is not a ``str``.
    """
    if not isinstance(text, str):
        raise InvalidArgumentType(f"text must be a str, not {type(text).__name__}")
    if "#" not in text:
        return []
    urls = [m.span() for m in _URL.finditer(text)] if "/" in text or "www." in text.lower() else []
    seen: dict[int, None] = {}
    url = 0  # mentions and URLs both come in text order: one walk over each
    for match in _REF.finditer(text):
        at = match.start()
        while url < len(urls) and urls[url][1] <= at:
            url += 1
        if url < len(urls) and urls[url][0] <= at:
            continue
        seen.setdefault(int(match.group(1)))
    return list(seen)
