"""One error path: every failure a client can see leaves as an RFC 9457 problem."""

from __future__ import annotations

import io
import logging
import math
import secrets
from http import HTTPStatus

import pytest
from flask import abort, request
from werkzeug import exceptions as wz
from werkzeug.datastructures import WWWAuthenticate

from myapp.core import (
    ApiException,
    ApiResult,
    BadRequest,
    Conflict,
    Forbidden,
    InvalidBody,
    InvalidParameters,
    NotFound,
    PreconditionFailed,
    ServiceUnavailable,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
    dataschema,
)
from tests.helpers import assert_problem, assert_success

BASE = "https://myapp.dev/problems/"
GENERIC_500 = "The server could not complete the request."


class Teapot(ApiException):
    status = 418


class Gone(ApiException):
    status = 410
    title = "Gone for good"
    type = "gone-for-good"
    detail = "This resource was retired."


class LeakyDatabaseError(Exception):
    """An exception whose name and message must never reach a client."""


@pytest.fixture
def production_app(make_app, monkeypatch):
    """An app outside debug and testing, so Flask's own propagation rules apply."""
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    monkeypatch.delenv("MYAPP_TESTING", raising=False)
    monkeypatch.delenv("MYAPP_DEBUG", raising=False)
    app = make_app(TESTING=False, SECRET_KEY=secrets.token_urlsafe(32))
    assert not app.testing
    assert not app.debug
    return app


def raise_on_get(app, error: Exception, path: str = "/fail"):
    """Add a route that raises `error`, call it, and return the response."""

    @app.get(path)
    def fail():
        raise error

    return app.test_client().get(path)


def test_a_one_line_subclass_is_an_about_blank_problem(app):
    response = raise_on_get(app, Teapot())

    body = assert_problem(response, 418, "about:blank")
    assert body["title"] == HTTPStatus(418).phrase
    assert body["detail"] == ApiException.detail
    assert body["instance"] == "/fail"
    assert "errors" not in body


def test_class_attributes_set_type_title_and_detail(app):
    response = raise_on_get(app, Gone())

    body = assert_problem(response, 410, BASE + "gone-for-good")
    assert body["title"] == "Gone for good"
    assert body["detail"] == "This resource was retired."


def test_detail_errors_and_extra_members_can_be_given_per_raise(app):
    error = Gone("Retired on 2024-01-01.", errors=[{"pointer": "#/id", "detail": "gone"}], id=7)

    body = assert_problem(raise_on_get(app, error), 410, BASE + "gone-for-good")

    assert body["detail"] == "Retired on 2024-01-01."
    assert body["errors"] == [{"pointer": "#/id", "detail": "gone"}]
    assert body["id"] == 7
    assert Gone.detail == "This resource was retired."


def test_problem_members_come_in_a_stable_order(app):
    body = assert_problem(raise_on_get(app, Conflict(errors=[])), 409, BASE + "conflict")

    assert list(body) == ["type", "title", "status", "detail", "instance", "request_id", "errors"]


