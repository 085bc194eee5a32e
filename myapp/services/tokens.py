"""Bearer tokens: random, stored only as SHA-256 hashes, expiring, revocable."""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from myapp.db import utcnow
from myapp.models import Token, User
from myapp.services.users import hash_password, normalize_email, verify_password

TOKEN_BYTES = 32
#: Expired tokens of any user cleared by one sign-in, at most: bounded work a request.
PURGE_BATCH = 100


def token_hash(raw: str) -> str:
    """The stored form of a token; the token itself is never stored."""
    return hashlib.sha256(raw.encode()).hexdigest()


@functools.cache
def _dummy_hash(method: str) -> str:
    return hash_password(secrets.token_urlsafe(16), method)


def authenticate(session: Session, email: str, password: str, *, hash_method: str) -> User | None:
    """The user these credentials belong to, or None.

    An unknown email still costs one password check, against a throwaway hash of
    the same method, so response time does not tell which part was wrong.
    """
    user = session.scalar(select(User).where(User.email == normalize_email(email)))
    # End the read before the slow hash check, so no lock (SQLite's write lock, taken
    # up front by writing requests) is held while hashing.
    session.commit()
    if user is None:
        verify_password(_dummy_hash(hash_method), password)
        return None
    return user if verify_password(user.password_hash, password) else None


def issue_token(session: Session, user: User, *, ttl: int, keep: int = 50) -> str:
    """Create a token for the user and return it once.

    The user keeps at most `keep` live tokens: the oldest go first. Each sign-in also
    clears up to PURGE_BATCH expired tokens of anyone, so expired rows do not wait
    for their owner to sign in again.
    """
    raw = secrets.token_urlsafe(TOKEN_BYTES)
    now = utcnow()
    expired = select(Token.id).where(Token.expires_at <= now).limit(PURGE_BATCH)
    session.execute(delete(Token).where(Token.id.in_(expired.scalar_subquery())))
    kept = (
        select(Token.id)
        .where(Token.user_id == user.id)
        .order_by(Token.expires_at.desc(), Token.id.desc())
        .limit(keep - 1)
    )
    session.execute(
        delete(Token).where(Token.user_id == user.id, Token.id.not_in(kept.scalar_subquery()))
    )
    session.add(
        Token(user_id=user.id, token_hash=token_hash(raw), expires_at=now + timedelta(seconds=ttl))
    )
    session.commit()
    return raw


def user_for_token(session: Session, raw: str) -> User | None:
    """The owner of a live (unexpired, unrevoked) token, or None."""
    return session.scalar(
        select(User)
        .join(Token, Token.user_id == User.id)
        .where(Token.token_hash == token_hash(raw), Token.expires_at > utcnow())
    )


def revoke_token(session: Session, raw: str) -> None:
    """Revoke one token."""
    session.execute(delete(Token).where(Token.token_hash == token_hash(raw)))
    session.commit()
