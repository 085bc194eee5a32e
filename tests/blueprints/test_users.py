"""/v1/users over HTTP: sign-up, the caller's own account, lookups and the admin list."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from myapp.db import get_engine
from myapp.models import User
from myapp.services.users import create_user
from tests.helpers import assert_problem as assert_problem_of_type

#: Everything a user body may contain; the password and its hash never appear.
USER_KEYS = {"id", "email", "name", "is_admin", "created_at"}
PASSWORD = "correct horse battery"
NEW_PASSWORD = "staple 2 horse battery"
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
LINK = re.compile(r'<([^>]*)>; rel="([^"]+)"')


@pytest.fixture
def app(make_app):
    """The app, with a sign-in limit loose enough for tests that log in several times."""
    return make_app(RATELIMIT_AUTH="1000/minute")


def signup(client, email="ada@example.com", name="Ada", password=PASSWORD):
    """Create a user over HTTP and return its body."""
    response = client.post("/v1/users", json={"email": email, "name": name, "password": password})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["data"]


def login(client, email="ada@example.com", password=PASSWORD):
    """Sign in and return the Authorization header of the new token."""
    response = client.post("/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['data']['access_token']}"}


def login_status(client, email, password):
    """The status of a sign-in attempt."""
    return client.post("/v1/auth/token", json={"email": email, "password": password}).status_code


def make_admin(app, email="root@example.com", password=PASSWORD):
    """Create an administrator with the service function (the API cannot make one)."""
    with Session(get_engine(app)) as session:
        user = create_user(
            session,
            email=email,
            name="Root",
            password=password,
            hash_method=app.config["PASSWORD_HASH_METHOD"],
            is_admin=True,
        )
        return user.id


def count_users(app):
    """How many users the database holds."""
    with Session(get_engine(app)) as session:
        return session.scalar(select(func.count()).select_from(User))


def assert_user(user, *passwords):
    """A user body: exactly the public keys, well typed, and no secret in it."""
    assert set(user) == USER_KEYS
    assert isinstance(user["id"], int)
    assert isinstance(user["is_admin"], bool)
    assert RFC3339_UTC.fullmatch(user["created_at"])
    text = repr(user)
    for secret in (PASSWORD, NEW_PASSWORD, *passwords):
        assert secret not in text
    assert "scrypt" not in text
    return user


def assert_success(response, status=200):
    """A success envelope with the standard headers; return its data."""
    assert response.status_code == status, response.get_json()
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    body = response.get_json()
    assert "data" in body
    return body["data"]


def assert_problem(response, status):
    """A problem body with this status, whatever its type; return it."""
    return assert_problem_of_type(response, status, None)


def assert_validation_error(response, *pointers):
    """A 422 naming exactly these body fields; return the errors by pointer."""
    body = assert_problem(response, 422)
    assert body["type"] == "https://myapp.dev/problems/validation-error"
    assert [error["pointer"] for error in body["errors"]] == list(pointers)
    return {error["pointer"]: error["detail"] for error in body["errors"]}


def without(body, *keys):
    """A problem body minus the members that differ per request."""
    return {key: value for key, value in body.items() if key not in keys}


# -- sign-up ---------------------------------------------------------------------------------


def test_sign_up_is_201_with_an_absolute_location_of_the_new_user(client):
    response = client.post(
        "/v1/users", json={"email": "Ada@Example.COM", "name": "Ada", "password": PASSWORD}
    )

    user = assert_user(assert_success(response, 201))
    assert set(response.get_json()) == {"data"}
    assert user["email"] == "ada@example.com"
    assert user["name"] == "Ada"
    assert user["is_admin"] is False
    assert response.headers["Location"] == f"http://localhost/v1/users/{user['id']}"

    fetched = client.get(response.headers["Location"], headers=login(client))
    assert assert_user(assert_success(fetched)) == user


@pytest.mark.parametrize(
    "second", ["ada@example.com", "ADA@EXAMPLE.COM", "Ada@example.Com", "aDa@EXAMPLE.com"]
)
def test_an_email_taken_in_any_case_is_a_409(app, client, second):
    signup(client, email="Ada@Example.com")

    response = client.post("/v1/users", json={"email": second, "name": "B", "password": PASSWORD})

    body = assert_problem(response, 409)
    assert body["type"].endswith("/email-taken")
    assert body["type"] == "https://myapp.dev/problems/email-taken"
    assert body["title"] == "Email address taken"
    assert PASSWORD not in response.get_data(as_text=True)
    assert count_users(app) == 1


@pytest.mark.parametrize(("length", "accepted"), [(7, False), (8, True), (128, True), (129, False)])
def test_password_must_be_8_to_128_characters(app, client, length, accepted):
    password = "".join(chr(ord("a") + i * 7 % 26) for i in range(length))  # no pattern

    response = client.post(
        "/v1/users", json={"email": "ada@example.com", "name": "Ada", "password": password}
    )

    if accepted:
        assert_user(assert_success(response, 201), password)
        assert login_status(client, "ada@example.com", password) == 200
    else:
        errors = assert_validation_error(response, "#/password")
        assert "8 to 128" in errors["#/password"]
        assert password not in response.get_data(as_text=True)
        assert count_users(app) == 0


@pytest.mark.parametrize("size", [1024 * 1024, 1_000_000], ids=["1MiB", "1MB"])
@pytest.mark.parametrize("route", ["sign-up", "sign-in", "password-change"])
def test_a_megabyte_password_is_a_client_error_never_a_500(app, client, route, size):
    huge = "x" * size
    if route == "sign-up":
        response = client.post(
            "/v1/users", json={"email": "ada@example.com", "name": "Ada", "password": huge}
        )
    elif route == "sign-in":
        signup(client)
        response = client.post(
            "/v1/auth/token", json={"email": "ada@example.com", "password": huge}
        )
    else:
        signup(client)
        response = client.patch(
            "/v1/users/me",
            headers=login(client),
            json={"password": NEW_PASSWORD, "current_password": huge},
        )

    assert 400 <= response.status_code < 500
    assert_problem(response, response.status_code)
    assert len(response.data) < 2000
    assert count_users(app) == (0 if route == "sign-up" else 1)


HOSTILE_NAMES = {
    "emoji": "🦊 Fox 🏳️‍🌈",
    "zwj-family": "👩‍👩‍👧‍👦",
    "rtl": "مرحبا بالعالم",
    "rtl-override": "\u202eevil.exe",
    "combining-decomposed": "Ame\u0301lie",
    "zalgo": "Z\u0351\u0362\u0337a\u0338l\u0334g\u0335o\u0336",
    "hangul-jamo": "\u1100\u1161\u11a8",
    "astral-at-max-length": "😀" * 100,
    "ascii-at-max-length": "n" * 100,
    "quotes-and-markup": '<script>alert("x")</script> \' OR 1=1 --',
}


@pytest.mark.parametrize("name", list(HOSTILE_NAMES.values()), ids=list(HOSTILE_NAMES))
def test_unicode_names_round_trip_exactly(client, name):
    created = assert_user(signup(client, name=name))
    auth = login(client)

    me = assert_user(assert_success(client.get("/v1/users/me", headers=auth)))
    by_id = assert_user(assert_success(client.get(f"/v1/users/{created['id']}", headers=auth)))

    # No normalization: the decomposed "e + combining acute" stays two code points.
    assert created["name"] == me["name"] == by_id["name"] == name


VALID = {"email": "ada@example.com", "name": "Ada", "password": PASSWORD}


@pytest.mark.parametrize(
    ("changes", "pointer", "detail"),
    [
        ({"name": "Ada\x00Lovelace"}, "#/name", "NUL"),
        ({"name": "\x00"}, "#/name", "NUL"),
        ({"name": ""}, "#/name", "1 to 100"),
        ({"name": "n" * 101}, "#/name", "1 to 100"),
        ({"name": 42}, "#/name", "expected a string"),
        ({"name": None}, "#/name", "expected a string"),
        ({"password": "pass\x00word1"}, "#/password", "NUL"),
        ({"password": ["password1"]}, "#/password", "expected a string"),
        ({"email": "not-an-email"}, "#/email", "not a valid email address"),
        ({"email": "ada@example.com\x00"}, "#/email", "not a valid email address"),
        ({"email": "ada@example.com\nbcc@evil.example"}, "#/email", "not a valid email address"),
        ({"email": "ada @example.com"}, "#/email", "not a valid email address"),
        ({"is_admin": True}, "#/is_admin", "is not allowed"),
        ({"is_admin": False}, "#/is_admin", "is not allowed"),
        ({"id": 1}, "#/id", "is not allowed"),
        ({"created_at": "2000-01-01T00:00:00Z"}, "#/created_at", "is not allowed"),
        ({"password_hash": "x"}, "#/password_hash", "is not allowed"),
        ({"password": None}, "#/password", "expected a string"),
    ],
)
def test_hostile_sign_ups_are_422_and_create_nobody(app, client, changes, pointer, detail):
    response = client.post("/v1/users", json={**VALID, **changes})

    errors = assert_validation_error(response, pointer)
    assert detail in errors[pointer]
    assert count_users(app) == 0
    # Nothing half-made blocks the address: the clean request succeeds.
    assert_user(signup(client))


@pytest.mark.parametrize("missing", ["email", "name", "password"])
def test_every_field_is_required(app, client, missing):
    body = {key: value for key, value in VALID.items() if key != missing}

    errors = assert_validation_error(client.post("/v1/users", json=body), f"#/{missing}")

    assert errors[f"#/{missing}"] == "is required"
    assert count_users(app) == 0


def test_every_invalid_field_is_listed_at_once_in_a_stable_order(app, client):
    body = {"email": "nope", "name": "", "password": "short", "is_admin": True}

    first = assert_validation_error(
        client.post("/v1/users", json=body), "#/email", "#/is_admin", "#/name", "#/password"
    )
    again = assert_validation_error(
        client.post("/v1/users", json=dict(reversed(body.items()))),
        "#/email",
        "#/is_admin",
        "#/name",
        "#/password",
    )

    assert first == again
    assert count_users(app) == 0


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        (b"", "application/json", 400),
        (b"not json", "application/json", 400),
        (b"[]", "application/json", 400),
        (b"null", "application/json", 400),
        (b'"ada@example.com"', "application/json", 400),
        (b'{"email": "ada@example.com", "name": "Ada", "password": ', "application/json", 400),
        (b'{"email":"ada@example.com","name":"Ada","password":"password1"}', "text/plain", 415),
        (
            b"email=ada@example.com&name=Ada&password=password1",
            "application/x-www-form-urlencoded",
            415,
        ),
    ],
)
def test_malformed_sign_up_bodies_are_problems(app, client, raw, content_type, status):
    response = client.post("/v1/users", data=raw, content_type=content_type)

    assert_problem(response, status)
    assert count_users(app) == 0


def dup(*members):
    """A JSON object with members in this order, duplicates included, as raw bytes."""
    return ("{" + ",".join(f'"{key}":{value}' for key, value in members) + "}").encode()


@pytest.mark.parametrize(
    "raw",
    [
        dup(
            ("email", '"first@example.com"'),
            ("email", '"second@example.com"'),
            ("name", '"Ada"'),
            ("password", f'"{PASSWORD}"'),
        ),
        dup(
            ("email", '"ada@example.com"'),
            ("name", '"Ada"'),
            ("password", '"short"'),
            ("password", f'"{PASSWORD}"'),
        ),
    ],
    ids=["two-emails", "short-then-valid-password"],
)
def test_duplicate_keys_are_rejected(app, client, raw):
    response = client.post("/v1/users", data=raw, content_type="application/json")

    body = assert_problem(response, 400)
    assert body["type"].endswith("/malformed-body")
    assert count_users(app) == 0


def test_duplicate_keys_cannot_smuggle_is_admin(app, client):
    raw = dup(
        ("email", '"ada@example.com"'),
        ("name", '"Ada"'),
        ("password", f'"{PASSWORD}"'),
        ("is_admin", "false"),
        ("is_admin", "true"),
    )

    response = client.post("/v1/users", data=raw, content_type="application/json")

    body = assert_problem(response, 400)
    assert body["type"].endswith("/malformed-body")
    assert count_users(app) == 0


# -- the caller's own account ----------------------------------------------------------------


def test_get_me_returns_the_caller(client):
    created = signup(client)
    signup(client, email="bob@example.com", name="Bob")

    response = client.get("/v1/users/me", headers=login(client))

    assert assert_user(assert_success(response)) == created


def test_get_me_needs_a_token(client):
    signup(client)

    response = client.get("/v1/users/me")

    body = assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "ada@example.com" not in str(body)


@pytest.mark.parametrize("name", ["Ada Lovelace", "Ada 🦊", "e\u0301"])
def test_patch_me_changes_the_name_only(client, name):
    created = signup(client)
    auth = login(client)

    response = client.patch("/v1/users/me", headers=auth, json={"name": name})

    updated = assert_user(assert_success(response))
    assert updated == {**created, "name": name}
    assert assert_success(client.get("/v1/users/me", headers=auth)) == updated
    # The password did not change, and the token still works.
    assert login_status(client, "ada@example.com", PASSWORD) == 200


def test_patch_me_with_nothing_changes_nothing(client):
    created = signup(client)
    auth = login(client)

    response = client.patch("/v1/users/me", headers=auth, json={})

    assert assert_user(assert_success(response)) == created
    assert client.get("/v1/users/me", headers=auth).status_code == 200


@pytest.mark.parametrize(
    ("changes", "pointer", "detail"),
    [
        ({"is_admin": True}, "#/is_admin", "is not allowed"),
        ({"email": "root@example.com"}, "#/email", "is not allowed"),
        ({"id": 99}, "#/id", "is not allowed"),
        ({"created_at": "2000-01-01T00:00:00Z"}, "#/created_at", "is not allowed"),
        ({"password_hash": "x"}, "#/password_hash", "is not allowed"),
        ({"name": "a\x00b"}, "#/name", "NUL"),
        ({"name": ""}, "#/name", "1 to 100"),
        ({"name": "n" * 101}, "#/name", "1 to 100"),
        ({"name": None}, "#/name", "expected a string"),
    ],
)
def test_patch_me_rejects_hostile_changes(client, changes, pointer, detail):
    created = signup(client)
    auth = login(client)

    response = client.patch("/v1/users/me", headers=auth, json={"name": "Changed", **changes})

    errors = assert_validation_error(response, pointer)
    assert detail in errors[pointer]
    assert assert_success(client.get("/v1/users/me", headers=auth)) == created


@pytest.mark.parametrize(
    ("current", "detail"),
    [
        (None, "current password"),
        ("wrong password", "current password"),
        (PASSWORD.upper(), "current password"),
        ("", "1 to 128"),
    ],
    ids=["missing", "wrong", "wrong-case", "empty"],
)
def test_a_new_password_needs_the_current_one(client, current, detail):
    created = signup(client)
    auth = login(client)
    body = {"password": NEW_PASSWORD, "name": "Changed"}
    if current is not None:
        body["current_password"] = current

    response = client.patch("/v1/users/me", headers=auth, json=body)

    errors = assert_validation_error(response, "#/current_password")
    assert detail in errors["#/current_password"]
    assert NEW_PASSWORD not in response.get_data(as_text=True)
    # Nothing changed: not the name, not the password, and the token still works.
    assert assert_success(client.get("/v1/users/me", headers=auth)) == created
    assert login_status(client, "ada@example.com", PASSWORD) == 200
    assert login_status(client, "ada@example.com", NEW_PASSWORD) == 401


def test_a_new_password_is_checked_for_length_too(client):
    signup(client)
    auth = login(client)

    response = client.patch(
        "/v1/users/me", headers=auth, json={"password": "short", "current_password": PASSWORD}
    )

    assert_validation_error(response, "#/password")
    assert login_status(client, "ada@example.com", PASSWORD) == 200


def test_changing_the_password_revokes_every_token(client):
    created = signup(client)
    signup(client, email="bob@example.com", name="Bob")
    first, second = login(client), login(client)
    bystander = login(client, email="bob@example.com")

    response = client.patch(
        "/v1/users/me",
        headers=first,
        json={"password": NEW_PASSWORD, "current_password": PASSWORD},
    )

    assert assert_user(assert_success(response)) == created
    for auth in (first, second):
        gone = client.get("/v1/users/me", headers=auth)
        assert_problem(gone, 401)
        assert gone.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/v1/users/me", headers=bystander).status_code == 200
    assert login_status(client, "ada@example.com", PASSWORD) == 401
    fresh = login(client, password=NEW_PASSWORD)
    assert assert_success(client.get("/v1/users/me", headers=fresh)) == created


def test_delete_me_removes_the_account_and_its_tokens(app, client):
    signup(client)
    signup(client, email="bob@example.com", name="Bob")
    first, second = login(client), login(client)
    bystander = login(client, email="bob@example.com")

    response = client.delete("/v1/users/me", headers=first)

    assert response.status_code == 204
    assert response.data == b""
    assert "Content-Type" not in response.headers
    for auth in (first, second):
        gone = client.get("/v1/users/me", headers=auth)
        assert_problem(gone, 401)
        assert gone.headers["WWW-Authenticate"] == "Bearer"
    assert login_status(client, "ada@example.com", PASSWORD) == 401
    assert client.get("/v1/users/me", headers=bystander).status_code == 200
    assert count_users(app) == 1

    again = signup(client, email="ADA@example.com", name="Ada again")
    assert again["name"] == "Ada again"
    me = assert_success(client.get("/v1/users/me", headers=login(client)))
    assert me == again


def test_delete_me_needs_a_token(app, client):
    signup(client)

    response = client.delete("/v1/users/me")

    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert count_users(app) == 1


# -- the admin list --------------------------------------------------------------------------


def test_listing_users_needs_a_token(client):
    response = client.get("/v1/users")

    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_listing_users_is_forbidden_to_non_admins(client):
    signup(client)

    response = client.get("/v1/users", headers=login(client))

    body = assert_problem(response, 403)
    assert body["title"] == "Forbidden"
    assert "data" not in body


def query_of(url):
    """The query parameters of an absolute link to the user list."""
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "localhost", "/v1/users")
    return dict(parse_qsl(parts.query, keep_blank_values=True))


@pytest.fixture
def seven_users(app, client):
    """An admin and six users; returns the admin's Authorization header and every id."""
    ids = [make_admin(app)]
    ids += [signup(client, email=f"user{n}@example.com", name=f"User {n}")["id"] for n in range(6)]
    return login(client, email="root@example.com"), ids


