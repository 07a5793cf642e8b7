"""Sample API documents shared by the tests: the reference's own examples
(../shared/headoni-api.md), as the server sends them."""

from __future__ import annotations

import json
from typing import Any, Final

SUMMARY: Final[dict[str, Any]] = {
    "id": "1490375649312800768",
    "number": 1247,
    "subject": "Login broken on staging",
    "priority": "high",
    "status": {"id": "1490300000000000001", "label": "Open", "internalType": "open"},
    "requester": {"email": "alice@example.com", "name": "Alice"},
    "createdAt": "2026-06-04T15:21:09.000Z",
    "updatedAt": "2026-06-04T15:40:11.000Z",
}
PAGE = {"tickets": [SUMMARY], "nextCursor": "1490375649312800768"}
TICKET = {
    "ticket": {
        **SUMMARY,
        "department": {"id": "1490200000000000001", "name": "Support"},
        "ticketType": {"id": "1490100000000000001", "name": "Question"},
        "messages": [
            {
                "id": "1490375649312800769",
                "authorKind": "end_user",
                "bodyMd": "I loop back to /sign-in after typing my email.",
                "createdAt": "2026-06-04T15:21:09.000Z",
            }
        ],
    }
}
CREATED = {
    "ticket": {
        "id": "1490375649312800768",
        "number": 1247,
        "subject": "Login broken on staging",
        "priority": "high",
        "requester": {"email": "alice@example.com"},
    }
}


ODD: Final[dict[str, Any]] = {
    "lone": "cut emoji \ud83d",
    "low": "\udc00 alone",
    "nul": "a\x00b",
    "astral": "\U0001f600 \U0010ffff",
    "huge": 123456789012345678901234567890,
    "negative": -9223372036854775809,
    "u64": 18446744073709551616,
    "float": 0.1,
    "nested": {"tags": ["a", "\ud83d"], "none": None, "flag": True},
}
"""Values the codec must carry through untouched: lone surrogates, NUL,
astral characters, integers past 64 bits."""


def as_bytes(document: Any) -> bytes:
    """A document as the bytes of a response body."""
    return json.dumps(document).encode()
