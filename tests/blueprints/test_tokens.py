"""/v1/auth/token over HTTP, and require_auth: what a bearer token opens and what it does not."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from myapp.db import get_engine, utcnow
from myapp.models import Token, User
from myapp.services import tokens as tokens_service
from tests.helpers import CORRUPT_HASHES
from tests.helpers import assert_problem as assert_problem_of_type

PASSWORD = "correct horse battery"
TOKEN_TEXT = re.compile(r"[A-Za-z0-9_-]{40,128}")


@pytest.fixture
def app(make_app):
    """The app, with a sign-in limit loose enough for tests that sign in several times."""
    return make_app(RATELIMIT_AUTH="1000/minute")


def signup(client, email="ada@example.com", password=PASSWORD):
    """Create a user over HTTP and return its body."""
    response = client.post("/v1/users", json={"email": email, "name": "Ada", "password": password})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["data"]


def sign_in(client, email="ada@example.com", password=PASSWORD, **kwargs):
    """POST /v1/auth/token and return the response."""
    return client.post("/v1/auth/token", json={"email": email, "password": password}, **kwargs)


def issue(client, email="ada@example.com", password=PASSWORD):
    """A fresh access token for the user."""
    response = sign_in(client, email, password)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]["access_token"]


def bearer(token):
    """The Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response, status):
    """A problem body with this status, whatever its type; return it."""
    return assert_problem_of_type(response, status, None)


def assert_unauthorized(response):
    """A 401 problem that asks for a bearer token; return the body minus its request id."""
    body = assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert body["type"] == "about:blank"
    assert body["title"] == "Unauthorized"
    return {key: value for key, value in body.items() if key != "request_id"}


def run_sql(app, statement):
    """Execute and commit one statement on the app's database."""
    with Session(get_engine(app)) as session:
        session.execute(statement)
        session.commit()


def expire_tokens(app):
    """Move every token's expiry into the past."""
    run_sql(app, update(Token).values(expires_at=utcnow() - timedelta(seconds=1)))


# -- signing in ------------------------------------------------------------------------------


def test_sign_in_returns_a_bearer_token(client):
    user = signup(client)

    response = sign_in(client)

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    # RFC 6749 5.1: a response carrying a token must not be cached.
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert set(body) == {"data"}
    data = body["data"]
    assert set(data) == {"access_token", "token_type", "expires_in"}
    assert data["token_type"] == "bearer"
    assert data["expires_in"] == 3600
    assert TOKEN_TEXT.fullmatch(data["access_token"])
    assert PASSWORD not in response.get_data(as_text=True)

    me = client.get("/v1/users/me", headers=bearer(data["access_token"]))
    assert me.status_code == 200
    assert me.get_json()["data"] == user


def test_each_sign_in_issues_a_different_working_token(client):
    signup(client)

    first, second = issue(client), issue(client)

    assert first != second
    for token in (first, second):
        assert client.get("/v1/users/me", headers=bearer(token)).status_code == 200


def test_expires_in_follows_the_configured_ttl(make_app):
    configured = make_app(TOKEN_TTL=120, RATELIMIT_AUTH="1000/minute")
    client = configured.test_client()
    signup(client)

    response = sign_in(client)

    assert response.get_json()["data"]["expires_in"] == 120
    with Session(get_engine(configured)) as session:
        token = session.scalars(select(Token)).one()
        lifetime = (token.expires_at - token.created_at).total_seconds()
    assert 115 <= lifetime <= 120


@pytest.mark.parametrize(
    "email", ["ada@example.com", "ADA@EXAMPLE.COM", "Ada@Example.Com", "ada@EXAMPLE.com"]
)
def test_the_email_is_case_insensitive(client, email):
    signup(client, email="Ada@example.COM")

    response = sign_in(client, email=email)

    assert response.status_code == 200
    assert TOKEN_TEXT.fullmatch(response.get_json()["data"]["access_token"])