@pytest.mark.parametrize(
    ("page", "count", "relations"),
    [
        (1, 3, {"self": 1, "first": 1, "next": 2, "last": 3}),
        (2, 3, {"self": 2, "first": 1, "prev": 1, "next": 3, "last": 3}),
        (3, 1, {"self": 3, "first": 1, "prev": 2, "last": 3}),
    ],
)
def test_admins_page_through_users(client, seven_users, page, count, relations):
    admin, _ids = seven_users

    response = client.get(f"/v1/users?per_page=3&page={page}", headers=admin)

    data = assert_success(response)
    body = response.get_json()
    assert set(body) == {"data", "meta", "links"}
    assert len(data) == count
    for user in data:
        assert_user(user)
    assert body["meta"] == {"page": page, "per_page": 3, "total": 7, "pages": 3}
    links = body["links"]
    assert set(links) == set(relations)
    assert None not in links.values()
    for rel, target in relations.items():
        assert query_of(links[rel]) == {"page": str(target), "per_page": "3"}

    header = {rel: url for url, rel in LINK.findall(response.headers["Link"])}
    assert header == links
    assert response.headers["Link"].count("rel=") == len(links)


def test_the_pages_hold_every_user_exactly_once(client, seven_users):
    admin, ids = seven_users

    seen = []
    for page in (1, 2, 3):
        response = client.get(f"/v1/users?page={page}&per_page=3", headers=admin)
        seen += [user["id"] for user in assert_success(response)]

    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(set(seen))


