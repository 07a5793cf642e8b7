"""OpenTelemetry for a desk: one client span per API call and a duration
histogram, built on the desk's hooks. Needs the ``otel`` extra
(``pip install 'headoni-async[otel]'``, which installs ``opentelemetry-api``;
you bring the SDK and exporters)::

    from headoni_async import AsyncDesk
    from headoni_async.otel import otel_hooks

    desk = AsyncDesk("acme", token, hooks=otel_hooks())

Each call (``get_ticket``, one page of a stream, a create, ...) is one span
of kind CLIENT named by its route template (``GET /tickets/{idOrNumber}``),
covering every attempt, backoff and rate-limit wait of the call. Attributes:
``http.request.method``, ``url.template``, ``server.address``,
``server.port``, ``http.response.status_code`` (when a response came back),
``http.request.resend_count`` (retries, when there were any), ``error.type``
(the exception's class name, on failure; the span's status is then ERROR)
and ``headoni.desk``. Each retry is a span event ``retry``. The span is the
current span while the call runs, so aiohttp's own instrumentation (one span
per HTTP attempt, if you install it) nests under it instead of standing
beside it. Nothing here reads a header: no attribute or event holds the
token, a query string (which may hold an e-mail address) or a concrete
ticket id.

The histogram ``headoni.client.call.duration`` (seconds) records each
call's whole duration with the same low-cardinality attributes (method,
template, server, status code, error type). It is deliberately not
``http.client.request.duration``, which aiohttp's instrumentation records per
attempt: the two never count the same thing twice.
"""

from __future__ import annotations

import time
from contextvars import Token
from typing import Any, Final

from opentelemetry import context, metrics, trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from ._hooks import Hooks, RequestEvent
from ._version import VERSION

__all__ = ["DURATION_METRIC", "otel_hooks"]

DURATION_METRIC: Final = "headoni.client.call.duration"
"""The name of the call-duration histogram."""

_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60)


def otel_hooks(
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
) -> Hooks:
    """``Hooks`` that make one OpenTelemetry span per API call and record
    its duration (see the module docstring). The providers default to the
    global ones.

    Raises:
        ImportError: at import of this module, when ``opentelemetry-api`` is
            not installed (the ``otel`` extra).
    """
    tracer = trace.get_tracer("headoni_async", VERSION, tracer_provider=tracer_provider)
    meter = metrics.get_meter("headoni_async", VERSION, meter_provider=meter_provider)
    duration = meter.create_histogram(
        DURATION_METRIC,
        unit="s",
        description="Duration of Headoni API calls, every attempt, backoff and rate-limit wait included",
        explicit_bucket_boundaries_advisory=_BUCKETS,
    )
    live: dict[int, tuple[trace.Span, Token[Context]]] = {}

    def base(event: RequestEvent) -> dict[str, Any]:
        return {
            "http.request.method": event.method,
            "url.template": event.route,
            "server.address": event.server_address,
            "server.port": event.server_port,
        }

    def on_request(event: RequestEvent) -> None:
        if event.attempt != 1 or event.call in live:
            return
        started = time.time_ns() - int(event.elapsed * 1e9)
        span = tracer.start_span(
            f"{event.method} {event.route}",
            kind=SpanKind.CLIENT,
            attributes={**base(event), "headoni.desk": event.desk},
            start_time=started,
        )
        live[event.call] = (span, context.attach(trace.set_span_in_context(span)))

    def on_retry(event: RequestEvent) -> None:
        entry = live.get(event.call)
        if entry is None:
            return
        attributes: dict[str, Any] = {"http.request.resend_count": event.attempt}
        if event.error is not None:
            attributes["error.type"] = event.error
        if event.status is not None:
            attributes["http.response.status_code"] = event.status
        if event.wait is not None:
            attributes["headoni.retry.wait"] = event.wait
        entry[0].add_event("retry", attributes)

    def on_call_end(event: RequestEvent) -> None:
        attributes = base(event)
        if event.status is not None:
            attributes["http.response.status_code"] = event.status
        if event.error is not None:
            attributes["error.type"] = event.error
        duration.record(event.elapsed, attributes)
        entry = live.pop(event.call, None)
        if entry is None:
            return
        span, token = entry
        try:
            if event.attempt > 1:
                span.set_attribute("http.request.resend_count", event.attempt - 1)
            for key in ("http.response.status_code", "error.type"):
                if key in attributes:
                    span.set_attribute(key, attributes[key])
            if event.error is not None:
                span.set_status(Status(StatusCode.ERROR))
            span.end()
        finally:
            context.detach(token)

    return Hooks(on_request=on_request, on_retry=on_retry, on_call_end=on_call_end)
