"""ApiRequest.discard_unread_body: a body the answer came before is read and dropped.

A server that keeps the connection alive (granian) parses the next request right
after this one's body, so whatever the app left unread must be read off first:
the 429, 401, 404, 405 and 415 answers all come before a view reads its body.
A body past MAX_CONTENT_LENGTH is left alone (its connection is closed), a
request without a body is never read from, and a body read once is not read again.

Every test calls the app as WSGI with its own wsgi.input, to see each read made.
"""

from __future__ import annotations

import io
import json

import pytest
import werkzeug.wrappers.request
from werkzeug.test import create_environ, run_wsgi_app
from werkzeug.wrappers import Response

from tests.helpers import assert_problem, assert_success

JSON = "application/json"
BODY = json.dumps({"email": "ada@example.com", "name": "Ada", "password": "correct horse"})


class RecordingStream:
    """wsgi.input as a server hands it over: at most `step` bytes a read, each read recorded."""

    def __init__(self, data: bytes, step: int = 65536) -> None:
        self.data, self.step = data, step
        self.delivered = 0  # bytes handed out so far
        self.reads = 0
        self.reads_at_end = 0  # reads made once every byte had been handed out

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        if self.delivered == len(self.data):
            self.reads_at_end += 1
        wanted = len(self.data) if size is None or size < 0 else min(size, self.step)
        chunk = self.data[self.delivered : self.delivered + wanted]
        self.delivered += len(chunk)
        return chunk


class NeverRead:
    """wsgi.input that must not be touched."""

    def read(self, size: int | None = -1) -> bytes:
        raise AssertionError(f"wsgi.input was read ({size})")


class GoneStream:
    """wsgi.input of a client that went away: every read fails."""

    def __init__(self) -> None:
        self.reads = 0

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        raise OSError("connection reset by peer")


def environ_for(method, path, body=b"", content_type=JSON, *, framing="length", stream=None):
    """A server's environ for the request: the body's length given, or chunked and
    terminated by the server (as granian does), with `stream` as its wsgi.input."""
    environ = create_environ(path, method=method, data=body, content_type=content_type)
    environ["REMOTE_ADDR"] = "127.0.0.1"
    if framing == "chunked":
        del environ["CONTENT_LENGTH"]
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
        environ["wsgi.input_terminated"] = True
    environ["wsgi.input"] = RecordingStream(body) if stream is None else stream
    return environ


def call(app, environ) -> Response:
    """The app's answer to the environ, as a server would get it."""
    app_iter, status, headers = run_wsgi_app(app, environ, buffered=True)
    return Response(app_iter, status, headers)


# Answers that come before any view reads the body: (method, path, content type, status).
EARLY_ANSWERS = {
    "415 text/plain to a JSON route": ("POST", "/v1/users", "text/plain", 415),
    "404 unknown path": ("POST", "/v1/nowhere", JSON, 404),
    "405 POST to GET-only /health": ("POST", "/health", JSON, 405),
    "405 POST to GET-only /v1/calc/divide": ("POST", "/v1/calc/divide", JSON, 405),
    "401 without a token": ("PATCH", "/v1/users/me", JSON, 401),
}


@pytest.mark.parametrize("step", [65536, 3], ids=["whole", "3 bytes a read"])
@pytest.mark.parametrize(
    ("method", "path", "content_type", "status"), EARLY_ANSWERS.values(), ids=EARLY_ANSWERS.keys()
)
def test_body_answered_before_it_is_read_is_consumed(app, method, path, content_type, status, step):
    body = BODY.encode()
    stream = RecordingStream(body, step)

    response = call(app, environ_for(method, path, body, content_type, stream=stream))

    assert_problem(response, status)
    assert stream.delivered == len(body)  # the next request starts right after it
    if step == 3:
        assert stream.reads >= len(body) // 3  # a slow client's body, piece by piece


def test_body_left_in_a_plain_bytesio_is_consumed(app):
    """The same with the BytesIO a test client or a buffering server gives."""
    environ = environ_for("POST", "/v1/users", BODY.encode(), "text/plain")
    environ["wsgi.input"] = stream = io.BytesIO(BODY.encode())

    assert_problem(call(app, environ), 415)
    assert stream.tell() == len(BODY.encode())


@pytest.mark.parametrize(
    ("settings", "path", "body", "first"),
    [
        (
            {"RATELIMIT_AUTH": "1/day"},
            "/v1/auth/token",
            b'{"email": "a@example.com", "password": "x"}',
            401,
        ),
        ({"RATELIMIT_DEFAULT": "1/day"}, "/v1/calc/add", b'{"a": 1, "b": 2}', 200),
    ],
    ids=["auth limit", "default limit"],
)
def test_body_of_a_rate_limited_request_is_consumed(make_app, settings, path, body, first):
    app = make_app(**settings)
    assert call(app, environ_for("POST", path, body)).status_code == first  # the one allowed
    stream = RecordingStream(body, step=5)

    response = call(app, environ_for("POST", path, body, stream=stream))

    assert assert_problem(response, 429, type_=None)["type"].endswith("/rate-limited")
    assert stream.delivered == len(body)