def test_following_next_links_walks_the_whole_list(client, seven_users):
    admin, ids = seven_users

    seen, url = [], "/v1/users?per_page=2"
    while url:
        response = client.get(url, headers=admin)
        seen += [user["id"] for user in assert_success(response)]
        url = response.get_json()["links"].get("next")

    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(ids)


def test_the_list_defaults_to_page_1_of_20(client, seven_users):
    admin, ids = seven_users

    response = client.get("/v1/users", headers=admin)

    body = response.get_json()
    assert len(assert_success(response)) == len(ids)
    assert body["meta"] == {"page": 1, "per_page": 20, "total": 7, "pages": 1}
    assert set(body["links"]) == {"self", "first", "last"}
    assert query_of(body["links"]["self"]) == {"page": "1", "per_page": "20"}
    assert query_of(body["links"]["last"]) == {"page": "1", "per_page": "20"}


@pytest.mark.parametrize("page", [4, 50, 2**31 - 1])
def test_a_page_past_the_end_is_empty_not_an_error(client, seven_users, page):
    admin, _ids = seven_users

    response = client.get(f"/v1/users?page={page}&per_page=3", headers=admin)

    assert assert_success(response) == []
    body = response.get_json()
    assert body["meta"] == {"page": page, "per_page": 3, "total": 7, "pages": 3}
    assert "next" not in body["links"]
    assert query_of(body["links"]["last"]) == {"page": "3", "per_page": "3"}
    assert query_of(body["links"]["self"]) == {"page": str(page), "per_page": "3"}


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("page=1.5", "page"),
        ("page=", "page"),
        ("page=1e3", "page"),
        (f"page={2**31}", "page"),
        (f"page={10**30}", "page"),
        ("page=1&page=2", "page"),
        ("per_page=0", "per_page"),
        ("per_page=101", "per_page"),
        ("per_page=abc", "per_page"),
        ("per_page=-5", "per_page"),
        ("per_page=", "per_page"),
        ("per_page=true", "per_page"),
    ],
)
def test_bad_page_parameters_are_400_naming_the_parameter(client, seven_users, query, parameter):
    admin, _ids = seven_users

    response = client.get(f"/v1/users?{query}", headers=admin)

    body = assert_problem(response, 400)
    assert body["type"].endswith("/invalid-parameters")
    assert [error["parameter"] for error in body["errors"]] == [parameter]
    assert "data" not in body


