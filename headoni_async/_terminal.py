"""Text for a terminal. Anyone can file a ticket, so any text the server sends
(a subject, a name, a message, an error's detail) may carry escape sequences:
OSC 52 writes the clipboard, CSI moves the cursor or clears the screen. What
the CLI prints for humans goes through ``terminal_safe``; JSON output goes
through ``json_terminal_safe``, which keeps it the same JSON value."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["json_terminal_safe", "terminal_safe"]

# C0 controls but tab and newline, DEL, C1 controls (ESC, CSI and OSC start
# sequences; 0x9b and 0x9d are CSI and OSC on their own), and lone surrogates
# (no terminal can be sent one: UTF-8 has no form for it).
_UNSAFE: Final = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
# In JSON text the C0 controls are escaped already; these are not.
_JSON_UNSAFE: Final = re.compile("[\x7f-\x9f\ud800-\udfff]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """``text`` with every terminal control character (C0 but newline and tab,
    DEL, C1) and every lone surrogate written as a visible escape (``\\x1b``,
    ``\\x9b``, ``\\ud83d``). Pure; never raises; the result always encodes to UTF-8."""
    return _UNSAFE.sub(_visible, text)


def json_terminal_safe(text: str) -> str:
    """JSON text (as ``json.dumps`` writes it) with DEL, C1 controls and lone
    surrogates written as ``\\uXXXX`` escapes: the same JSON value, safe on a
    terminal and always UTF-8. Pure; never raises."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
