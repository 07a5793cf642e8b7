"""One OpenAPI document, three parties: schemathesis (a tool we did not write)
fuzzes the running fake desk from it, and the client's route table, error map
and models are compared with it field by field. None of the three can drift
from the others without a failure here."""

from __future__ import annotations

import datetime
import enum
import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from headoni_async import _models, _protocol
from headoni_async._errors import CODE_TO_CLASS, class_for
from headoni_async._routes import ROUTES
from headoni_async.testing import FakeDesk, openapi_document
from headoni_async.testing._fake import _ROUTES as FAKE_ROUTES

DOC = openapi_document()
SCHEMAS = DOC["components"]["schemas"]


def _operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in DOC["paths"].items():
        for method, op in item.items():
            yield path, method.upper(), op


def _client_path(path: str) -> str:
    return re.sub(
        r"\{([a-zA-Z]+)\}", lambda m: "{" + re.sub(r"([A-Z])", r"_\1", m.group(1)).lower() + "}", path
    )


# ---------------------------------------------------------------- the fake desk, fuzzed


def test_the_document_is_valid_openapi_3_1() -> None:
    schema = schemathesis.openapi.from_dict(openapi_document())
    schema.validate()  # against the OpenAPI 3.1 meta-schema
    assert {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()} == {
        (m, p) for p, m, _ in _operations()
    }


TOKENS = ("both", "read", "create", "foreign", "unknown", "none")


@pytest.mark.headoni_fake(tickets=30, seed=5)
def test_schemathesis_finds_nothing_against_the_fake_desk(headoni_fake_desk: FakeDesk) -> None:
    fake = headoni_fake_desk
    schema = schemathesis.openapi.from_dict(openapi_document())
    tokens = {
        "both": fake.mint_token(),
        "read": fake.mint_token({"tickets:read"}),
        "create": fake.mint_token({"tickets:create"}),
        "foreign": fake.mint_token(desk="globex"),
        "unknown": "hd_unknown",
    }
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        negative_data_rejection,
    ]
    strategy = schema.as_strategy(GenerationMode.POSITIVE) | schema.as_strategy(GenerationMode.NEGATIVE)
    seen: set[tuple[str, int]] = set()

    with requests.Session() as session:

        @settings(
            max_examples=120,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy, who=st.sampled_from(TOKENS))
        def fuzz(case: schemathesis.Case, who: str) -> None:
            # A negative case that drops or spoils the Authorization header keeps it so.
            negated = schema.is_security_param_negated(case)
            headers = {"Authorization": f"Bearer {tokens[who]}"} if who in tokens and not negated else {}
            if who == "none" and not negated:
                case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
            response = case.call_and_validate(
                base_url=fake.base_url, session=session, headers=headers, checks=checks
            )
            seen.add((case.operation.label, response.status_code))

        fuzz()
    statuses = {status for _, status in seen}
    # The run reached the interesting answers, not only 401s.
    assert {200, 201, 400, 401, 403, 404} <= statuses, sorted(seen)
    assert all(r.status is not None and r.status < 500 for r in fake.requests)


# ---------------------------------------------------------------- the route tables


def test_the_client_route_table_is_the_document() -> None:
    documented = {
        op["operationId"]: (method, _client_path(path), op["x-scope"]) for path, method, op in _operations()
    }
    ours = {name: (r.method, r.template, r.scope) for name, r in ROUTES.items()}
    assert ours == documented


def test_the_fake_route_table_is_the_document() -> None:
    documented = {
        op["operationId"]: (method, _client_path(path), op["x-scope"]) for path, method, op in _operations()
    }
    assert dict(FAKE_ROUTES) == documented
    served = {
        (route.method, route.resource.canonical)
        for route in FakeDesk().make_app().router.routes()
        if route.resource is not None
        and route.method != "HEAD"
        and route.resource.canonical.startswith("/api/v1")
    }
    assert served == {(m, "/api/v1" + p) for m, p, _ in documented.values()}


def test_the_error_map_is_the_document() -> None:
    documented: dict[str, int] = {}
    for _, _, op in _operations():
        for status, response in op["responses"].items():
            schema = response["content"]["application/json"]["schema"]
            for part in schema.get("allOf", []):
                for code in part.get("properties", {}).get("error", {}).get("enum", []):
                    documented[code] = int(status)
    assert set(documented) == set(CODE_TO_CLASS)
    for code, status in documented.items():
        assert class_for(status, code) is CODE_TO_CLASS[code], code


