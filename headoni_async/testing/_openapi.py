"""The Headoni API as an OpenAPI 3.1 document: every route, parameter, body
field with its limits, response and error code of the reference this project
follows.

It is the contract three parties are checked against, so that none can drift
from the others: the fake desk (schemathesis fuzzes it with requests made from
this document and validates every answer), the client's route table and its
models (the tests compare them field by field). Tools we did not write read
it too: ``schemathesis.openapi.from_dict(openapi_document())``.

Where the reference is silent the document says what this project decided:
optional create fields accept ``null`` (read as absent); unknown fields are
allowed everywhere (the server ignores them in a body; the client ignores them
in a response); a ``cursor`` or an id has at most 20 significant digits (a
64-bit snowflake).
"""

from __future__ import annotations

import copy
from typing import Any, Final

__all__ = ["ERROR_CODES", "openapi_document"]

_ID: Final = {"type": "string", "pattern": "^[0-9]+$", "examples": ["1490375649312800768"]}
_TIMESTAMP: Final = {"type": "string", "format": "date-time", "examples": ["2026-06-04T15:21:09.000Z"]}
# Python's and ECMA's \s differ on \x1c-\x1f: listing the controls keeps the
# pattern one language for the fake (Python re), generators and validators.
_EMAIL_PATTERN: Final = r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$"

ERROR_CODES: Final[dict[str, int]] = {
    "invalid_body": 400,
    "invalid_query": 400,
    "invalid_id": 400,
    "invalid_status": 400,
    "department_not_found": 400,
    "ticket_type_not_found": 400,
    "unauthenticated": 401,
    "insufficient_scope": 403,
    "token_desk_mismatch": 403,
    "ticket_not_found": 404,
}
"""Every documented ``error`` code and its status."""


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    # Unknown properties are allowed: the API may add fields, and clients ignore them.
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


def _error_response(codes: list[str], description: str) -> dict[str, Any]:
    schema = {"allOf": [_ref("Error"), {"properties": {"error": {"enum": codes}}}]}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_AUTH_ERRORS: Final = {
    "401": _error_response(["unauthenticated"], "The token is missing, unknown, revoked or expired."),
    "403": _error_response(
        ["insufficient_scope", "token_desk_mismatch"],
        "The token lacks the route's scope, or belongs to another desk.",
    ),
}

_SCHEMAS: Final[dict[str, Any]] = {
    "Id": _ID,
    "Timestamp": _TIMESTAMP,
    "Priority": {"type": "string", "enum": ["low", "normal", "high", "urgent"]},
    "StatusType": {"type": "string", "enum": ["open", "awaiting_reply", "resolved", "closed"]},
    "AuthorKind": {"type": "string", "enum": ["agent", "end_user", "system", "automation"]},
    "Status": _object({"id": _ref("Id"), "label": {"type": "string"}, "internalType": _ref("StatusType")}),
    "Requester": _object(
        {"email": {"type": ["string", "null"]}, "name": {"type": ["string", "null"]}},
        required=["email"],
    ),
    "TicketSummary": _object(
        {
            "id": _ref("Id"),
            "number": {"type": "integer", "minimum": 1},
            "subject": {"type": "string"},
            "priority": _ref("Priority"),
            "status": _ref("Status"),
            "requester": _ref("Requester"),
            "createdAt": _ref("Timestamp"),
            "updatedAt": _ref("Timestamp"),
        }
    ),
    "DepartmentRef": _object({"id": _ref("Id"), "name": {"type": "string"}}),
    "TicketTypeRef": _object({"id": _ref("Id"), "name": {"type": "string"}}),
    "Message": _object(
        {
            "id": _ref("Id"),
            "authorKind": _ref("AuthorKind"),
            "bodyMd": {"type": "string"},
            "createdAt": _ref("Timestamp"),
        }
    ),
    "Ticket": _object(
        {
            "id": _ref("Id"),
            "number": {"type": "integer", "minimum": 1},
            "subject": {"type": "string"},
            "priority": _ref("Priority"),
            "status": _ref("Status"),
            "requester": _ref("Requester"),
            "department": _ref("DepartmentRef"),
            "ticketType": _ref("TicketTypeRef"),
            "createdAt": _ref("Timestamp"),
            "updatedAt": _ref("Timestamp"),
            "messages": {
                "type": "array",
                "items": _ref("Message"),
                "description": "Public messages only, oldest first.",
            },
        }
    ),
    "CreatedTicket": _object(
        {
            "id": _ref("Id"),
            "number": {"type": "integer", "minimum": 1},
            "subject": {"type": "string"},
            "priority": _ref("Priority"),
            "requester": _object({"email": {"type": "string"}}),
        }
    ),
    "Department": _object(
        {
            "id": _ref("Id"),
            "name": {"type": "string"},
            "isDefault": {"type": "boolean"},
            "isPublicToUsers": {"type": "boolean"},
        }
    ),
    "TicketType": _object(
        {
            "id": _ref("Id"),
            "name": {"type": "string"},
            "isInternal": {"type": "boolean"},
            "isDefault": {"type": "boolean"},
        }
    ),
    "TicketPage": _object(
        {
            "tickets": {"type": "array", "items": _ref("TicketSummary")},
            "nextCursor": {"oneOf": [_ref("Id"), {"type": "null"}]},
        }
    ),
    "CreateTicket": {
        "type": "object",
        "required": ["email", "subject", "body"],
        "properties": {
            "email": {"type": "string", "maxLength": 255, "pattern": _EMAIL_PATTERN},
            "name": {"type": ["string", "null"], "maxLength": 120},
            "subject": {"type": "string", "minLength": 1, "maxLength": 500},
            "body": {"type": "string", "minLength": 1, "maxLength": 50_000},
            "priority": {"enum": ["low", "normal", "high", "urgent", None]},
            "departmentId": {"type": ["string", "null"], "pattern": "^[0-9]+$"},
            "ticketTypeId": {"type": ["string", "null"], "pattern": "^[0-9]+$"},
        },
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string"},
            "detail": {"type": "string"},
            "issues": {"type": "array", "description": "Where a body or query failed; shape not documented."},
        },
    },
}

