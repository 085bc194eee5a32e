"""Bearer authentication: who is calling, and decorators that insist on it."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, g
from sqlalchemy.exc import SQLAlchemyError

from myapp.core import ApiRequest, Forbidden, Unauthorized, api_request
from myapp.core.idempotency import EXTENSION as IDEMPOTENCY
from myapp.core.idempotency import Idempotency
from myapp.core.policies import Policy
from myapp.core.ratelimit import EXTENSION as RATELIMIT
from myapp.core.ratelimit import current_limiter
from myapp.core.request import context_globals
from myapp.db import get_session
from myapp.models import User
from myapp.services.tokens import user_for_token
from myapp.services.users import normalize_email

F = TypeVar("F", bound=Callable[..., Any])
# Tokens are URL-safe base64 text; anything else is not worth a database lookup.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,128}")
_UNSET = object()


def bearer_token(current: ApiRequest | None = None) -> str | None:
    """The token from `Authorization: Bearer ...`; never from the query string."""
    current = api_request() if current is None else current
    header: str = current.environ.get("HTTP_AUTHORIZATION", "")  # the header, directly
    if not header:  # most requests to most routes: nothing to parse
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not _TOKEN.fullmatch(token.strip()):
        return None
    return token.strip()


def authenticated_user(current: ApiRequest | None = None) -> User | None:
    """The caller's user when a live token was presented, else None (looked up once)."""
    token = bearer_token(current)
    if token is None:  # nothing to look up, and nothing worth remembering
        return None
    context = context_globals()
    user = context.get("_auth_user", _UNSET)
    if user is _UNSET:
        session = get_session()
        user = context._auth_user = user_for_token(session, token)
        # End the read: on SQLite a writing request's transaction holds the write lock
        # from its first statement, and what the view does next (a password hash, say)
        # must not keep other writers waiting. The view's writes begin anew.
        session.commit()
    return cast("User | None", user)


def current_user() -> User:
    """The authenticated user of a view behind @require_auth."""
    user: User = g.current_user
    return user


def require_auth(view: F) -> F:
    """Let the view run only for a caller with a live bearer token (else 401)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user = authenticated_user()
        if user is None:
            raise Unauthorized()
        g.current_user = user
        return view(*args, **kwargs)

    wrapper.requires_auth = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def require_admin(view: F) -> F:
    """Like require_auth, and the caller must be an admin (else 403)."""

    @require_auth
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user().is_admin:
            raise Forbidden("This route is for administrators.")
        return view(*args, **kwargs)

    wrapper.requires_admin = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def _identity(current: ApiRequest) -> str | None:
    user = authenticated_user(current)
    return f"user:{user.id}" if user else None


def _rate_limit_identity(current: ApiRequest) -> str | None:
    # A database outage must not fail routes that never touch the database: count
    # the request by address, and let @require_auth report the outage where it matters.
    try:
        return _identity(current)
    except SQLAlchemyError:
        g.pop("_auth_user", None)
        get_session().rollback()
        return None


#: Password attempts per account, from any address (RATELIMIT_AUTH_ACCOUNT).
ACCOUNT_POLICY = Policy("account", "RATELIMIT_AUTH_ACCOUNT", sensitive=True)


def limit_password_attempts(email: str) -> None:
    """Count a password attempt on the account `email` names (existing or not): 429 past it."""
    limiter = current_limiter()
    if limiter is not None:
        limiter.limit_attempt(ACCOUNT_POLICY, "account:" + normalize_email(email))


def register_auth(app: Flask) -> None:
    """Key rate limits and idempotency keys on the authenticated user when there is one."""
    idempotency: Idempotency | None = app.extensions.get(IDEMPOTENCY)
    if idempotency is not None:
        idempotency.identity_loader = _identity
    limiter = app.extensions.get(RATELIMIT)
    if limiter is not None:
        limiter.identity_loader = _rate_limit_identity
        limiter.limits(ACCOUNT_POLICY)  # a malformed setting stops start-up