@pytest.mark.parametrize(
    ("path", "content_type", "status"),
    [
        ("/v1/users", "text/plain", 415),  # refused before the body would be read
        ("/v1/nowhere", JSON, 404),
        ("/v1/users", JSON, 413),  # read_body refuses it by its length
    ],
)
def test_body_past_the_limit_is_left_unread(make_app, path, content_type, status):
    """The server closes such a connection; reading a large body for nothing would only
    hold the worker."""
    app = make_app(MAX_CONTENT_LENGTH=100)
    body = b"x" * 101
    stream = RecordingStream(body)

    response = call(app, environ_for("POST", path, body, content_type, stream=stream))

    assert_problem(response, status)
    assert stream.reads == 0


def test_body_past_the_limit_is_not_even_opened(make_app, monkeypatch):
    """discard_unread_body itself leaves a body past the limit alone: it does not open
    the stream and count on Werkzeug's get_input_stream refusing to wrap it (which
    Werkzeug 3.1 does, with a 413 that would be swallowed)."""
    opened = []
    real = werkzeug.wrappers.request.get_input_stream

    def get_input_stream(environ, *args, **kwargs):
        opened.append(environ["PATH_INFO"])
        return real(environ, *args, **kwargs)

    monkeypatch.setattr(werkzeug.wrappers.request, "get_input_stream", get_input_stream)
    app = make_app(MAX_CONTENT_LENGTH=100)
    body = b"x" * 101
    stream = RecordingStream(body)

    response = call(app, environ_for("POST", "/v1/users", body, "text/plain", stream=stream))

    assert_problem(response, 415)
    assert opened == []
    assert stream.reads == 0


@pytest.mark.parametrize("terminated", [False, True], ids=["plain", "input_terminated"])
@pytest.mark.parametrize(
    ("path", "status"),
    [("/health", 200), ("/v1/calc/add?a=1&b=2", 200), ("/v1/nowhere", 404)],
)
def test_request_without_a_body_is_never_read(app, path, status, terminated):
    """A GET has no body, even where the server lets the app read to the stream's end."""
    environ = create_environ(path, method="GET")
    environ["wsgi.input"] = NeverRead()
    if terminated:
        environ["wsgi.input_terminated"] = True

    response = call(app, environ)

    assert response.status_code == status


@pytest.mark.parametrize(
    ("length", "terminated"),
    [
        ("", True),
        ("0", False),
        ("0", True),
    ],
    ids=["length empty, terminated", "length 0", "length 0, terminated"],
)
def test_empty_body_is_never_read(app, length, terminated):
    environ = environ_for("POST", "/v1/users", content_type="text/plain", stream=NeverRead())
    environ["CONTENT_LENGTH"] = length
    if terminated:
        environ["wsgi.input_terminated"] = True

    assert_problem(call(app, environ), 415)


@pytest.mark.parametrize("framing", ["length", "chunked"])
@pytest.mark.parametrize("step", [65536, 4], ids=["whole", "4 bytes a read"])
def test_body_the_view_read_is_not_read_again(app, framing, step):
    body = b'{"a": 1, "b": 2}'
    stream = RecordingStream(body, step)

    response = call(app, environ_for("POST", "/v1/calc/add", body, framing=framing, stream=stream))

    assert assert_success(response) == {"sum": 3}
    assert stream.delivered == len(body)
    # With a length, read_body stops at it; a chunked body ends at the first empty
    # read. Nothing reads past that once the body is kept.
    assert stream.reads_at_end == (0 if framing == "length" else 1)


@pytest.mark.parametrize("step", [65536, 3], ids=["whole", "3 bytes a read"])
@pytest.mark.parametrize(
    ("method", "path", "content_type", "status"),
    [EARLY_ANSWERS["404 unknown path"], EARLY_ANSWERS["415 text/plain to a JSON route"]],
    ids=["404", "415"],
)
def test_chunked_body_is_consumed(app, method, path, content_type, status, step):
    body = BODY.encode()
    stream = RecordingStream(body, step)

    response = call(
        app, environ_for(method, path, body, content_type, framing="chunked", stream=stream)
    )

    assert_problem(response, status)
    assert stream.delivered == len(body)


def test_chunked_body_is_consumed_only_up_to_the_limit(make_app):
    """A streamed body has no length to refuse it by: it is read up to the limit, no further."""
    app = make_app(MAX_CONTENT_LENGTH=100)
    stream = RecordingStream(b"x" * 250, step=7)

    response = call(
        app, environ_for("POST", "/v1/nowhere", b"x" * 250, framing="chunked", stream=stream)
    )

    assert_problem(response, 404)
    assert stream.delivered == 100


@pytest.mark.parametrize(
    ("framing", "limit"),
    [("length", 1024 * 1024), ("chunked", 1024 * 1024), ("chunked", None)],
    ids=["length", "chunked within a limit", "chunked, no limit (the raw stream)"],
)
def test_client_gone_while_discarding_still_gets_its_answer(make_app, framing, limit):
    app = make_app(MAX_CONTENT_LENGTH=limit)
    stream = GoneStream()
    environ = environ_for(
        "POST", "/v1/users", BODY.encode(), "text/plain", framing=framing, stream=stream
    )

    response = call(app, environ)

    assert_problem(response, 415)
    assert stream.reads == 1  # tried, failed, gave up
