"""Users: sign-up, lookup, listing, profile changes and deletion."""

from __future__ import annotations

import unicodedata

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from myapp.core import Conflict, ValidationFailed
from myapp.models import Token, User
from myapp.services.passwords import too_guessable


class EmailTaken(Conflict):
    """Another account already uses this email address."""

    type = "email-taken"
    title = "Email address taken"
    detail = "An account with this email address already exists."


def normalize_email(email: str) -> str:
    """Email addresses are compared case-insensitively, so they are stored lowercased."""
    return email.strip().lower()


def _as_hashed(password: str) -> str:
    """The password as it is hashed: NFKC, so "café" matches however it was typed."""
    return unicodedata.normalize("NFKC", password)


def check_new_password(password: str, *, email: str, name: str) -> None:
    """Refuse a new password that is only white space or too easy to guess (the schema
    checks its length); `email` and `name` are the account's, which it must not contain."""
    if not password.strip():
        raise ValidationFailed.for_field("#/password", "must not be only spaces")
    why = too_guessable(_as_hashed(password), context=(email.partition("@")[0], *name.split()))
    if why is not None:
        raise ValidationFailed.for_field("#/password", f"{why}: choose one harder to guess")


def hash_password(password: str, method: str) -> str:
    """Hash a password with werkzeug (scrypt by default), normalised first."""
    return generate_password_hash(_as_hashed(password), method=method)


def verify_password(stored_hash: str, password: str) -> bool:
    """Check a password; a corrupt stored hash never matches and never raises.

    The normalised form is tried first, then the text as sent, which hashes made
    before passwords were normalised need.
    """
    candidates = dict.fromkeys((_as_hashed(password), password))
    try:
        return any(check_password_hash(stored_hash, text) for text in candidates)
    except (ValueError, TypeError, LookupError):
        return False


def create_user(
    session: Session,
    *,
    email: str,
    name: str,
    password: str,
    hash_method: str,
    is_admin: bool = False,
) -> User:
    """Insert a user; the unique index settles concurrent sign-ups (EmailTaken)."""
    check_new_password(password, email=email, name=name)
    user = User(
        email=normalize_email(email),
        name=name,
        password_hash=hash_password(password, hash_method),
        is_admin=is_admin,
    )
    session.add(user)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise EmailTaken() from None
    return user


def email_taken(session: Session, email: str) -> bool:
    """Whether an account has this email address (compared as stored: lowercased)."""
    found = session.scalar(select(User.id).where(User.email == normalize_email(email)))
    return found is not None


def get_user(session: Session, user_id: int) -> User | None:
    """The user with this id, or None."""
    return session.get(User, user_id)


def list_users(session: Session, *, page: int, per_page: int) -> tuple[list[User], int]:
    """One page of users, oldest first, and the total count."""
    total = session.scalar(select(func.count()).select_from(User)) or 0
    users = session.scalars(
        select(User).order_by(User.id).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return list(users), total


def lock_user(session: Session, user: User) -> User:
    """Read the user again, locked until the transaction ends (PostgreSQL's FOR UPDATE)."""
    session.refresh(user, with_for_update=True)
    return user


def new_password_hash(
    user: User, *, password: str, current_password: str | None, hash_method: str
) -> str:
    """Check the current password and hash the new one.

    Both are slow on purpose (scrypt), so call this holding no lock: on SQLite a
    writing transaction keeps every other writer waiting.
    """
    if current_password is None or not verify_password(user.password_hash, current_password):
        raise ValidationFailed.for_field(
            "#/current_password", "must be the current password to set a new one"
        )
    check_new_password(password, email=user.email, name=user.name)
    return hash_password(password, hash_method)


def update_user(
    session: Session,
    user: User,
    *,
    hash_method: str,
    name: str | None = None,
    password: str | None = None,
    current_password: str | None = None,
    password_hash: str | None = None,
) -> User:
    """Change the name and/or password; a new password needs the current one and
    revokes every token of the user. `password_hash` is one `new_password_hash` made
    already. The current password alone is a 422: it would change nothing, and
    whoever sent it meant to change something."""
    if current_password is not None and password is None and password_hash is None:
        raise ValidationFailed.for_field(
            "#/current_password", "goes only with a new password: there is nothing to change"
        )
    if password is not None:
        password_hash = new_password_hash(
            user, password=password, current_password=current_password, hash_method=hash_method
        )
    if password_hash is not None:
        user.password_hash = password_hash
        session.execute(delete(Token).where(Token.user_id == user.id))
    if name is not None:
        user.name = name
    session.commit()
    return user


def delete_user(session: Session, user: User) -> None:
    """Delete a user; the database cascades to their tokens and aliases."""
    session.execute(delete(User).where(User.id == user.id))
    session.commit()