def test_the_client_sends_only_documented_names() -> None:
    create = SCHEMAS["CreateTicket"]
    body = _protocol.create_body(
        email="a@b.co",
        subject="s",
        body="b",
        name="n",
        priority="high",
        department_id="1",
        ticket_type_id="2",
    )
    assert set(body) == set(create["properties"]) and set(create["required"]) <= set(body)
    (list_op,) = [op for _, _, op in _operations() if op["operationId"] == "list_tickets"]
    query = _protocol.list_query(limit=5, cursor="9", status="open", requester_email="a@b.co")
    assert set(query) == {p["name"] for p in list_op["parameters"]}
    limit = next(p for p in list_op["parameters"] if p["name"] == "limit")["schema"]
    assert (limit["minimum"], limit["maximum"]) == (1, _protocol.MAX_PAGE_SIZE)


# ---------------------------------------------------------------- the models


MODELS: dict[str, type[Any]] = {
    "Status": _models.Status,
    "Requester": _models.Requester,
    "TicketSummary": _models.TicketSummary,
    "DepartmentRef": _models.DepartmentRef,
    "TicketTypeRef": _models.TicketTypeRef,
    "Message": _models.Message,
    "Ticket": _models.Ticket,
    "CreatedTicket": _models.CreatedTicket,
    "Department": _models.Department,
    "TicketType": _models.TicketType,
    "TicketPage": _models.TicketPage,
}
ENUMS = {"Priority": _models.Priority, "StatusType": _models.StatusType, "AuthorKind": _models.AuthorKind}


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _json_types(schema: dict[str, Any]) -> set[str]:
    ref = schema.get("$ref")
    schema = _resolve(schema)
    if "oneOf" in schema:
        return set().union(*(_json_types(s) for s in schema["oneOf"]))
    kind = schema.get("type", "string" if "enum" in schema else None)
    found = set(kind) if isinstance(kind, list) else {kind}
    if ref and ref.endswith("/Timestamp"):
        found = {"timestamp"}
    return found


def _accepted(tp: Any) -> set[str]:
    """The JSON types a model annotation accepts."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_accepted(a) for a in typing.get_args(tp)))
    simple = {
        str: "string",
        int: "integer",
        bool: "boolean",
        type(None): "null",
        datetime.datetime: "timestamp",
    }
    if tp in simple:
        return {simple[tp]}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"string"}
    if origin is tuple:
        return {"array"}
    if attrs.has(tp):
        return {"object"}
    raise AssertionError(f"no JSON type for {tp!r}")


def _camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_model_reads_exactly_what_the_document_describes(name: str) -> None:
    cls, schema = MODELS[name], SCHEMAS[name]
    hints = typing.get_type_hints(cls)
    # eq=False marks what is kept beside the data, not read from a key (TicketPage.records).
    fields = {_camel(a.name): a for a in attrs.fields(cls) if a.eq}
    assert set(fields) == set(schema["properties"]), name
    for key, field in fields.items():
        accepted = _accepted(hints[field.name])
        assert _json_types(schema["properties"][key]) <= accepted, (name, key)
        if field.default is attrs.NOTHING:  # the model needs it: the document must promise it
            assert key in schema["required"], (name, key)


def test_created_ticket_requester_and_enums_match() -> None:
    created = SCHEMAS["CreatedTicket"]["properties"]["requester"]
    assert set(created["properties"]) <= {_camel(a.name) for a in attrs.fields(_models.Requester)}
    for name, cls in ENUMS.items():
        assert {m.value for m in cls} == set(SCHEMAS[name]["enum"]), name


def test_the_readme_example() -> None:
    # README, "The fake desk, for your tests", run as written.
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    match = re.search(r"<!-- readme-test: openapi -->\n```python\n(.*?)```", text, re.S)
    assert match, "no readme-test block 'openapi' in the README"
    exec(compile(match.group(1), "README.md:openapi", "exec"), {"__name__": "readme_openapi"})  # noqa: S102 - our own README
