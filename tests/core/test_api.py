"""ApiFlask and ApiResult: the success envelope, the standard headers and the request id."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from flask import request

from myapp.core import ApiResult
from tests.helpers import assert_problem, assert_standard_headers, assert_success


def test_api_result_defaults():
    result = ApiResult({"id": 1})

    assert result.value == {"id": 1}
    assert result.status == 200
    assert list(result.headers.items()) == []
    assert result.envelope() == {"data": {"id": 1}}


def test_api_result_keeps_status_and_headers():
    result = ApiResult([1, 2], status=201, headers={"Location": "http://localhost/things/7"})

    assert result.status == 201
    assert result.headers["Location"] == "http://localhost/things/7"
    assert result.envelope() == {"data": [1, 2]}
    assert "201" in repr(result)


def test_api_result_renders_in_the_envelope(app):
    @app.post("/things")
    def create_thing():
        return ApiResult({"id": 7}, status=201, headers={"Location": "http://localhost/things/7"})

    response = app.test_client().post("/things")

    assert assert_success(response, 201) == {"id": 7}
    assert response.headers["Location"] == "http://localhost/things/7"
    assert response.data == b'{"data":{"id":7}}'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": 1}, {"a": 1}),
        ({}, {}),
        ([1, "two", None], [1, "two", None]),
        ([], []),
        ({"nested": {"list": [True, False]}}, {"nested": {"list": [True, False]}}),
    ],
)
def test_dict_and_list_returns_become_api_results(app, value, expected):
    @app.get("/plain")
    def plain():
        return value

    response = app.test_client().get("/plain")

    assert assert_success(response) == expected


def test_non_json_types_are_rendered_as_text(app):
    thing_id = uuid.UUID("12345678-1234-5678-1234-567812345678")

    @app.get("/typed")
    def typed():
        return ApiResult(
            {
                "at": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
                "day": date(2024, 1, 2),
                "id": thing_id,
                "name": "Zoë",
            }
        )

    data = assert_success(app.test_client().get("/typed"))

    assert data == {
        "at": "2024-01-02T03:04:05+00:00",
        "day": "2024-01-02",
        "id": "12345678-1234-5678-1234-567812345678",
        "name": "Zoë",
    }


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses_have_no_body_and_no_content_type(app, status):
    @app.get("/empty")
    def empty():
        return ApiResult(None, status=status)

    response = app.test_client().get("/empty")

    assert response.status_code == status
    assert response.data == b""
    assert "Content-Type" not in response.headers
    assert_standard_headers(response)


@pytest.mark.parametrize("name", ["Cache-Control", "cache-control"])
def test_a_view_may_set_its_own_caching(app, name):
    @app.get("/cached")
    def cached():
        return ApiResult({"a": 1}, headers={name: "public, max-age=60"})

    response = app.test_client().get("/cached")

    assert response.headers.getlist("Cache-Control") == ["public, max-age=60"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.get_json() == {"data": {"a": 1}}


@pytest.mark.parametrize(
    "given",
    ["a", "A-b_c.9", "x" * 64, "0123456789abcdef0123456789abcdef", "...", "--__"],
)
def test_a_well_formed_request_id_is_echoed(app, given):
    client = app.test_client()

    ok = client.get("/health", headers={"X-Request-ID": given})
    missing = client.get("/no-such-path", headers={"X-Request-ID": given})

    assert ok.headers["X-Request-ID"] == given
    assert assert_problem(missing, 404)["request_id"] == given


@pytest.mark.parametrize(
    "given",
    ["", "x" * 65, "has space", "semi;colon", "slash/es", "<script>", "ünïcode", "a\tb"],
)
def test_a_malformed_request_id_is_replaced(app, given):
    client = app.test_client()

    ok = client.get("/health", headers={"X-Request-ID": given})
    missing = client.get("/no-such-path", headers={"X-Request-ID": given})

    for response in (ok, missing):
        fresh = assert_standard_headers(response)
        assert fresh != given
        assert fresh.strip()
    assert assert_problem(missing, 404)["request_id"] == missing.headers["X-Request-ID"]


def test_fresh_request_ids_differ(app):
    client = app.test_client()

    ids = {client.get("/health").headers["X-Request-ID"] for _ in range(5)}

    assert len(ids) == 5


def test_request_id_is_known_inside_the_view(app):
    @app.get("/whoami")
    def whoami():
        return {"request_id": request.request_id}

    response = app.test_client().get("/whoami", headers={"X-Request-ID": "trace-42"})

    assert assert_success(response) == {"request_id": "trace-42"}
    assert response.headers["X-Request-ID"] == "trace-42"


def test_options_answers_204_with_allow_and_no_body(app):
    @app.route("/things", methods=["GET", "POST"])
    def things():
        return {}

    response = app.test_client().options("/things")

    assert response.status_code == 204
    assert response.data == b""
    assert "Content-Type" not in response.headers
    assert set(response.allow) == {"GET", "HEAD", "OPTIONS", "POST"}
    assert_standard_headers(response)


def test_head_has_the_headers_of_get_and_no_body(app):
    @app.get("/things")
    def things():
        return ApiResult([1, 2], headers={"ETag": '"v1"'})

    response = app.test_client().head("/things")

    assert response.status_code == 200
    assert response.data == b""
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["ETag"] == '"v1"'
    assert_standard_headers(response)


def test_trailing_slash_redirect_has_no_body(app):
    @app.get("/items/")
    def items():
        return []

    response = app.test_client().get("/items?page=2")

    assert response.status_code == 308
    assert response.headers["Location"].endswith("/items/?page=2")
    assert response.data == b""
    assert_standard_headers(response)


def test_trailing_slash_redirect_is_not_labelled_html(app):
    @app.get("/items/")
    def items():
        return []

    response = app.test_client().get("/items")

    assert response.status_code == 308
    assert "html" not in response.headers.get("Content-Type", "")


def test_a_dict_with_a_status_is_enveloped(app):
    @app.post("/things")
    def create_thing():
        return {"id": 1}, 201

    response = app.test_client().post("/things")

    assert assert_success(response, 201) == {"id": 1}


def test_a_string_return_is_never_html(app):
    @app.get("/text")
    def text():
        return "<p>hello</p>"

    response = app.test_client().get("/text")

    assert response.mimetype in ("application/json", "application/problem+json")
