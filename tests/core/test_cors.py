"""CORS: exact origins get their headers on every answer, others get none (issue 20)."""

from __future__ import annotations

import pytest

from myapp import create_app
from myapp.config import ConfigError
from myapp.core.cors import ALLOWED_HEADERS, EXPOSED

APP_ORIGIN = "https://app.example.com"
PASSWORD = "orchid mantle 91"


@pytest.fixture
def cors_app(make_app):
    app = make_app(CORS_ORIGINS=[APP_ORIGIN, "http://localhost:5173"], RATELIMIT_DEFAULT="8/minute")

    @app.get("/boom")
    def boom():
        raise RuntimeError("a bug")

    return app


def cors_fields(response):
    return {name: value for name, value in response.headers if name.startswith("Access-Control-")}


def varies_on_origin(response):
    return any("Origin" in value.split(", ") for value in response.headers.getlist("Vary"))


def assert_cors(response, origin=APP_ORIGIN):
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert response.headers["Access-Control-Expose-Headers"] == ", ".join(EXPOSED)
    assert "Access-Control-Allow-Credentials" not in response.headers  # bearer tokens only
    assert varies_on_origin(response)


def signed_in(client):
    body = {"email": "ann@example.com", "name": "Ann", "password": PASSWORD}
    assert client.post("/v1/users", json=body).status_code == 201
    token = client.post("/v1/auth/token", json={"email": body["email"], "password": PASSWORD})
    return {"Authorization": f"Bearer {token.get_json()['data']['access_token']}"}


def test_every_kind_of_answer_carries_the_headers_for_an_allowed_origin(cors_app):
    client = cors_app.test_client()
    auth = signed_in(client)
    origin = {"Origin": APP_ORIGIN}
    me = client.get("/v1/users/me", headers={**origin, **auth})
    answers = {
        200: me,
        304: client.get(
            "/v1/users/me", headers={**origin, **auth, "If-None-Match": me.headers["ETag"]}
        ),
        201: client.post(
            "/v1/aliases", json={"target": "t@example.com"}, headers={**origin, **auth}
        ),
        401: client.get("/v1/users/me", headers=origin),
        404: client.get("/nope", headers=origin),
        405: client.put("/v1/calc/add", headers=origin),
        422: client.get("/v1/calc/divide?a=1&b=0", headers=origin),
        500: client.get("/boom", headers=origin),
    }
    for _ in range(10):  # the default limit here is 8 a minute
        limited = client.get("/v1/calc/divide?a=1&b=2", headers=origin)
    answers[429] = limited

    for status, response in answers.items():
        assert response.status_code == status
        assert_cors(response)
    assert "Retry-After" in answers[429].headers


def test_a_disallowed_origin_or_none_gets_no_cors_header(cors_app):
    client = cors_app.test_client()

    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "https://app.example.com:8443"},
        {},
    ):
        response = client.get("/health", headers=headers)
        assert response.status_code == 200
        assert cors_fields(response) == {}
        assert varies_on_origin(response)  # a cache keeps the answers of each origin apart


def test_a_preflight_gets_the_paths_methods_and_the_allowed_headers(cors_app):
    response = cors_app.test_client().options(
        "/v1/aliases/7",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization, if-match, content-type",
        },
    )

    assert response.status_code == 204
    assert response.get_data() == b""
    assert_cors(response, "http://localhost:5173")
    assert response.headers["Access-Control-Allow-Methods"] == "DELETE, GET, HEAD, OPTIONS, PATCH"
    assert response.headers["Access-Control-Allow-Headers"] == ", ".join(ALLOWED_HEADERS)
    assert response.headers["Access-Control-Max-Age"] == "600"


def test_a_preflight_from_a_disallowed_origin_gets_no_cors_header(cors_app):
    response = cors_app.test_client().options(
        "/v1/aliases",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )

    assert response.status_code == 204  # Flask's own OPTIONS answer; the browser stops here
    assert cors_fields(response) == {}


def test_preflights_never_use_up_a_routes_own_limit(make_app):
    app = make_app(CORS_ORIGINS=[APP_ORIGIN], RATELIMIT_AUTH="2/minute")
    client = app.test_client()
    preflight = {"Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST"}

    for _ in range(3):
        assert client.options("/v1/auth/token", headers=preflight).status_code == 204
    attempt = client.post(
        "/v1/auth/token", json={"email": "a@example.com", "password": "x"}, headers=preflight
    )

    assert attempt.status_code == 401  # not 429: the preflights counted elsewhere


def test_off_by_default(make_app):
    response = make_app().test_client().get("/health", headers={"Origin": APP_ORIGIN})

    assert cors_fields(response) == {}
    assert not varies_on_origin(response)


def test_origins_from_the_environment_are_a_json_list(monkeypatch):
    monkeypatch.setenv("MYAPP_CORS_ORIGINS", '["https://a.example", "http://localhost:3000"]')

    app = create_app({"TESTING": True, "DATABASE_URL": "sqlite://"})

    assert app.config["CORS_ORIGINS"] == ["https://a.example", "http://localhost:3000"]


@pytest.mark.parametrize(
    "origin",
    [
        "*",
        "https://app.example.com/",
        "https://app.example.com/path",
        "app.example.com",
        "https://App.Example.com",
        "null",
        "ftp://app.example.com",
    ],
)
def test_anything_but_an_exact_origin_stops_start_up(origin):
    with pytest.raises(ConfigError, match="CORS_ORIGINS holds"):
        create_app({"TESTING": True, "DATABASE_URL": "sqlite://", "CORS_ORIGINS": [origin]})
