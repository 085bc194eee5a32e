"""Traces: a caller's W3C traceparent reaches the access log; with OTEL, a span per request.

Without OpenTelemetry, a valid `traceparent` header puts its trace id and the
caller's span id (`trace_id`, `parent_span_id`) on the request's access log line,
so the line can be found from the caller's trace.

With OTEL on (`MYAPP_OTEL=1`, and the packages of requirements-otel.txt) every
request is a server span, named "<METHOD> <URL rule>" as OpenTelemetry's HTTP
conventions name them, a child of the caller's span when a traceparent came. The
rate-limit check is a child span of it (the app's database statements are too:
myapp.db.trace_database). The access line then carries the request's own
`span_id` as well. Spans go where the OpenTelemetry SDK is configured to send
them: when nothing configured it, to an OTLP endpoint (OTEL_EXPORTER_OTLP_* and
OTEL_SERVICE_NAME, as the SDK reads them).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from typing import Any

from flask import Flask, Response

from myapp.core.ratelimit import EXTENSION as RATELIMIT
from myapp.core.request import ApiRequest, api_request

EXTENSION = "tracing"
# version-trace_id-parent_id-flags; a later version may add fields after a dash.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(-.*)?")


def traceparent_fields(header: str) -> dict[str, str] | None:
    """The trace id and caller's span id of a valid traceparent, else None (W3C rules)."""
    match = _TRACEPARENT.fullmatch(header.strip())
    if match is None:
        return None
    version, trace_id, parent_id, rest = match.groups()
    if (
        version == "ff"
        or (version == "00" and rest)
        or not int(trace_id, 16)
        or not int(parent_id, 16)
    ):
        return None
    return {"trace_id": trace_id, "parent_span_id": parent_id}


def trace_fields(current: ApiRequest) -> dict[str, str] | None:
    """What the access line says of the request's trace (nothing when it has none)."""
    if current.trace_fields is not None:
        return current.trace_fields
    header = current.environ.get("HTTP_TRACEPARENT")
    return traceparent_fields(header) if header else None


def _opentelemetry() -> Any:
    try:
        from opentelemetry import trace
    except ImportError:
        raise RuntimeError(
            "OTEL is on but OpenTelemetry is not installed: "
            "pip install -r requirements-otel.txt (or turn MYAPP_OTEL off)"
        ) from None
    return trace


def tracer_provider(version: str) -> Any:
    """The configured OpenTelemetry tracer provider; without one, the SDK's, sending OTLP."""
    trace = _opentelemetry()
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider):  # nothing configured the SDK
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        name = os.environ.get("OTEL_SERVICE_NAME", "myapp")
        resource = Resource.create({"service.name": name, "service.version": version})
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
    return provider


class Tracing:
    """The hooks that open, describe and end a request's span."""

    def __init__(self, provider: Any, version: str) -> None:
        from opentelemetry import context, trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.provider = provider
        self.tracer = provider.get_tracer("myapp", version)
        self.propagator = TraceContextTextMapPropagator()
        self.context, self.trace = context, trace

    def start(self) -> None:
        """Open the request's server span, as the current span (the first before-request hook)."""
        current = api_request()
        rule = current.url_rule
        route = rule.rule if rule is not None else None
        parent = self.propagator.extract({"traceparent": current.headers.get("traceparent", "")})
        span = self.tracer.start_span(
            f"{current.method} {route or 'unmatched'}",
            context=parent,
            kind=self.trace.SpanKind.SERVER,
            attributes={
                "http.request.method": current.method,
                "url.path": current.path,
                "myapp.request_id": current.request_id,
                **({"http.route": route} if route else {}),
            },
        )
        token = self.context.attach(self.trace.set_span_in_context(span))
        current.environ[EXTENSION] = (span, token)
        ids = span.get_span_context()
        current.trace_fields = {
            "trace_id": format(ids.trace_id, "032x"),
            "span_id": format(ids.span_id, "016x"),
            **({"parent_span_id": parent_id} if (parent_id := self._parent_id(parent)) else {}),
        }

    def _parent_id(self, parent: Any) -> str | None:
        caller = self.trace.get_current_span(parent).get_span_context()
        return format(caller.span_id, "016x") if caller.is_valid else None

    def describe(self, response: Response) -> Response:
        """Put the status on the span (an after-request hook)."""
        opened = api_request().environ.get(EXTENSION)
        if opened is not None:
            opened[0].set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                opened[0].set_status(self.trace.StatusCode.ERROR)
        return response

    def end(self, _error: BaseException | None) -> None:
        """End the span and restore the context (a teardown hook: after the response)."""
        opened = api_request().environ.pop(EXTENSION, None)
        if opened is not None:
            opened[0].end()
            self.context.detach(opened[1])

    def spanned(self, name: str, hook: Callable[[], Any]) -> Callable[[], Any]:
        """`hook` run inside a child span of the request's."""

        @functools.wraps(hook)
        def wrapper() -> Any:
            with self.tracer.start_as_current_span(name):
                return hook()

        return wrapper


def register_tracing(app: Flask, version: str) -> None:
    """With OTEL on, a span per request, and the limiter's check as a child span.

    After register_ratelimit: its hook is wrapped where it stands, and the span's
    own hook goes before every other, so that all of them run inside the span.
    """
    if not app.config["OTEL"]:
        return
    tracing = app.extensions[EXTENSION] = Tracing(tracer_provider(version), version)
    hooks = app.before_request_funcs.setdefault(None, [])
    limiter = app.extensions.get(RATELIMIT)
    if limiter is not None and limiter.limit_request in hooks:
        at = hooks.index(limiter.limit_request)
        hooks[at] = tracing.spanned("ratelimit", hooks[at])
    hooks.insert(0, tracing.start)
    app.after_request(tracing.describe)
    app.teardown_request(tracing.end)
