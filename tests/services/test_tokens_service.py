"""The tokens service on a real Session, and the token views called for their ApiResults."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from myapp.core import ApiResult, Unauthorized
from myapp.db import get_engine, utcnow
from myapp.models import Token
from myapp.services import tokens as tokens_service
from myapp.services.tokens import authenticate, issue_token, revoke_token, user_for_token
from tests.services.conftest import PASSWORD

TOKEN_TEXT = re.compile(r"[A-Za-z0-9_-]{40,128}")


def tokens_of(app, user_id):
    """How many token rows the user has, read in a session of its own."""
    with Session(get_engine(app)) as fresh:
        return fresh.scalar(select(func.count()).select_from(Token).where(Token.user_id == user_id))


def expire_all(session):
    """Move every token's expiry into the past."""
    session.execute(update(Token).values(expires_at=utcnow() - timedelta(seconds=1)))
    session.commit()


# -- issue, look up, revoke ------------------------------------------------------------------


def test_issue_token_returns_a_random_token_that_finds_its_user(session, ada):
    first = issue_token(session, ada, ttl=60)
    second = issue_token(session, ada, ttl=60)

    assert TOKEN_TEXT.fullmatch(first)
    assert first != second
    assert user_for_token(session, first).id == ada.id
    assert user_for_token(session, second).id == ada.id


def test_issue_token_stores_only_a_hash_with_the_expiry(session, ada):
    before = utcnow()

    raw = issue_token(session, ada, ttl=90)

    row = session.scalars(select(Token)).one()
    assert row.user_id == ada.id
    assert row.token_hash != raw
    assert raw not in row.token_hash
    assert row.token_hash == tokens_service.token_hash(raw)
    assert before + timedelta(seconds=89) <= row.expires_at <= utcnow() + timedelta(seconds=91)


@pytest.mark.parametrize(
    "make_raw",
    [
        lambda raw: secrets.token_urlsafe(32),
        lambda raw: raw[:-1],
        lambda raw: raw + "A",
        lambda raw: raw.swapcase(),
        lambda raw: tokens_service.token_hash(raw),
        lambda raw: "",
    ],
    ids=["never-issued", "truncated", "extended", "swapped-case", "its-hash", "empty"],
)
def test_user_for_token_finds_nobody_for_other_strings(session, ada, make_raw):
    raw = issue_token(session, ada, ttl=60)

    assert user_for_token(session, make_raw(raw)) is None
    assert user_for_token(session, raw).id == ada.id


def test_an_expired_token_finds_nobody(session, ada):
    raw = issue_token(session, ada, ttl=60)

    expire_all(session)

    assert user_for_token(session, raw) is None


def test_a_zero_ttl_token_is_dead_on_arrival(session, ada):
    assert user_for_token(session, issue_token(session, ada, ttl=0)) is None


def test_issuing_clears_expired_tokens_of_anyone_and_no_live_one(app, session, ada, bob):
    issue_token(session, ada, ttl=60)
    issue_token(session, bob, ttl=60)
    expire_all(session)
    bobs = issue_token(session, bob, ttl=60)

    fresh = issue_token(session, ada, ttl=60)

    assert tokens_of(app, ada.id) == 1
    assert tokens_of(app, bob.id) == 1  # the expired one gone, the live one kept
    assert user_for_token(session, fresh).id == ada.id
    assert user_for_token(session, bobs).id == bob.id


def test_one_sign_in_clears_a_bounded_batch_of_expired_tokens(app, session, ada, bob):
    for _ in range(tokens_service.PURGE_BATCH + 20):
        issue_token(session, bob, ttl=60, keep=1000)
    expire_all(session)

    issue_token(session, ada, ttl=60)
    assert tokens_of(app, bob.id) == 20
    issue_token(session, ada, ttl=60)
    assert tokens_of(app, bob.id) == 0


def test_a_user_keeps_at_most_the_newest_tokens(session, ada):
    issued = [issue_token(session, ada, ttl=60 + n, keep=3) for n in range(5)]

    assert [user_for_token(session, raw) is not None for raw in issued] == [
        False,
        False,
        True,
        True,
        True,
    ]


