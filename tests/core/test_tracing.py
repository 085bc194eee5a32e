"""Traces: the caller's traceparent in the access log; with OTEL, the request's span tree."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import ClassVar

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from myapp.core.logs import stop_logging
from myapp.core.tracing import traceparent_fields
from tests.helpers import signed_up

ROOT = Path(__file__).resolve().parents[2]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"
PASSWORD = "orchid mantle 91"


@pytest.mark.parametrize(
    "header",
    [TRACEPARENT, f"00-{TRACE_ID}-{CALLER_SPAN}-00", f"01-{TRACE_ID}-{CALLER_SPAN}-01-future"],
)
def test_a_valid_traceparent_gives_its_ids(header):
    assert traceparent_fields(header) == {"trace_id": TRACE_ID, "parent_span_id": CALLER_SPAN}


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        f"ff-{TRACE_ID}-{CALLER_SPAN}-01",
        f"00-{'0' * 32}-{CALLER_SPAN}-01",
        f"00-{TRACE_ID}-{'0' * 16}-01",
        f"00-{TRACE_ID.upper()}-{CALLER_SPAN}-01",
        f"00-{TRACE_ID}-{CALLER_SPAN}-01-extra",
        f"00-{TRACE_ID[:-1]}-{CALLER_SPAN}-01",
        f"00-{TRACE_ID}-{CALLER_SPAN}",
    ],
)
def test_an_invalid_traceparent_is_ignored(header):
    assert traceparent_fields(header) is None


def access_lines(app, capsys, **request):
    """Send one request; return its response and its access line (the app's logs stop)."""
    response = app.test_client().open(**request)
    stop_logging()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    request_id = response.headers["X-Request-ID"]
    mine = [line for line in lines if line.get("request_id") == request_id]
    return response, [line for line in mine if line["logger"] == "myapp.access"]


def test_the_callers_trace_reaches_the_access_line(make_app, capsys):
    app = make_app(LOG_FORMAT="json", ACCESS_LOG=True)
    _, (line,) = access_lines(app, capsys, path="/health", headers={"traceparent": TRACEPARENT})
    app = make_app(LOG_FORMAT="json", ACCESS_LOG=True)
    _, (plain,) = access_lines(app, capsys, path="/health", headers={"traceparent": "bad"})

    assert (line["trace_id"], line["parent_span_id"]) == (TRACE_ID, CALLER_SPAN)
    assert "span_id" not in line  # without OpenTelemetry the request has no span of its own
    assert not {"trace_id", "span_id", "parent_span_id"} & plain.keys()


@pytest.fixture(scope="session")
def exporter():
    """The process's tracer provider, recording spans in memory (set once: OTel's rule)."""
    recorded = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(recorded))
    trace.set_tracer_provider(provider)
    return recorded


@pytest.fixture
def traced(make_app, exporter):
    app = make_app(OTEL=True, LOG_FORMAT="json", ACCESS_LOG=True, RATELIMIT_AUTH="1000/minute")
    auth = signed_up(app.test_client(), "ann@example.com", PASSWORD)
    exporter.clear()
    return app, auth


def test_a_request_is_a_server_span_with_the_limiter_and_the_database_under_it(
    traced, exporter, capsys
):
    app, auth = traced
    capsys.readouterr()

    response, (line,) = access_lines(
        app,
        capsys,
        path="/v1/aliases",
        method="POST",
        json={"target": "me@example.com"},
        headers={**auth, "traceparent": TRACEPARENT},
    )

    assert response.status_code == 201
    spans = exporter.get_finished_spans()
    (server,) = [span for span in spans if span.kind == trace.SpanKind.SERVER]
    ids = server.get_span_context()
    assert server.name == "POST /v1/aliases"
    assert server.attributes["http.route"] == "/v1/aliases"
    assert server.attributes["http.request.method"] == "POST"
    assert server.attributes["http.response.status_code"] == 201
    assert server.attributes["myapp.request_id"] == response.headers["X-Request-ID"]
    assert format(ids.trace_id, "032x") == TRACE_ID
    assert format(server.parent.span_id, "016x") == CALLER_SPAN
    by_id = {span.get_span_context().span_id: span for span in spans}
    children = [span for span in spans if span.parent and span.parent.span_id == ids.span_id]
    (limiter,) = [span for span in children if span.name == "ratelimit"]
    for span in spans:  # every span hangs under the request's
        ancestor = span
        while ancestor is not server:
            ancestor = by_id[ancestor.parent.span_id]

    def statements(of):
        return " ".join(str(span.attributes.get("db.statement", "")) for span in of)

    assert "INSERT INTO aliases" in statements(children)
    # The limiter keys on the user: the bearer token's lookup happens inside its span.
    under_limiter = [s for s in spans if s.parent and s.parent.span_id == limiter.context.span_id]
    assert "FROM users JOIN tokens" in statements(under_limiter)
    assert (line["trace_id"], line["span_id"], line["parent_span_id"]) == (
        TRACE_ID,
        format(ids.span_id, "016x"),
        CALLER_SPAN,
    )


def test_without_a_traceparent_a_request_starts_a_trace(traced, exporter):
    app, _ = traced

    response = app.test_client().get("/no/such/path")

    (server,) = [s for s in exporter.get_finished_spans() if s.kind == trace.SpanKind.SERVER]
    assert response.status_code == 404
    assert server.name == "GET unmatched"
    assert server.parent is None
    assert "http.route" not in server.attributes


class Collector(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP endpoint that keeps what it is sent."""

    received: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_otel_without_a_configured_sdk_sends_otlp():
    collector = http.server.HTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    code = (
        "from opentelemetry import trace; from myapp import create_app;"
        "app = create_app({'TESTING': True, 'OTEL': True, 'DATABASE_URL': 'sqlite://'});"
        "assert app.test_client().get('/health').status_code == 200;"
        "trace.get_tracer_provider().force_flush()"
    )
    environment = {
        "PATH": "/usr/bin:/bin",
        "OTEL_SERVICE_NAME": "aliases-api",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_port}",
    }
    try:
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, check=True)
    finally:
        collector.shutdown()
        collector.server_close()

    ((path, body),) = Collector.received
    assert path == "/v1/traces"
    assert b"GET /health" in body
    assert b"aliases-api" in body
