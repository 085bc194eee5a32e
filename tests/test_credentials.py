"""Password guessing and sign-up floods meet limits that leak nothing (issue 19, finding 4-7)."""

from __future__ import annotations

import unicodedata

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from myapp.db import get_engine
from myapp.models import Token
from myapp.services import users
from tests.helpers import assert_problem

PASSWORD = "correct horse 7"
NEW_PASSWORD = "another password"


@pytest.fixture(params=["memory", "redis"])
def store(request):
    """The limiter's store: this process's memory, or a Redis shared by every worker."""
    return None if request.param == "memory" else request.getfixturevalue("redis_url")


def sign_up(client, email, address="10.0.0.1"):
    body = {"email": email, "name": "N", "password": PASSWORD}
    return client.post("/v1/users", json=body, environ_base={"REMOTE_ADDR": address})


def sign_in(client, email, password, address):
    body = {"email": email, "password": password}
    return client.post("/v1/auth/token", json=body, environ_base={"REMOTE_ADDR": address})


def tokens_of(app):
    with Session(get_engine(app)) as session:
        return session.scalar(select(func.count()).select_from(Token))


def test_sign_ins_are_limited_per_account_from_any_address(make_app, store):
    app = make_app(REDIS_URL=store, RATELIMIT_AUTH="1000/minute", RATELIMIT_AUTH_ACCOUNT="5/hour")
    client = app.test_client()
    assert sign_up(client, "ann@example.com").status_code == 201
    assert sign_up(client, "bob@example.com").status_code == 201

    guesses = [sign_in(client, "ann@example.com", f"guess {n}", f"10.1.0.{n}") for n in range(5)]
    right = sign_in(client, "ANN@example.com", PASSWORD, "10.1.0.99")  # any case: one account

    assert [r.status_code for r in guesses] == [401] * 5
    problem = assert_problem(right, 429, "https://myapp.dev/problems/rate-limited")
    assert int(right.headers["Retry-After"]) >= 1
    assert PASSWORD not in str(problem)
    assert tokens_of(app) == 0
    assert sign_in(client, "bob@example.com", PASSWORD, "10.1.0.99").status_code == 200


def test_an_account_that_does_not_exist_is_limited_alike(make_app):
    app = make_app(RATELIMIT_AUTH="1000/minute", RATELIMIT_AUTH_ACCOUNT="3/hour")
    client = app.test_client()
    assert sign_up(client, "ann@example.com").status_code == 201

    def statuses(email):
        return [sign_in(client, email, "wrong", f"10.2.0.{n}").status_code for n in range(4)]

    assert statuses("ann@example.com") == statuses("nobody@example.com") == [401, 401, 401, 429]


def test_current_password_checks_count_against_the_account(make_app):
    app = make_app(RATELIMIT_AUTH="1000/minute", RATELIMIT_AUTH_ACCOUNT="4/hour")
    client = app.test_client()
    assert sign_up(client, "ann@example.com").status_code == 201
    token = sign_in(client, "ann@example.com", PASSWORD, "10.3.0.1").get_json()["data"]
    auth = {"Authorization": f"Bearer {token['access_token']}"}

    def change(current):
        body = {"password": NEW_PASSWORD, "current_password": current}
        return client.patch("/v1/users/me", json=body, headers=auth).status_code

    # The sign-in was one attempt; three wrong guesses, and the right one is refused.
    assert [change(f"guess {n}") for n in range(3)] == [422, 422, 422]
    assert change(PASSWORD) == 429
    assert sign_in(client, "ann@example.com", NEW_PASSWORD, "10.3.0.2").status_code == 429
    with Session(get_engine(app)) as session:
        user = session.scalar(select(users.User).where(users.User.email == "ann@example.com"))
        assert users.verify_password(user.password_hash, PASSWORD)