def test_revoke_token_revokes_only_that_token(app, session, ada, bob):
    revoked, kept = issue_token(session, ada, ttl=60), issue_token(session, ada, ttl=60)
    theirs = issue_token(session, bob, ttl=60)

    revoke_token(session, revoked)

    assert user_for_token(session, revoked) is None
    assert user_for_token(session, kept).id == ada.id
    assert user_for_token(session, theirs).id == bob.id
    assert tokens_of(app, ada.id) == 1


def test_revoking_an_unknown_token_changes_nothing(app, session, ada):
    raw = issue_token(session, ada, ttl=60)

    revoke_token(session, secrets.token_urlsafe(32))

    assert user_for_token(session, raw).id == ada.id
    assert tokens_of(app, ada.id) == 1


# -- authenticate ----------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["ada@example.com", "ADA@EXAMPLE.COM", " Ada@example.com"])
def test_authenticate_with_the_right_password(session, ada, method, email):
    user = authenticate(session, email, PASSWORD, hash_method=method)

    assert user is not None
    assert user.id == ada.id


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("ada@example.com", "wrong password"),
        ("ada@example.com", PASSWORD.upper()),
        ("ada@example.com", ""),
        ("nobody@example.com", PASSWORD),
        ("bob@example.com", PASSWORD + "x"),
    ],
)
def test_authenticate_with_wrong_credentials_is_none(session, ada, bob, method, email, password):
    assert authenticate(session, email, password, hash_method=method) is None


def test_authenticate_with_a_corrupt_stored_hash_is_none(session, ada, method):
    ada.password_hash = "garbage"
    session.commit()

    assert authenticate(session, "ada@example.com", PASSWORD, hash_method=method) is None


@pytest.mark.parametrize("email", ["ada@example.com", "nobody@example.com"])
def test_authenticate_checks_one_password_whether_or_not_the_user_exists(
    session, ada, method, monkeypatch, email
):
    checked = []
    real = tokens_service.verify_password

    def counting(stored_hash, password):
        checked.append((stored_hash, password))
        return real(stored_hash, password)

    monkeypatch.setattr(tokens_service, "verify_password", counting)

    assert authenticate(session, email, "wrong password", hash_method=method) is None

    assert len(checked) == 1
    stored_hash, password = checked[0]
    assert password == "wrong password"
    # The same hash method means the same cost, known user or not.
    assert stored_hash.startswith(method + "$")


# -- views, called for their ApiResults ------------------------------------------------------


def test_create_token_view(app, session, ada):
    body = {"email": "ada@example.com", "password": PASSWORD}

    with app.test_request_context("/v1/auth/token", method="POST", json=body):
        result = app.view_functions["tokens.create_token"]()

    assert isinstance(result, ApiResult)
    assert result.status == 200
    assert set(result.value) == {"access_token", "token_type", "expires_in"}
    assert result.value["token_type"] == "bearer"
    assert result.value["expires_in"] == 3600
    assert user_for_token(session, result.value["access_token"]).id == ada.id


@pytest.mark.parametrize("email", ["ada@example.com", "nobody@example.com"])
def test_create_token_view_raises_the_same_unauthorized(app, ada, email):
    body = {"email": email, "password": "wrong password"}

    with (
        app.test_request_context("/v1/auth/token", method="POST", json=body),
        pytest.raises(Unauthorized) as caught,
    ):
        app.view_functions["tokens.create_token"]()

    assert str(caught.value) == "The email address or password is wrong."
    assert caught.value.headers["WWW-Authenticate"] == "Bearer"


def test_delete_token_view(app, session, ada):
    raw, other = issue_token(session, ada, ttl=60), issue_token(session, ada, ttl=60)
    headers = {"Authorization": f"Bearer {raw}"}

    with app.test_request_context("/v1/auth/token", method="DELETE", headers=headers):
        result = app.view_functions["tokens.delete_token"]()

    assert result.status == 204
    assert result.value is None
    assert user_for_token(session, raw) is None
    assert user_for_token(session, other).id == ada.id
