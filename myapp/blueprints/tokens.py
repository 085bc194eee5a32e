"""Bearer tokens: sign in for one, sign out to revoke it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app

from myapp.auth import bearer_token, limit_password_attempts, require_auth
from myapp.core import ApiResult, Email, String, Unauthorized, dataschema
from myapp.core.openapi import documents
from myapp.core.ratelimit import ratelimit
from myapp.db import get_session
from myapp.services import tokens

bp = Blueprint("tokens", __name__, url_prefix="/v1/auth")


@bp.post("/token")
@documents({"access_token": str, "token_type": "bearer", "expires_in": int}, errors=(401,))
@ratelimit("RATELIMIT_AUTH", name="auth", sensitive=True, by_address=True)
@dataschema({"email": Email(), "password": String(1, 128)}, max_body=4096)
def create_token(data: dict[str, Any]) -> ApiResult:
    """Exchange email and password for a bearer token; the same 401 for any mistake.

    Limited per client address (RATELIMIT_AUTH, 5 a minute) and per account, from any
    address (RATELIMIT_AUTH_ACCOUNT, 20 an hour, counted whether or not the account
    exists). Both answer 503 while the limiter's store is down.
    """
    limit_password_attempts(data["email"])
    config = current_app.config
    session = get_session()
    user = tokens.authenticate(
        session, data["email"], data["password"], hash_method=config["PASSWORD_HASH_METHOD"]
    )
    if user is None:
        raise Unauthorized("The email address or password is wrong.")
    ttl = config["TOKEN_TTL"]
    token = tokens.issue_token(session, user, ttl=ttl, keep=config["TOKENS_PER_USER"])
    return ApiResult({"access_token": token, "token_type": "bearer", "expires_in": ttl})


@bp.delete("/token")
@documents(status=204)
@require_auth
def delete_token() -> ApiResult:
    """Revoke the token this request was made with."""
    tokens.revoke_token(get_session(), bearer_token() or "")
    return ApiResult(None, status=204)
