"""Hooks, the pure part: the event value, the dispatch that never lets a hook
change a call's outcome, and the API's spelling of route templates."""

from __future__ import annotations

import logging

import attrs
import pytest

from headoni_async import Hooks, InvalidArgumentType, RequestEvent
from headoni_async._hooks import HookSet, api_template

EVENT = RequestEvent(
    call=1, desk="acme", server_address="acme.headoni.app", server_port=443,
    method="GET", route="/tickets/{idOrNumber}", attempt=1,
)  # fmt: skip


def test_the_event_is_frozen_and_holds_only_what_is_documented() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        EVENT.status = 200  # type: ignore[misc]
    assert {a.name for a in attrs.fields(RequestEvent)} == {
        "call", "desk", "server_address", "server_port", "method", "route",
        "attempt", "status", "error", "elapsed", "wait",
    }  # fmt: skip


def test_hooks_run_in_order_and_a_failing_one_is_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def broken(event: RequestEvent) -> None:
        raise RuntimeError("a bug in the user's hook")

    hooks = HookSet([Hooks(on_request=lambda e: seen.append("first")), Hooks(on_request=broken), Hooks(on_request=lambda e: seen.append("third"))])
    with caplog.at_level(logging.WARNING, logger="headoni_async"):
        hooks.emit("on_request", EVENT)
    assert seen == ["first", "third"]
    assert "on_request hook raised RuntimeError" in caplog.text
    assert hooks.active


def test_no_hooks_means_inactive() -> None:
    assert not HookSet(None).active
    assert not HookSet(Hooks()).active
    assert HookSet(Hooks(on_call_end=print)).active


@pytest.mark.parametrize("bad", ["hooks", 3, [Hooks(), "x"], [print]])
def test_hooks_must_be_hooks_values(bad: object) -> None:
    with pytest.raises(InvalidArgumentType):
        HookSet(bad)  # type: ignore[arg-type]


def test_a_callback_must_be_callable() -> None:
    with pytest.raises(InvalidArgumentType, match="on_retry"):
        Hooks(on_retry="log")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("template", "api"),
    [
        ("/tickets", "/tickets"),
        ("/tickets/{id_or_number}", "/tickets/{idOrNumber}"),
        ("/tickets/{idOrNumber}", "/tickets/{idOrNumber}"),
        ("/ticket-types", "/ticket-types"),
        ("/a/{x}/b/{long_name_here}", "/a/{x}/b/{longNameHere}"),
    ],
)
def test_api_template(template: str, api: str) -> None:
    assert api_template(template) == api
