"""The users service on a real Session, and the users views called for their ApiResults."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from myapp.core import ApiResult, Forbidden, NotFound, Unauthorized, ValidationFailed
from myapp.core.pagination import PageResult
from myapp.db import get_engine, utcnow
from myapp.models import Token, User
from myapp.services.tokens import issue_token, user_for_token
from myapp.services.users import (
    EmailTaken,
    create_user,
    delete_user,
    get_user,
    hash_password,
    list_users,
    normalize_email,
    update_user,
    verify_password,
)
from tests.helpers import CORRUPT_HASHES

PASSWORD = "correct horse battery"
NEW_PASSWORD = "staple 2 horse battery"
USER_KEYS = {"id", "email", "name", "is_admin", "created_at"}


def add_user(session, method, email="ada@example.com", name="Ada", **kwargs):
    """Create a user with the service."""
    return create_user(
        session, email=email, name=name, password=PASSWORD, hash_method=method, **kwargs
    )


def token_count(app, user_id):
    """How many token rows a user has, read in a session of its own."""
    with Session(get_engine(app)) as fresh:
        return fresh.scalar(select(func.count()).select_from(Token).where(Token.user_id == user_id))


def stored_user(app, user_id):
    """The user as stored, read in a session of its own (None when gone)."""
    with Session(get_engine(app), expire_on_commit=False) as fresh:
        return fresh.get(User, user_id)


# -- plain service functions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("ada@example.com", "ada@example.com"),
        ("Ada@Example.COM", "ada@example.com"),
        ("ADA@EXAMPLE.COM", "ada@example.com"),
        ("  ada@example.com\t", "ada@example.com"),
    ],
)
def test_normalize_email(given, stored):
    assert normalize_email(given) == stored


def test_create_user_stores_a_normalized_email_and_only_a_hash(app, session, method):
    before = utcnow()

    user = add_user(session, method, email="Ada@Example.COM")

    assert isinstance(user, User)
    assert isinstance(user.id, int)
    assert user.id > 0
    assert user.email == "ada@example.com"
    assert user.name == "Ada"
    assert user.is_admin is False
    assert isinstance(user.created_at, datetime)
    assert user.created_at.tzinfo is None
    assert before - timedelta(seconds=1) <= user.created_at <= utcnow() + timedelta(seconds=1)
    assert user.password_hash != PASSWORD
    assert PASSWORD not in user.password_hash
    assert user.password_hash.startswith(method + "$")
    assert verify_password(user.password_hash, PASSWORD)

    stored = stored_user(app, user.id)
    assert (stored.email, stored.name, stored.password_hash) == (
        "ada@example.com",
        "Ada",
        user.password_hash,
    )
    assert set(user.to_dict()) == USER_KEYS
    assert user.to_dict()["created_at"].endswith("Z")


def test_create_user_can_make_an_admin(app, session, method):
    user = add_user(session, method, is_admin=True)

    assert user.is_admin is True
    assert stored_user(app, user.id).is_admin is True


@pytest.mark.parametrize("again", ["ada@example.com", "ADA@example.com", " Ada@Example.Com "])
def test_create_user_raises_email_taken_for_any_case(app, session, method, again):
    add_user(session, method)

    with pytest.raises(EmailTaken) as caught:
        add_user(session, method, email=again, name="Impostor")

    assert caught.value.status == 409
    assert caught.value.type == "email-taken"
    # The session was rolled back and is still usable.
    other = add_user(session, method, email="bob@example.com", name="Bob")
    assert other.id is not None
    assert session.scalar(select(func.count()).select_from(User)) == 2
    assert session.scalar(select(User.name).where(User.email == "ada@example.com")) == "Ada"


def test_get_user(session, method):
    user = add_user(session, method)

    assert get_user(session, user.id) is user
    assert get_user(session, user.id + 1000) is None


@pytest.mark.parametrize(
    ("page", "per_page", "expected"),
    [
        (1, 2, [0, 1]),
        (2, 2, [2, 3]),
        (3, 2, [4]),
        (4, 2, []),
        (1, 100, [0, 1, 2, 3, 4]),
        (1, 5, [0, 1, 2, 3, 4]),
        (2, 5, []),
    ],
)
def test_list_users_pages_oldest_first_with_the_total(session, method, page, per_page, expected):
    users = [add_user(session, method, email=f"u{n}@example.com", name=f"U{n}") for n in range(5)]

    items, total = list_users(session, page=page, per_page=per_page)

    assert total == 5
    assert [user.id for user in items] == [users[n].id for n in expected]


def test_list_users_on_an_empty_table(session):
    assert list_users(session, page=1, per_page=20) == ([], 0)


def test_update_user_changes_the_name(app, session, method):
    user = add_user(session, method)
    old_hash = user.password_hash

    updated = update_user(session, user, hash_method=method, name="Ada Lovelace")

    assert updated is user
    stored = stored_user(app, user.id)
    assert stored.name == "Ada Lovelace"
    assert stored.password_hash == old_hash


@pytest.mark.parametrize("current", [None, "wrong password", PASSWORD.upper()])
def test_update_user_needs_the_current_password(app, session, method, current):
    user = add_user(session, method)
    issue_token(session, user, ttl=60)
    old_hash = user.password_hash

    with pytest.raises(ValidationFailed) as caught:
        update_user(
            session,
            user,
            hash_method=method,
            name="Changed",
            password=NEW_PASSWORD,
            current_password=current,
        )

    assert caught.value.status == 422
    assert [error["pointer"] for error in caught.value.errors] == ["#/current_password"]
    session.rollback()
    stored = stored_user(app, user.id)
    assert (stored.name, stored.password_hash) == ("Ada", old_hash)
    assert token_count(app, user.id) == 1


def test_update_user_password_revokes_all_the_users_tokens(app, session, method):
    user = add_user(session, method)
    other = add_user(session, method, email="bob@example.com", name="Bob")
    mine = [issue_token(session, user, ttl=60) for _ in range(3)]
    theirs = issue_token(session, other, ttl=60)

    update_user(session, user, hash_method=method, password=NEW_PASSWORD, current_password=PASSWORD)

    stored = stored_user(app, user.id)
    assert verify_password(stored.password_hash, NEW_PASSWORD)
    assert not verify_password(stored.password_hash, PASSWORD)
    assert token_count(app, user.id) == 0
    assert all(user_for_token(session, raw) is None for raw in mine)
    assert user_for_token(session, theirs).id == other.id


def test_delete_user_cascades_to_tokens(app, session, method):
    user = add_user(session, method)
    other = add_user(session, method, email="bob@example.com", name="Bob")
    for _ in range(2):
        issue_token(session, user, ttl=60)
    theirs = issue_token(session, other, ttl=60)
    user_id = user.id

    delete_user(session, user)

    assert stored_user(app, user_id) is None
    # The database itself removed the rows (foreign key ON DELETE CASCADE).
    assert token_count(app, user_id) == 0
    assert token_count(app, other.id) == 1
    assert user_for_token(session, theirs).id == other.id


def test_verify_password(method):
    stored = hash_password(PASSWORD, method)

    assert verify_password(stored, PASSWORD) is True
    assert verify_password(stored, PASSWORD + " ") is False
    assert verify_password(stored, "") is False


@pytest.mark.parametrize("stored", CORRUPT_HASHES)
def test_verify_password_on_a_corrupt_hash_is_false(stored):
    assert verify_password(stored, PASSWORD) is False


# -- views, called for their ApiResults ------------------------------------------------------


def bearer(session, user):
    """An Authorization header with a fresh token for the user."""
    return {"Authorization": f"Bearer {issue_token(session, user, ttl=60)}"}


def test_get_me_view(app, session, method):
    user = add_user(session, method)
    headers = bearer(session, user)

    with app.test_request_context("/v1/users/me", headers=headers):
        result = app.view_functions["users.get_me"]()

    assert isinstance(result, ApiResult)
    assert result.status == 200
    assert result.value == user.to_dict()
    assert set(result.value) == USER_KEYS


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer " + "x" * 43}])
def test_get_me_view_without_a_live_token_raises_unauthorized(app, headers):
    with (
        app.test_request_context("/v1/users/me", headers=headers),
        pytest.raises(Unauthorized) as caught,
    ):
        app.view_functions["users.get_me"]()

    assert caught.value.status == 401
    assert caught.value.headers["WWW-Authenticate"] == "Bearer"


def test_create_user_view(app):
    body = {"email": "Ada@Example.com", "name": "Ada", "password": PASSWORD}

    with app.test_request_context("/v1/users", method="POST", json=body):
        result = app.view_functions["users.create_user"]()

    assert result.status == 201
    assert set(result.value) == USER_KEYS
    assert result.value["email"] == "ada@example.com"
    assert result.headers["Location"] == f"http://localhost/v1/users/{result.value['id']}"
    assert stored_user(app, result.value["id"]).name == "Ada"


def test_create_user_view_raises_email_taken(app, session, method):
    add_user(session, method)
    body = {"email": "ADA@example.com", "name": "Ada", "password": PASSWORD}

    with (
        app.test_request_context("/v1/users", method="POST", json=body),
        pytest.raises(EmailTaken),
    ):
        app.view_functions["users.create_user"]()


def test_list_users_view_returns_a_page_result(app, session, method):
    admin = add_user(session, method, email="root@example.com", is_admin=True)
    for n in range(4):
        add_user(session, method, email=f"u{n}@example.com", name=f"U{n}")
    headers = bearer(session, admin)

    with app.test_request_context("/v1/users?page=2&per_page=2", headers=headers):
        result = app.view_functions["users.list_users"]()

    assert isinstance(result, PageResult)
    assert result.status == 200
    assert [user["email"] for user in result.value] == ["u1@example.com", "u2@example.com"]
    assert all(set(user) == USER_KEYS for user in result.value)
    assert result.meta == {"page": 2, "per_page": 2, "total": 5, "pages": 3}
    assert set(result.links) == {"self", "first", "prev", "next", "last"}
    assert result.links["next"] == "http://localhost/v1/users?page=3&per_page=2"
    assert result.headers["Link"].count("rel=") == 5
    assert result.envelope() == {"data": result.value, "meta": result.meta, "links": result.links}


def test_list_users_view_is_forbidden_to_non_admins(app, session, method):
    headers = bearer(session, add_user(session, method))

    with app.test_request_context("/v1/users", headers=headers), pytest.raises(Forbidden):
        app.view_functions["users.list_users"]()


def test_get_user_view_hides_other_users_from_non_admins(app, session, method):
    user = add_user(session, method)
    other = add_user(session, method, email="bob@example.com", name="Bob")
    headers = bearer(session, user)

    with app.test_request_context(f"/v1/users/{other.id}", headers=headers):
        with pytest.raises(NotFound):
            app.view_functions["users.get_user"](user_id=other.id)
        own = app.view_functions["users.get_user"](user_id=user.id)

    assert own.value == user.to_dict()


def test_get_user_view_shows_anyone_to_admins(app, session, method):
    admin = add_user(session, method, email="root@example.com", is_admin=True)
    other = add_user(session, method, email="bob@example.com", name="Bob")

    with app.test_request_context(f"/v1/users/{other.id}", headers=bearer(session, admin)):
        result = app.view_functions["users.get_user"](user_id=other.id)
        with pytest.raises(NotFound):
            app.view_functions["users.get_user"](user_id=other.id + 1000)

    assert result.status == 200
    assert result.value == other.to_dict()


def test_update_me_view(app, session, method):
    user = add_user(session, method)
    headers = bearer(session, user)

    with app.test_request_context(
        "/v1/users/me", method="PATCH", headers=headers, json={"name": "Ada L."}
    ):
        result = app.view_functions["users.update_me"]()

    assert result.status == 200
    assert result.value == {**user.to_dict(), "name": "Ada L."}
    assert stored_user(app, user.id).name == "Ada L."


def test_update_me_view_refuses_a_password_without_the_current_one(app, session, method):
    user = add_user(session, method)
    headers = bearer(session, user)

    with (
        app.test_request_context(
            "/v1/users/me", method="PATCH", headers=headers, json={"password": NEW_PASSWORD}
        ),
        pytest.raises(ValidationFailed) as caught,
    ):
        app.view_functions["users.update_me"]()

    assert caught.value.errors[0]["pointer"] == "#/current_password"


def test_delete_me_view(app, session, method):
    user = add_user(session, method)
    headers = bearer(session, user)

    with app.test_request_context("/v1/users/me", method="DELETE", headers=headers):
        result = app.view_functions["users.delete_me"]()

    assert result.status == 204
    assert result.value is None
    assert stored_user(app, user.id) is None
    assert token_count(app, user.id) == 0
