"""The route table: the one place that says which method, path and scope each
operation uses (see ../shared/headoni-api.md, Scopes and Routes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import attrs

__all__ = ["ROUTES", "SCOPES", "Route"]

SCOPE_CREATE: Final = "tickets:create"
SCOPE_READ: Final = "tickets:read"
SCOPES: Final = frozenset({SCOPE_CREATE, SCOPE_READ})


@attrs.frozen
class Route:
    """One API operation.

    ``path`` may hold ``{id_or_number}``. ``idempotent`` says whether sending
    it twice is harmless: only idempotent routes are retried after the request
    may have reached the server.
    """

    name: str
    method: str
    path: str
    scope: str
    idempotent: bool


ROUTES: Final[Mapping[str, Route]] = {
    route.name: route
    for route in (
        Route("create_ticket", "POST", "/tickets", SCOPE_CREATE, idempotent=False),
        Route("list_tickets", "GET", "/tickets", SCOPE_READ, idempotent=True),
        Route("get_ticket", "GET", "/tickets/{id_or_number}", SCOPE_READ, idempotent=True),
        Route("departments", "GET", "/departments", SCOPE_READ, idempotent=True),
        Route("ticket_types", "GET", "/ticket-types", SCOPE_READ, idempotent=True),
    )
}