@pytest.mark.parametrize(
    ("error", "status", "type_", "title"),
    [
        (BadRequest(), 400, BASE + "bad-request", "Bad request"),
        (InvalidBody(), 400, BASE + "malformed-body", "Malformed request body"),
        (InvalidParameters(), 400, BASE + "invalid-parameters", "Invalid query parameters"),
        (Unauthorized(), 401, "about:blank", "Unauthorized"),
        (Forbidden(), 403, "about:blank", "Forbidden"),
        (NotFound(), 404, "about:blank", "Not Found"),
        (Conflict(), 409, BASE + "conflict", "Conflict"),
        (PreconditionFailed(), 412, "about:blank", "Precondition Failed"),
        (UnsupportedMediaType(), 415, "about:blank", "Unsupported Media Type"),
        (ValidationFailed(), 422, BASE + "validation-error", "Validation failed"),
        (ServiceUnavailable(), 503, BASE + "service-unavailable", "Service unavailable"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_the_builtin_problems(app, error, status, type_, title):
    body = assert_problem(raise_on_get(app, error), status, type_)

    assert body["title"] == title
    assert body["detail"] == type(error).detail


def test_unauthorized_carries_www_authenticate_bearer(app):
    response = raise_on_get(app, Unauthorized("The token has expired."))

    body = assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert body["detail"] == "The token has expired."


def test_unauthorized_keeps_a_more_precise_challenge(app):
    challenge = 'Bearer error="invalid_token"'

    response = raise_on_get(app, Unauthorized(headers={"WWW-Authenticate": challenge}))

    assert_problem(response, 401)
    assert response.headers.getlist("WWW-Authenticate") == [challenge]


@pytest.mark.parametrize(("kwargs", "expected"), [({}, "5"), ({"retry_after": 30}, "30")])
def test_service_unavailable_carries_retry_after(app, kwargs, expected):
    response = raise_on_get(app, ServiceUnavailable(**kwargs))

    assert_problem(response, 503, BASE + "service-unavailable")
    assert response.headers["Retry-After"] == expected


def test_extra_headers_are_sent(app):
    response = raise_on_get(app, Conflict(headers={"Location": "http://localhost/things/1"}))

    assert_problem(response, 409, BASE + "conflict")
    assert response.headers["Location"] == "http://localhost/things/1"


def test_problem_type_base_is_configurable(make_app):
    app = make_app(PROBLEM_TYPE_BASE="https://errors.example.org/v2/")

    ours = raise_on_get(app, Conflict(), "/ours")
    plain = app.test_client().get("/no-such-path")

    assert_problem(ours, 409, "https://errors.example.org/v2/conflict")
    assert_problem(plain, 404, "about:blank")


def test_unknown_path_is_a_404_problem(client):
    response = client.get("/no/such/path", headers={"X-Request-ID": "lost-1"})

    body = assert_problem(response, 404, "about:blank")
    assert body["title"] == "Not Found"
    assert body["instance"] == "/no/such/path"
    assert body["request_id"] == "lost-1"
    assert b"<" not in response.data


def test_an_unknown_path_reads_like_a_missing_resource(app):
    missing = raise_on_get(app, NotFound(), "/things/1")
    unknown = app.test_client().get("/no/such/path")

    missing_body = assert_problem(missing, 404)
    unknown_body = assert_problem(unknown, 404)
    assert unknown_body["title"] == missing_body["title"]
    assert unknown_body["detail"] == missing_body["detail"]


def test_wrong_method_is_a_405_problem_that_keeps_allow(app):
    @app.route("/things", methods=["GET", "POST"])
    def things():
        return []

    response = app.test_client().delete("/things")

    body = assert_problem(response, 405, "about:blank")
    assert body["title"] == "Method Not Allowed"
    assert set(response.allow) == {"GET", "HEAD", "OPTIONS", "POST"}


def test_a_body_over_max_content_length_is_a_413_problem(make_app):
    app = make_app(MAX_CONTENT_LENGTH=64)

    @app.post("/things")
    @dataschema({"name": str})
    def create_thing(data):
        return data

    client = app.test_client()
    small = client.post("/things", json={"name": "x" * 10})
    large = client.post("/things", json={"name": "x" * 100})

    assert assert_success(small) == {"name": "x" * 10}
    body = assert_problem(large, 413, "about:blank")
    assert body["title"] == "Request Entity Too Large"


@pytest.mark.parametrize("terminated", [True, False], ids=["server-ends-stream", "werkzeug-limits"])
def test_a_body_shorter_than_its_content_length_is_refused(make_app, terminated):
    """A body cut short (the client stopped, or a read deadline cut it) is never acted on,
    even where the server ends the stream and Werkzeug would return what came."""
    app = make_app()
    seen = []

    @app.post("/things")
    @dataschema({"name": str})
    def create_thing(data):
        seen.append(data)
        return data

    whole = b'{"name": "Ada"}    '  # valid JSON up to any cut after the closing brace
    response = app.test_client().post(
        "/things",
        input_stream=io.BytesIO(whole[:15]),
        content_type="application/json",
        environ_overrides={"CONTENT_LENGTH": str(len(whole))}
        | ({"wsgi.input_terminated": True} if terminated else {}),
    )

    body = assert_problem(response, 400, BASE + "incomplete-body" if terminated else "about:blank")
    if terminated:
        assert body["detail"] == (
            "The request body ended after 15 of the 19 bytes its Content-Length declares."
        )
    assert seen == []


@pytest.fixture
def post_streamed(make_app):
    """POST a body without Content-Length, as gunicorn passes a chunked upload on."""
    app = make_app(MAX_CONTENT_LENGTH=64)

    @app.post("/things")
    @dataschema({"name": str})
    def create_thing(data):
        return data

    def post(body: bytes):
        return app.test_client().post(
            "/things",
            input_stream=io.BytesIO(body),
            headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
            environ_overrides={"wsgi.input_terminated": True},
        )

    return post


def test_a_streamed_body_under_the_limit_is_read_whole(post_streamed):
    assert assert_success(post_streamed(b'{"name": "Ada"}')) == {"name": "Ada"}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"name": "' + b"x" * 100 + b'"}', id="prefix-is-invalid-json"),
        pytest.param(b'{"name": "Ada"}' + b" " * 100, id="prefix-is-valid-json"),
    ],
)
def test_a_streamed_body_over_the_limit_is_a_413_problem(post_streamed, body):
    assert_problem(post_streamed(body), 413, "about:blank")