_DOCUMENT: Final[dict[str, Any]] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Headoni API",
        "version": "v1",
        "description": "A Headoni desk's public API, as headoni-async reads Headoni's documentation.",
    },
    "servers": [
        {"url": "https://{desk}.headoni.app/api/v1", "variables": {"desk": {"default": "acme"}}},
    ],
    "security": [{"bearer": []}],
    "paths": {
        "/tickets": {
            "post": {
                "operationId": "create_ticket",
                "summary": "Create a ticket for an end user (created on first use).",
                "x-scope": "tickets:create",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("CreateTicket")}},
                },
                "responses": {
                    "201": _ok(
                        "The new ticket, small.",
                        _object({"ticket": _ref("CreatedTicket")}),
                    ),
                    "400": _error_response(
                        ["invalid_body", "department_not_found", "ticket_type_not_found"],
                        "The body failed validation, or names an unknown department or type.",
                    ),
                    **_AUTH_ERRORS,
                },
            },
            "get": {
                "operationId": "list_tickets",
                "summary": "Ticket summaries, id descending, keyset-paginated.",
                "x-scope": "tickets:read",
                "parameters": [
                    {
                        "name": "requesterEmail",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "Exact match on the requester's primary email (lowercased).",
                    },
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {
                            "type": "string",
                            "anyOf": [
                                {"enum": ["open", "awaiting_reply", "resolved", "closed"]},
                                {"pattern": "^[0-9]+$"},
                            ],
                        },
                        "description": "A status keyword or a numeric status id.",
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 25},
                    },
                    {
                        "name": "cursor",
                        "in": "query",
                        "schema": {"type": "string", "pattern": "^0*[0-9]{1,20}$"},
                        "description": "A ticket id: tickets whose id is less than it.",
                    },
                ],
                "responses": {
                    "200": _ok("One page; nextCursor null at the end.", _ref("TicketPage")),
                    "400": _error_response(
                        ["invalid_query", "invalid_status"], "A query parameter failed validation."
                    ),
                    **_AUTH_ERRORS,
                },
            },
        },
        "/tickets/{idOrNumber}": {
            "get": {
                "operationId": "get_ticket",
                "summary": "One ticket with its public messages; tried as a number first, then an id.",
                "x-scope": "tickets:read",
                "parameters": [
                    {"name": "idOrNumber", "in": "path", "required": True, "schema": _ID},
                ],
                "responses": {
                    "200": _ok("The ticket.", _object({"ticket": _ref("Ticket")})),
                    "400": _error_response(["invalid_id"], "idOrNumber is not all digits."),
                    **_AUTH_ERRORS,
                    "404": _error_response(["ticket_not_found"], "No such ticket on this desk."),
                },
            },
        },
        "/departments": {
            "get": {
                "operationId": "departments",
                "summary": "Every non-deleted department, private ones included, by name.",
                "x-scope": "tickets:read",
                "responses": {
                    "200": _ok(
                        "The departments.",
                        _object({"departments": {"type": "array", "items": _ref("Department")}}),
                    ),
                    **_AUTH_ERRORS,
                },
            },
        },
        "/ticket-types": {
            "get": {
                "operationId": "ticket_types",
                "summary": "Every non-archived ticket type, in the desk's sort order.",
                "x-scope": "tickets:read",
                "responses": {
                    "200": _ok(
                        "The ticket types.",
                        _object({"ticketTypes": {"type": "array", "items": _ref("TicketType")}}),
                    ),
                    **_AUTH_ERRORS,
                },
            },
        },
    },
    "components": {
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "A desk's API token (hd_...); the hd_ prefix may be left off.",
            }
        },
        "schemas": _SCHEMAS,
    },
}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the Headoni API, as a fresh dict (change it freely).

    Raises nothing.
    """
    return copy.deepcopy(_DOCUMENT)
