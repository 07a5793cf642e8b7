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


def as_bytes(document: Any) -> bytes:
    """A document as the bytes of a response body."""
    return json.dumps(document).encode()