# -- one user by id --------------------------------------------------------------------------


def test_a_user_may_get_themself_by_id(client):
    created = signup(client)

    response = client.get(f"/v1/users/{created['id']}", headers=login(client))

    assert assert_user(assert_success(response)) == created


def test_an_admin_may_get_anyone_by_id(app, client):
    make_admin(app)
    bob = signup(client, email="bob@example.com", name="Bob")

    response = client.get(f"/v1/users/{bob['id']}", headers=login(client, email="root@example.com"))

    assert assert_user(assert_success(response)) == bob


def test_another_users_id_is_indistinguishable_from_a_missing_one(client):
    signup(client)
    bob = signup(client, email="bob@example.com", name="Bob")
    auth = login(client)

    theirs = client.get(f"/v1/users/{bob['id']}", headers=auth)
    missing = client.get("/v1/users/987654321", headers=auth)

    assert_problem(theirs, 404)
    assert_problem(missing, 404)
    assert without(theirs.get_json(), "request_id", "instance") == without(
        missing.get_json(), "request_id", "instance"
    )
    assert "bob" not in theirs.get_data(as_text=True).lower()


@pytest.mark.parametrize(
    "user_id",
    ["0", str(2**63 - 1), str(2**63), str(2**64), str(10**30), "-1", "01", "1.0", "abc", "%00"],
)
@pytest.mark.parametrize("caller", ["user", "admin"])
def test_impossible_ids_are_404_not_500(app, client, caller, user_id):
    make_admin(app)
    signup(client)
    email = "root@example.com" if caller == "admin" else "ada@example.com"

    response = client.get(f"/v1/users/{user_id}", headers=login(client, email=email))

    body = assert_problem(response, 404)
    assert body["type"] == "about:blank"
    assert body["title"] == "Not Found"


