"""The route table: the one place that says which method, path template and
scope each operation uses (see ../shared/headoni-api.md, Scopes and Routes).

Two words, two meanings: a route's ``template`` is the path as the reference
writes it (``/tickets/{id_or_number}``), the name errors and logs carry; the
``url_path`` is one request's concrete path (``/tickets/1247``), made only by
``Route.format``.
"""

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

    ``template`` may hold ``{id_or_number}``. ``idempotent`` says whether
    sending it twice is harmless: only idempotent routes are retried after the
    request may have reached the server.
    """

    name: str
    method: str
    template: str
    scope: str
    idempotent: bool

    def format(self, **segments: str) -> str:
        """This route's concrete URL path, e.g. ``format(id_or_number="1247")``.

        The segments must already be checked (``_protocol.id_or_number``).
        Raises ``KeyError`` when one the template names is missing.
        """
        return self.template.format_map(segments)

    @property
    def label(self) -> str:
        """``METHOD template``: how logs and retries name the route."""
        return f"{self.method} {self.template}"


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