def test_wrong_password_and_unknown_email_are_the_same_401(client):
    signup(client)

    wrong_password = sign_in(client, password="not the password")
    unknown_email = sign_in(client, email="nobody@example.com")
    unknown_both = sign_in(client, email="nobody@example.com", password="not the password")

    expected = assert_unauthorized(wrong_password)
    assert assert_unauthorized(unknown_email) == expected
    assert assert_unauthorized(unknown_both) == expected
    assert "ada@example.com" not in wrong_password.get_data(as_text=True)
    assert "access_token" not in wrong_password.get_data(as_text=True)
    # Same headers too, apart from the per-request ones.
    varying = {"X-Request-ID", "RateLimit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}
    headers = [
        {name: value for name, value in r.headers.items() if name not in varying}
        for r in (wrong_password, unknown_email)
    ]
    assert headers[0] == headers[1]
    assert headers[0]["WWW-Authenticate"] == "Bearer"


def test_an_unknown_email_costs_the_same_single_password_check(app, client, monkeypatch):
    signup(client)
    checked = []
    real = tokens_service.verify_password

    def counting(stored_hash, password):
        checked.append(stored_hash)
        return real(stored_hash, password)

    monkeypatch.setattr(tokens_service, "verify_password", counting)
    method = app.config["PASSWORD_HASH_METHOD"]

    for email in ("ada@example.com", "nobody@example.com"):
        checked.clear()
        assert_unauthorized(sign_in(client, email=email, password="not the password"))
        # One check, against a hash of the configured method (so of the same cost).
        assert len(checked) == 1
        assert checked[0].startswith(method + "$")


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"email": "ada@example.com"}, "#/password"),
        ({"password": PASSWORD}, "#/email"),
        ({"email": "not-an-email", "password": PASSWORD}, "#/email"),
        ({"email": "ada@example.com", "password": ""}, "#/password"),
        ({"email": "ada@example.com", "password": "p" * 129}, "#/password"),
        ({"email": "ada@example.com", "password": "pass\x00word"}, "#/password"),
        ({"email": "ada@example.com", "password": 12345678}, "#/password"),
        ({"email": "ada@example.com", "password": PASSWORD, "scope": "admin"}, "#/scope"),
    ],
)
def test_malformed_sign_ins_are_422(client, body, pointer):
    signup(client)

    response = client.post("/v1/auth/token", json=body)

    problem = assert_problem(response, 422)
    assert [error["pointer"] for error in problem["errors"]] == [pointer]
    assert "access_token" not in response.get_data(as_text=True)


def test_the_token_route_only_takes_post_and_delete(client):
    response = client.get("/v1/auth/token")

    assert_problem(response, 405)
    assert {"POST", "DELETE"} <= set(response.allow)
    assert "GET" not in response.allow


@pytest.mark.parametrize("stored", CORRUPT_HASHES)
def test_a_corrupt_stored_hash_is_a_401_not_a_500(app, client, stored):
    signup(client)
    reference = assert_unauthorized(sign_in(client, email="nobody@example.com"))
    run_sql(app, update(User).values(password_hash=stored))

    response = sign_in(client)

    assert assert_unauthorized(response) == reference


def test_a_corrupt_stored_hash_blocks_a_password_change_without_a_500(app, client):
    signup(client)
    token = issue(client)
    run_sql(app, update(User).values(password_hash="garbage"))

    response = client.patch(
        "/v1/users/me",
        headers=bearer(token),
        json={"password": "a new password", "current_password": PASSWORD},
    )

    problem = assert_problem(response, 422)
    assert [error["pointer"] for error in problem["errors"]] == ["#/current_password"]


# -- signing out -----------------------------------------------------------------------------


def test_sign_out_revokes_only_the_token_in_use(client):
    signup(client)
    used, other = issue(client), issue(client)

    response = client.delete("/v1/auth/token", headers=bearer(used))

    assert response.status_code == 204
    assert response.data == b""
    assert "Content-Type" not in response.headers
    assert_unauthorized(client.get("/v1/users/me", headers=bearer(used)))
    assert client.get("/v1/users/me", headers=bearer(other)).status_code == 200
    # Signing out twice is not possible: the token is gone.
    assert_unauthorized(client.delete("/v1/auth/token", headers=bearer(used)))
    assert client.get("/v1/users/me", headers=bearer(other)).status_code == 200