def test_werkzeug_415_is_a_problem(app):
    @app.post("/flask-json")
    def flask_json():
        return {"got": request.get_json()}

    response = app.test_client().post("/flask-json", data="a=1", content_type="text/plain")

    body = assert_problem(response, 415, "about:blank")
    assert body["title"] == "Unsupported Media Type"


WERKZEUG_CODES = sorted(wz.default_exceptions)


@pytest.mark.parametrize("code", WERKZEUG_CODES)
def test_every_werkzeug_error_is_an_about_blank_problem(app, code):
    @app.get("/abort")
    def aborting():
        abort(code)

    response = app.test_client().get("/abort")

    body = assert_problem(response, code, "about:blank")
    assert body["title"] == HTTPStatus(code).phrase  # the standard library's, not deprecated
    assert b"<" not in response.data


@pytest.mark.parametrize(
    ("error", "header", "value"),
    [
        (wz.TooManyRequests(retry_after=10), "Retry-After", "10"),
        (wz.ServiceUnavailable(retry_after=7), "Retry-After", "7"),
        (wz.Unauthorized(www_authenticate=WWWAuthenticate("bearer")), "WWW-Authenticate", "Bearer"),
        (wz.MethodNotAllowed(valid_methods=["GET", "PUT"]), "Allow", "GET, PUT"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_werkzeug_headers_are_kept(app, error, header, value):
    response = raise_on_get(app, error)

    assert_problem(response, error.code, "about:blank")
    assert response.headers[header] == value


def test_an_unexpected_exception_is_a_generic_500(app):
    error = LeakyDatabaseError("password=hunter2 in /srv/myapp/db.py line 12")

    response = raise_on_get(app, error)

    body = assert_problem(response, 500, "about:blank")
    assert body["title"] == "Internal Server Error"
    assert body["detail"] == GENERIC_500
    for secret in ("LeakyDatabaseError", "hunter2", "/srv/myapp", __file__, "Traceback"):
        assert secret not in response.data.decode()


def test_an_unexpected_exception_is_logged_with_the_request_id(app, caplog):
    @app.get("/fail")
    def fail():
        raise LeakyDatabaseError("password=hunter2")

    response = app.test_client().get("/fail", headers={"X-Request-ID": "trace-500"})

    assert assert_problem(response, 500)["request_id"] == "trace-500"
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "trace-500" in record.getMessage()
    assert record.exc_info is not None
    assert record.exc_info[0] is LeakyDatabaseError
    assert "Traceback" in caplog.text
    assert "hunter2" in caplog.text


def test_an_unexpected_exception_in_production_is_a_generic_500(production_app, caplog):
    response = raise_on_get(production_app, LeakyDatabaseError("password=hunter2"))

    body = assert_problem(response, 500, "about:blank")
    assert body["detail"] == GENERIC_500
    assert "hunter2" not in response.data.decode()
    assert "hunter2" in caplog.text


def test_an_unrenderable_result_is_a_generic_500(production_app):
    @production_app.get("/nan")
    def nan():
        return ApiResult({"ratio": math.nan})

    response = production_app.test_client().get("/nan")

    body = assert_problem(response, 500, "about:blank")
    assert body["title"] == "Internal Server Error"


def test_an_unrenderable_result_is_logged_with_the_request_id(production_app, caplog):
    @production_app.get("/nan")
    def nan():
        return ApiResult({"ratio": math.nan})

    response = production_app.test_client().get("/nan", headers={"X-Request-ID": "trace-nan"})

    assert_problem(response, 500)
    assert "trace-nan" in caplog.text
