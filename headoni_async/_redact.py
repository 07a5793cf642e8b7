"""Keeping the token out of errors: ``Redactor`` takes it out of an
exception's text (a server or proxy may echo the ``Authorization`` header
back), and ``drop_frames`` cuts the tracebacks that hold what the server sent,
so that an error tracker capturing frame locals never stores it."""

from __future__ import annotations

from typing import Any, Final

from ._errors import APIError, UnexpectedRedirect

__all__ = ["REDACTED", "Redactor", "drop_frames", "without_frames"]

REDACTED: Final = "[redacted]"
# A secret shorter than this is not looked for: it would cut ordinary words.
_MIN_SECRET: Final = 8


class Redactor:
    """Takes a desk's token out of the text of errors: the text the server sent
    (``code``, ``detail``, ``issues``, a redirect's ``location``), the message
    and the notes. A server or proxy may echo the ``Authorization`` header
    back; an error tracker would then store the token. The ``hd_`` prefix is
    optional to the server, so the token with and without it is looked for.
    Its repr never shows the token.
    """

    __slots__ = ("_secrets",)

    def __init__(self, token: str) -> None:
        bare = token.removeprefix("hd_")
        found = {token, bare, "hd_" + bare}
        self._secrets: Final = tuple(
            sorted((t for t in found if len(t) >= _MIN_SECRET), key=len, reverse=True)
        )

    def __repr__(self) -> str:
        return "<Redactor (redacted)>"

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self._secrets:
                if secret in value:
                    value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, list | tuple):
            return type(value)(self._clean(v) for v in value)
        if isinstance(value, dict):
            return {self._clean(k): self._clean(v) for k, v in value.items()}
        return value

    def __call__(self, exc: BaseException) -> None:
        """Redact ``exc`` in place (message, notes, and an ``APIError``'s fields). Never raises."""
        if not self._secrets:
            return
        if isinstance(exc, APIError):
            # The message shortens the detail and code, which can cut the
            # token so that no whole copy is left to find: build it again
            # from the redacted fields (keeping anything added after it).
            before = exc._message()
            exc.code, exc.detail, exc.issues = self._clean((exc.code, exc.detail, exc.issues))
            if exc.args and isinstance(exc.args[0], str) and exc.args[0].startswith(before):
                exc.args = (exc._message() + exc.args[0][len(before) :], *exc.args[1:])
        exc.args = self._clean(exc.args)
        notes = getattr(exc, "__notes__", None)
        if isinstance(notes, list):
            notes[:] = self._clean(notes)
        if isinstance(exc, UnexpectedRedirect) and exc.location is not None:
            exc.location = self._clean(exc.location)


def drop_frames(exc: BaseException) -> None:
    """Cut the tracebacks of the exceptions ``exc`` was raised from or while
    handling (a JSON decoder's error holds the document in its frames)."""
    seen = {id(exc)}
    chained = [exc.__cause__, exc.__context__]
    while chained:
        current = chained.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        chained += [current.__cause__, current.__context__]
        if isinstance(current, BaseExceptionGroup):  # cattrs reports each field so
            chained += current.exceptions


def without_frames(exc: BaseException) -> BaseException:
    """``exc`` with its traceback, and those of the exceptions it chains, cut:
    for an error raised past frames whose locals held the token (the
    constructor's checks). Re-raised, it gains only the frames above."""
    drop_frames(exc)
    return exc.with_traceback(None)