def test_sign_out_needs_a_token(client):
    assert_unauthorized(client.delete("/v1/auth/token"))


# -- require_auth ----------------------------------------------------------------------------


def tamper(token):
    """The token with one character in the middle changed."""
    middle = len(token) // 2
    replacement = "A" if token[middle] != "A" else "B"
    return token[:middle] + replacement + token[middle + 1 :]


def revoke(client, token):
    """Sign out with the token."""
    assert client.delete("/v1/auth/token", headers=bearer(token)).status_code == 204


BAD_AUTHORIZATION = {
    "missing": lambda token: None,
    "empty": lambda token: "",
    "scheme-only": lambda token: "Bearer",
    "scheme-and-space": lambda token: "Bearer ",
    "basic-garbage": lambda token: "Basic abc",
    "basic-with-real-credentials": lambda token: (
        "Basic " + base64.b64encode(f"ada@example.com:{PASSWORD}".encode()).decode()
    ),
    "other-scheme-real-token": lambda token: f"Token {token}",
    "no-scheme-real-token": lambda token: token,
    "tampered": lambda token: f"Bearer {tamper(token)}",
    "truncated": lambda token: f"Bearer {token[:-1]}",
    "extended": lambda token: f"Bearer {token}A",
    "never-issued": lambda token: f"Bearer {secrets.token_urlsafe(32)}",
    "stored-hash-as-token": lambda token: f"Bearer {hashlib.sha256(token.encode()).hexdigest()}",
    "too-short": lambda token: "Bearer abc",
    "too-long": lambda token: "Bearer " + "a" * 10_000,
    "bad-characters": lambda token: f"Bearer {token[:-1]}!",
    "token-then-junk": lambda token: f"Bearer {token} junk",
    "two-tokens": lambda token: f"Bearer {token}, Bearer {token}",
    "sql-ish": lambda token: "Bearer ' OR '1'='1",
}


