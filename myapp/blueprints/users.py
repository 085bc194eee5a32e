"""Users: sign up, see and change yourself, and (admins) list everyone."""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from flask import Blueprint, current_app

from myapp.auth import current_user, limit_password_attempts, require_admin, require_auth
from myapp.core import ApiResult, Email, NotFound, String, dataschema, queryschema
from myapp.core.conditional import conditional, require_match, with_etag
from myapp.core.openapi import documents
from myapp.core.pagination import PAGE_QUERY, PageResult
from myapp.core.ratelimit import ratelimit
from myapp.db import get_session, read_session
from myapp.models import USER_SCHEMA, User
from myapp.services import users

bp = Blueprint("users", __name__, url_prefix="/v1/users")

NAME = String(1, 100)
PASSWORD = String(8, 128)


def get_user_or_404(user_id: int) -> User:
    """The user the caller may see: themself, or anyone for an admin; else 404."""
    caller = current_user()
    if caller.id == user_id:
        return caller
    user = users.get_user(get_session(), user_id) if caller.is_admin else None
    if user is None:
        raise NotFound()
    return user


@bp.post("")
@documents(USER_SCHEMA, status=201, errors=(409, 503))
@ratelimit("RATELIMIT_SIGNUP", name="signup", by_address=True)
@dataschema({"email": Email(), "name": NAME, "password": PASSWORD}, max_body=8192)
def create_user(data: dict[str, Any]) -> ApiResult:
    """Sign up; 409 when the email address is taken (found before any password is hashed).

    A password too easy to guess is a 422 naming it: one of the most common ones, a
    short pattern repeated, a run of neighbouring keys, or one holding the email name
    or a word of the name. Limited per client address (RATELIMIT_SIGNUP, 10 an hour).
    While the limiter's store is down sign-ups are served, as ordinary routes are: no
    password is at stake.
    """
    with read_session() as session:
        if users.email_taken(session, data["email"]):
            raise users.EmailTaken()
    user = users.create_user(
        get_session(), hash_method=current_app.config["PASSWORD_HASH_METHOD"], **data
    )
    return ApiResult.created(user.to_dict(), "users.get_user", user_id=user.id)


@bp.get("")
@documents(USER_SCHEMA, pages="page")
@require_admin
@queryschema(PAGE_QUERY)
def list_users(query: dict[str, int]) -> PageResult:
    """Every user, a page at a time (admins only)."""
    items, total = users.list_users(get_session(), **query)
    return PageResult([u.to_dict() for u in items], total=total, **query)


@bp.get("/me")
@documents(USER_SCHEMA, etag=True)
@require_auth
def get_me() -> ApiResult:
    """The caller's own account, with an ETag."""
    return conditional(current_user().to_dict())


@bp.patch("/me")
@documents(USER_SCHEMA, etag=True)
@require_auth
@dataschema(
    {
        vol.Optional("name"): NAME,
        vol.Optional("password"): PASSWORD,
        vol.Optional("current_password"): String(1, 128),
    },
    max_body=8192,
)
def update_me(data: dict[str, Any]) -> ApiResult:
    """Change the name, or the password (with the current one; revokes all tokens).

    412 when If-Match is stale; the answer carries the new ETag. Each request with a
    current_password counts against the account's password attempts
    (RATELIMIT_AUTH_ACCOUNT, 20 an hour, shared with sign-in).
    """
    caller, hash_method = current_user(), current_app.config["PASSWORD_HASH_METHOD"]
    if "current_password" in data:
        limit_password_attempts(caller.email)
    if "password" in data:  # checked and hashed before the row is locked
        data["password_hash"] = users.new_password_hash(
            caller,
            password=data.pop("password"),
            current_password=data.pop("current_password", None),
            hash_method=hash_method,
        )
    session = get_session()
    user = users.lock_user(session, caller)
    require_match(user.to_dict())
    return with_etag(users.update_user(session, user, hash_method=hash_method, **data).to_dict())


@bp.delete("/me")
@documents(status=204)
@require_auth
def delete_me() -> ApiResult:
    """Delete the caller's account with its tokens and aliases."""
    users.delete_user(get_session(), current_user())
    return ApiResult(None, status=204)


@bp.get("/<id:user_id>")
@documents(USER_SCHEMA, etag=True)
@require_auth
def get_user(user_id: int) -> ApiResult:
    """One user: the caller themself, or anyone for an admin; with an ETag."""
    return conditional(get_user_or_404(user_id).to_dict())
