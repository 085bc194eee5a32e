"""Structured logs: one JSON access line per request, errors with traceback, no secrets."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from myapp.core.logs import AccessEntry, JsonFormatter, access_json, access_record, stop_logging

SECRET_TOKEN = "s3cr3t-t0ken-" + "x" * 30
PASSWORD = "hunter2-very-secret"


@pytest.fixture
def logged(make_app, capsys):
    """An app logging JSON, and a function returning the lines written so far."""
    app = make_app(LOG_FORMAT="json", ACCESS_LOG=True)

    def lines():
        stop_logging()  # drain the queue the writer thread reads
        return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]

    return app, lines


def test_one_json_line_per_request(logged):
    app, lines = logged
    response = app.test_client().get("/v1/calc/add?a=1&b=2", headers={"X-Request-ID": "req-42"})
    access = [entry for entry in lines() if entry["logger"] == "myapp.access"]
    assert len(access) == 1
    entry = access[0]
    assert entry["method"] == "GET"
    assert entry["path"] == "/v1/calc/add"
    assert entry["status"] == response.status_code == 200
    assert entry["request_id"] == "req-42"
    assert isinstance(entry["duration_ms"], float)
    assert 0 <= entry["duration_ms"] < 10_000
    assert entry["level"] == "INFO"
    assert entry["ts"].endswith("Z")


def test_errors_carry_traceback_and_request_id(make_app, capsys):
    app = make_app(LOG_FORMAT="json", ACCESS_LOG=True)

    @app.get("/boom")
    def boom():
        raise RuntimeError("kaboom")

    response = app.test_client().get("/boom")
    stop_logging()
    entries = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    errors = [e for e in entries if e["level"] == "ERROR"]
    assert response.status_code == 500
    assert len(errors) == 1
    assert errors[0]["request_id"] == response.headers["X-Request-ID"]
    assert "RuntimeError: kaboom" in errors[0]["traceback"]
    access = [e for e in entries if e["logger"] == "myapp.access"]
    assert [e["status"] for e in access] == [500]


def test_no_secrets_in_the_logs(logged):
    app, lines = logged
    client = app.test_client()
    client.post(
        "/v1/users",
        json={"email": "ann@example.com", "name": "Ann", "password": PASSWORD},
    )
    client.post(
        "/v1/auth/token",
        json={"email": "ann@example.com", "password": PASSWORD},
    )
    client.get(
        f"/v1/users/me?access_token={SECRET_TOKEN}",
        headers={"Authorization": f"Bearer {SECRET_TOKEN}", "Cookie": f"s={SECRET_TOKEN}"},
    )
    text = json.dumps(lines())
    assert "/v1/users/me" in text  # the requests were logged ...
    for secret in (SECRET_TOKEN, PASSWORD, "Authorization", "Bearer", "access_token"):
        assert secret not in text  # ... and none of what could carry a secret


def test_text_format_and_the_servers_own_access_log_in_debug(make_app, capsys):
    """In debug mode: text lines, no access line of the app's, the server's through its writer."""
    # FAST_PATH off: on an unverified Flask the guard's warning would be a line too.
    app = make_app(DEBUG=True, ACCESS_LOG=True, FAST_PATH=False)

    @app.get("/warn")
    def warn():
        app.logger.warning("something to see")
        return {}

    app.test_client().get("/warn")
    logging.getLogger("werkzeug").info('127.0.0.1 - - "GET /warn HTTP/1.1" 200 -')
    stop_logging()
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "WARNING myapp: something to see",
        'INFO werkzeug: 127.0.0.1 - - "GET /warn HTTP/1.1" 200 -',
    ]


def test_access_log_can_be_switched_off(make_app, capsys):
    app = make_app(ACCESS_LOG=False, LOG_FORMAT="json", FAST_PATH=False)
    app.test_client().get("/health")
    stop_logging()
    assert capsys.readouterr().err == ""


@settings(max_examples=200, database=None)
@given(
    created=st.floats(min_value=0, max_value=4e9, allow_nan=False),
    method=st.sampled_from(["GET", "POST", "PATCH", "DELETE"]),
    path=st.text(),
    status=st.integers(100, 599),
    duration_ms=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    client=st.none() | st.text(),
    request_id=st.text(),
    trace=st.none()
    | st.fixed_dictionaries(
        {"trace_id": st.text(), "span_id": st.text()}, optional={"parent_span_id": st.text()}
    ),
)
def test_access_lines_are_what_the_formatter_writes(
    created, method, path, status, duration_ms, client, request_id, trace
):
    """The access line built directly is byte for byte JsonFormatter's line for its record."""
    entry = AccessEntry(created, method, path, status, duration_ms, client, request_id, trace)

    assert access_json(entry) == JsonFormatter().format(access_record(entry))
