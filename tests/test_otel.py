"""The otel extra: one CLIENT span per call named by its route template, the
standard HTTP client attributes, a retry event, a duration histogram; no
attribute or event ever holds the token; and with aiohttp's own
instrumentation installed too, its per-attempt spans nest under ours."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from headoni_async import AsyncDesk, TicketNotFound
from headoni_async.otel import DURATION_METRIC, otel_hooks
from headoni_async.testing import FakeDesk, Fault

from .conftest import FAST_RETRY


class Telemetry:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.metrics = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metrics])

    def finished(self) -> tuple[ReadableSpan, ...]:
        return self.spans.get_finished_spans()

    def points(self) -> list[Any]:
        data = self.metrics.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == DURATION_METRIC:
                        found.extend(metric.data.data_points)
        return found


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    t = Telemetry()
    yield t
    t.tracer_provider.shutdown()
    t.meter_provider.shutdown()


@pytest.fixture
async def traced(fake: FakeDesk, telemetry: Telemetry) -> AsyncIterator[tuple[AsyncDesk, str]]:
    token = fake.mint_token()
    hooks = otel_hooks(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
    async with AsyncDesk("acme", token, base_url=fake.base_url, retry=FAST_RETRY, hooks=hooks) as desk:
        yield desk, token


def _everything(span: ReadableSpan) -> str:
    """All a span carries, as text: name, attributes, events, links, resource."""
    return span.to_json() + json.dumps(dict(span.resource.attributes), default=str)


async def test_one_client_span_per_call_with_the_standard_attributes(
    traced: tuple[AsyncDesk, str], fake: FakeDesk, telemetry: Telemetry
) -> None:
    desk, token = traced
    number = next(fake.store.iter_tickets()).number
    await desk.get_ticket(number)
    (span,) = telemetry.finished()
    assert span.name == "GET /tickets/{idOrNumber}" and span.kind is SpanKind.CLIENT
    attrs = dict(span.attributes or {})
    assert attrs["http.request.method"] == "GET"
    assert attrs["url.template"] == "/tickets/{idOrNumber}"
    assert attrs["http.response.status_code"] == 200
    assert attrs["server.address"] == "127.0.0.1" and isinstance(attrs["server.port"], int)
    assert "error.type" not in attrs and "http.request.resend_count" not in attrs
    assert span.status.status_code is StatusCode.UNSET
    (point,) = telemetry.points()
    assert point.count == 1 and point.sum > 0
    assert dict(point.attributes)["url.template"] == "/tickets/{idOrNumber}"
    assert f"/tickets/{number}" not in _everything(span) and token not in _everything(span)


async def test_retries_errors_and_the_token(traced: tuple[AsyncDesk, str], fake: FakeDesk, telemetry: Telemetry) -> None:
    desk, token = traced
    fake.inject(Fault.reset(), route="departments", on=1)
    await desk.departments()
    with pytest.raises(TicketNotFound):
        await desk.get_ticket(999999)
    [t async for t in desk.tickets(page_size=100)]
    await desk.create_ticket(email="a@example.com", subject="s", body="b")
    spans = {s.name: s for s in telemetry.finished()}
    retried = spans["GET /departments"]
    assert dict(retried.attributes or {})["http.request.resend_count"] == 1
    (event,) = retried.events
    assert event.name == "retry" and dict(event.attributes or {})["error.type"] == "NetworkError"
    missing = spans["GET /tickets/{idOrNumber}"]
    assert dict(missing.attributes or {})["error.type"] == "TicketNotFound"
    assert dict(missing.attributes or {})["http.response.status_code"] == 404
    assert missing.status.status_code is StatusCode.ERROR
    assert "POST /tickets" in spans and "GET /tickets" in spans
    assert len(telemetry.finished()) == 1 + 1 + 3 + 1
    for span in telemetry.finished():
        text = _everything(span)
        assert token not in text and token.removeprefix("hd_") not in text and "Bearer" not in text
        assert "cursor=" not in text and "a@example.com" not in text
    assert sum(p.count for p in telemetry.points()) == 6


async def test_with_aiohttp_instrumented_too_its_spans_nest_under_ours(
    fake: FakeDesk, telemetry: Telemetry
) -> None:
    token = fake.mint_token()
    instrumentor = AioHttpClientInstrumentor()
    instrumentor.instrument(tracer_provider=telemetry.tracer_provider)
    try:
        hooks = otel_hooks(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
        async with AsyncDesk("acme", token, base_url=fake.base_url, retry=FAST_RETRY, hooks=hooks) as desk:
            fake.inject(Fault.reset(), route="departments", on=1)
            await desk.departments()
    finally:
        instrumentor.uninstrument()
    spans = telemetry.finished()
    ours = [s for s in spans if s.instrumentation_scope and s.instrumentation_scope.name == "headoni_async"]
    theirs = [s for s in spans if s not in ours]
    assert len(ours) == 1 and len(theirs) == 2  # one call, two HTTP attempts
    call = ours[0]
    assert all(s.parent is not None and s.parent.span_id == call.context.span_id for s in theirs)
    assert all(s.context.trace_id == call.context.trace_id for s in theirs)
    for span in spans:
        assert token not in _everything(span) and "Bearer" not in _everything(span)


async def test_every_page_of_a_stream_is_a_child_of_the_callers_span(
    traced: tuple[AsyncDesk, str], telemetry: Telemetry
) -> None:
    # The next page's fetch starts while this page's call is still running (its
    # span current); it must not nest under it, but under what the caller had.
    desk, _ = traced
    tracer = telemetry.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("export") as parent:
        count = len([t async for t in desk.tickets(page_size=50)])  # 250 tickets: five pages
    assert count == 250
    pages = [s for s in telemetry.finished() if s.name == "GET /tickets"]
    assert len(pages) == 5
    assert {s.parent.span_id if s.parent else None for s in pages} == {parent.get_span_context().span_id}