def test_sign_ups_have_their_own_tight_limit_per_address(make_app, store):
    app = make_app(REDIS_URL=store, RATELIMIT_SIGNUP="3/hour")
    client = app.test_client()

    answers = [sign_up(client, f"u{n}@example.com").status_code for n in range(4)]
    elsewhere = sign_up(client, "v@example.com", address="10.9.9.9")

    assert answers == [201, 201, 201, 429]
    assert elsewhere.status_code == 201
    assert elsewhere.headers["RateLimit-Policy"] == '"signup";q=3;w=3600'


def test_a_taken_email_costs_no_password_hash(make_app, monkeypatch):
    client = make_app().test_client()
    assert sign_up(client, "ann@example.com").status_code == 201
    hashed = []
    real_hash = users.hash_password
    monkeypatch.setattr(users, "hash_password", lambda *a: hashed.append(a) or real_hash(*a))

    taken = sign_up(client, "Ann@Example.com")

    assert_problem(taken, 409, "https://myapp.dev/problems/email-taken")
    assert hashed == []
    assert sign_up(client, "new@example.com").status_code == 201
    assert len(hashed) == 1


@pytest.mark.parametrize(("signed_up", "signed_in"), [("NFC", "NFD"), ("NFD", "NFC")])
def test_a_password_matches_however_its_accents_were_composed(make_app, signed_up, signed_in):
    client = make_app().test_client()
    password = "cafécrème"
    body = {"email": "ann@example.com", "name": "Ann"}

    created = client.post(
        "/v1/users", json={**body, "password": unicodedata.normalize(signed_up, password)}
    )
    answer = sign_in(
        client, "ann@example.com", unicodedata.normalize(signed_in, password), "1.2.3.4"
    )

    assert created.status_code == 201
    assert answer.status_code == 200


def test_a_password_of_only_spaces_is_refused(make_app):
    client = make_app().test_client()
    body = {"email": "ann@example.com", "name": "Ann", "password": " " * 12}

    refused = client.post("/v1/users", json=body)

    problem = assert_problem(refused, 422, "https://myapp.dev/problems/validation-error")
    assert problem["errors"] == [{"pointer": "#/password", "detail": "must not be only spaces"}]
    assert sign_up(client, "ann@example.com").status_code == 201  # nobody was created


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("12345678", "is a run of neighbouring characters or keys"),
        ("password1", "is one of the most common passwords"),
        ("annannann", "repeats a short pattern"),
        ("maryanne 1984", "contains the account's email address or name"),
    ],
)
def test_a_password_too_easy_to_guess_is_refused_with_the_reason(make_app, password, reason):
    client = make_app().test_client()
    body = {"email": "maryanne@example.com", "name": "Mary Anne", "password": password}

    refused = client.post("/v1/users", json=body)

    problem = assert_problem(refused, 422, "https://myapp.dev/problems/validation-error")
    assert problem["errors"] == [
        {"pointer": "#/password", "detail": f"{reason}: choose one harder to guess"}
    ]
    assert password not in refused.get_data(as_text=True)
    assert sign_up(client, "maryanne@example.com").status_code == 201  # nobody was created


def test_a_new_password_too_easy_to_guess_is_refused_and_the_old_one_kept(make_app):
    client = make_app().test_client()
    sign_up(client, "ann@example.com")
    token = sign_in(client, "ann@example.com", PASSWORD, "1.2.3.4").get_json()["data"]
    headers = {"Authorization": f"Bearer {token['access_token']}"}

    body = {"password": "qwertyuiop", "current_password": PASSWORD}
    refused = client.patch("/v1/users/me", json=body, headers=headers)

    problem = assert_problem(refused, 422, "https://myapp.dev/problems/validation-error")
    assert problem["errors"][0]["pointer"] == "#/password"
    assert sign_in(client, "ann@example.com", PASSWORD, "1.2.3.5").status_code == 200


def test_create_user_refuses_a_password_too_easy_to_guess(make_app):
    app = make_app()
    result = app.test_cli_runner().invoke(
        args=["create-user", "root@example.com"], input="letmein1\nletmein1\n"
    )

    assert result.exit_code == 2
    assert "is one of the most common passwords" in result.output
    assert "Traceback" not in result.output