@pytest.mark.parametrize("given", [" Ada@Example.com", "ada@example.com\n", "\tADA@example.COM "])
def test_sign_up_trims_and_lowercases_the_email(client, given):
    response = client.post("/v1/users", json={**VALID, "email": given})

    assert assert_success(response, 201)["email"] == "ada@example.com"


# Conditional PATCH /v1/users/me (issue 19, finding 10) ------------------------------------


def test_patch_me_honours_if_match_and_answers_with_the_new_etag(client):
    signup(client)
    auth = login(client)
    etag = client.get("/v1/users/me", headers=auth).headers["ETag"]

    stale = client.patch(
        "/v1/users/me", headers={**auth, "If-Match": '"stale"'}, json={"name": "Changed"}
    )
    assert_problem(stale, 412)
    assert assert_success(client.get("/v1/users/me", headers=auth))["name"] == "Ada"

    changed = client.patch("/v1/users/me", headers={**auth, "If-Match": etag}, json={"name": "B"})
    assert assert_success(changed)["name"] == "B"
    assert changed.headers["ETag"] != etag
    assert changed.headers["ETag"] == client.get("/v1/users/me", headers=auth).headers["ETag"]

    again = client.patch("/v1/users/me", headers={**auth, "If-Match": etag}, json={"name": "C"})
    assert_problem(again, 412)


def test_concurrent_patches_with_one_etag_change_the_account_once(app, client):
    signup(client)
    auth = login(client)
    etag = client.get("/v1/users/me", headers=auth).headers["ETag"]
    barrier = threading.Barrier(10)

    def patch(n):
        own = app.test_client()
        barrier.wait()
        return own.patch(
            "/v1/users/me", headers={**auth, "If-Match": etag}, json={"name": f"N{n}"}
        ).status_code

    with ThreadPoolExecutor(10) as pool:
        statuses = sorted(pool.map(patch, range(10)))

    assert statuses == [200] + [412] * 9


def test_the_current_password_alone_is_a_422_and_changes_nothing(client):
    created = signup(client)
    auth = login(client)

    response = client.patch("/v1/users/me", headers=auth, json={"current_password": PASSWORD})

    errors = assert_validation_error(response, "#/current_password")
    assert "nothing to change" in errors["#/current_password"]
    assert assert_success(client.get("/v1/users/me", headers=auth)) == created