@pytest.mark.parametrize(
    "make_header", list(BAD_AUTHORIZATION.values()), ids=list(BAD_AUTHORIZATION)
)
def test_bad_authorization_headers_are_the_same_401(client, make_header):
    signup(client)
    token = issue(client)
    reference = assert_unauthorized(client.get("/v1/users/me"))
    header = make_header(token)
    headers = {} if header is None else {"Authorization": header}

    response = client.get("/v1/users/me", headers=headers)

    assert assert_unauthorized(response) == reference
    # The real token was not harmed by the attempt.
    assert client.get("/v1/users/me", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize("state", ["expired", "revoked"])
def test_expired_and_revoked_tokens_are_the_same_401(app, client, state):
    signup(client)
    token = issue(client)
    reference = assert_unauthorized(client.get("/v1/users/me"))
    assert client.get("/v1/users/me", headers=bearer(token)).status_code == 200
    if state == "expired":
        expire_tokens(app)
    else:
        revoke(client, token)

    response = client.get("/v1/users/me", headers=bearer(token))

    assert assert_unauthorized(response) == reference
    # A fresh sign-in still works.
    assert client.get("/v1/users/me", headers=bearer(issue(client))).status_code == 200


def test_a_token_about_to_expire_still_works(app, client):
    signup(client)
    token = issue(client)
    run_sql(app, update(Token).values(expires_at=utcnow() + timedelta(seconds=30)))

    assert client.get("/v1/users/me", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize("name", ["access_token", "token", "bearer"])
def test_a_token_in_the_query_string_is_ignored(client, name):
    signup(client)
    token = issue(client)

    response = client.get("/v1/users/me", query_string={name: token})

    assert_unauthorized(response)


def test_a_token_in_a_form_body_is_ignored(client):
    signup(client)
    token = issue(client)

    response = client.delete("/v1/auth/token", data={"access_token": token})

    assert_unauthorized(response)
    assert client.get("/v1/users/me", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_scheme_is_case_insensitive(client, scheme):
    user = signup(client)
    token = issue(client)

    response = client.get("/v1/users/me", headers={"Authorization": f"{scheme} {token}"})

    assert response.status_code == 200
    assert response.get_json()["data"] == user


# -- storage ---------------------------------------------------------------------------------


def test_tokens_are_stored_only_as_hashes(app, client):
    signup(client)
    issued = [issue(client), issue(client)]

    with Session(get_engine(app)) as session:
        stored = [
            str(value)
            for table in (Token.__table__, User.__table__)
            for row in session.execute(select(table)).all()
            for value in row
        ]
        hashes = session.scalars(select(Token.token_hash)).all()

    assert len(hashes) == 2
    for token in issued:
        assert not any(token in value for value in stored)
        assert token not in hashes


# -- the sign-in limit -----------------------------------------------------------------------


def test_sign_in_is_limited_per_client_address(make_app):
    app = make_app(RATELIMIT_AUTH="3/minute")
    client = app.test_client()
    signup(client)
    here = {"REMOTE_ADDR": "203.0.113.7"}

    attempts = [sign_in(client, password="wrong password", environ_base=here) for _ in range(3)]
    over = sign_in(client, environ_base=here)

    for attempt in attempts:
        assert_unauthorized(attempt)
        assert attempt.headers["RateLimit-Policy"] == '"auth";q=3;w=60'
    assert [a.headers["X-RateLimit-Remaining"] for a in attempts] == ["2", "1", "0"]
    body = assert_problem(over, 429)
    assert body["type"].endswith("/rate-limited")
    assert int(over.headers["Retry-After"]) >= 1
    assert "access_token" not in over.get_data(as_text=True)

    # Another address has its own allowance; the right password works from there.
    elsewhere = sign_in(client, environ_base={"REMOTE_ADDR": "198.51.100.9"})
    assert elsewhere.status_code == 200
    token = elsewhere.get_json()["data"]["access_token"]

    # X-Forwarded-For is not trusted by default, and a bearer token does not change the key.
    spoofed = sign_in(client, environ_base=here, headers={"X-Forwarded-For": "192.0.2.1"})
    assert_problem(spoofed, 429)
    authenticated = sign_in(client, environ_base=here, headers=bearer(token))
    assert_problem(authenticated, 429)


def test_the_default_limit_counts_a_signed_in_caller_by_user_not_address(make_app):
    app = make_app(RATELIMIT_DEFAULT="3/minute", RATELIMIT_AUTH="1000/minute")
    client = app.test_client()
    setup = {"REMOTE_ADDR": "192.0.2.50"}
    client.post(
        "/v1/users",
        json={"email": "ada@example.com", "name": "Ada", "password": PASSWORD},
        environ_base=setup,
    )
    token = sign_in(client, environ_base=setup).get_json()["data"]["access_token"]

    # Three requests from three addresses use up one user's allowance...
    seen = [
        client.get("/v1/users/me", headers=bearer(token), environ_base={"REMOTE_ADDR": address})
        for address in ("203.0.113.1", "203.0.113.2", "203.0.113.3")
    ]
    assert [r.status_code for r in seen] == [200, 200, 200]
    assert [r.headers["X-RateLimit-Remaining"] for r in seen] == ["2", "1", "0"]
    over = client.get(
        "/v1/users/me", headers=bearer(token), environ_base={"REMOTE_ADDR": "203.0.113.4"}
    )
    assert_problem(over, 429)

    # ...and none of an address's: a caller without a token there starts afresh.
    anonymous = client.get("/v1/calc/add?a=1&b=2", environ_base={"REMOTE_ADDR": "203.0.113.1"})
    assert anonymous.status_code == 200
    assert anonymous.headers["X-RateLimit-Remaining"] == "2"


def test_a_duplicated_password_member_is_a_400_not_a_sign_in(client):
    signup(client)
    raw = (
        f'{{"email": "ada@example.com", "password": "wrong password", "password": "{PASSWORD}"}}'
    ).encode()

    response = client.post("/v1/auth/token", data=raw, content_type="application/json")

    body = assert_problem(response, 400)
    assert body["type"].endswith("/malformed-body")
    assert "access_token" not in response.get_data(as_text=True)
