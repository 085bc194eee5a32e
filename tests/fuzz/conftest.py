"""Fuzz fixtures: an app whose rate limits stay out of the way, and an admin caller kept alive.

The fuzzers delete accounts, revoke tokens and change passwords, so `World.ensure()`
runs before every generated case and puts back what the previous case took away,
through the services (never over HTTP, which is what is being fuzzed).
"""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from myapp import create_app
from myapp.db import get_engine
from myapp.models import Alias, IdempotencyRecord, Token, User
from myapp.services import aliases, tokens, users

ADMIN_EMAIL = "fuzz-admin@example.com"
ADMIN_PASSWORD = "orchid mantle 91"
OTHER_EMAIL = "fuzz-other@example.com"
#: Limits no fuzz run reaches: these tests are about the contract, tests/core covers the limiter.
NO_LIMITS = {
    "RATELIMIT_DEFAULT": "1000000/minute",
    "RATELIMIT_AUTH": "1000000/minute",
    "RATELIMIT_AUTH_ACCOUNT": "1000000/minute",
    "RATELIMIT_SIGNUP": "1000000/minute",
}
#: Generated cases per (suite, operation), reported at the end of the session.
CASES: Counter[tuple[str, str]] = Counter()
#: Response statuses per (suite, operation), where a suite records them.
STATUSES: dict[tuple[str, str], Counter[int]] = {}


def document_app():
    """An app built like the fuzzed one, to read the OpenAPI document from at collection time.

    Its database is never touched: the document depends on the routes, not on data.
    """
    return create_app({"TESTING": True, "DATABASE_URL": "sqlite://", **NO_LIMITS})


def row_counts(app) -> dict[str, int]:
    """How many users, tokens and aliases are stored."""
    with Session(get_engine(app)) as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (User, Token, Alias)
        }


class World:
    """An admin with a live token and an alias, and another user with an alias of their own."""

    def __init__(self, app):
        self.app = app
        self.token: str | None = None
        #: The id of an alias the admin owns (for the paths that take an id).
        self.own_id: int | None = None

    def _user(self, session: Session, email: str, *, is_admin: bool) -> User:
        config = self.app.config
        user = session.scalar(select(User).where(User.email == email))
        if user is None:
            user = users.create_user(
                session,
                email=email,
                name="Fuzz",
                password=ADMIN_PASSWORD,
                hash_method=config["PASSWORD_HASH_METHOD"],
                is_admin=is_admin,
            )
        elif not users.verify_password(user.password_hash, ADMIN_PASSWORD):
            # A fuzzed PATCH /v1/users/me may have set a new password (that revoked the tokens).
            user.password_hash = users.hash_password(ADMIN_PASSWORD, config["PASSWORD_HASH_METHOD"])
            session.commit()
        alias = session.scalar(select(Alias).where(Alias.owner_id == user.id).limit(1))
        if alias is None:
            alias = aliases.create_alias(
                session,
                user.id,
                target=email,
                domains=config["ALIAS_DOMAINS"],
                quota=config["ALIAS_QUOTA"],
            )
            session.commit()
        if is_admin:
            self.own_id = alias.id
        return user

    def ensure(self) -> str:
        """Restore both users and their aliases; return the admin's token, reissued if revoked.

        Kept Idempotency-Key answers are forgotten: each case is a request of its own,
        and a key generated again for another body would otherwise be a 422 (reused).
        """
        with Session(get_engine(self.app), expire_on_commit=False) as session:
            session.execute(delete(IdempotencyRecord))
            session.commit()
            self._user(session, OTHER_EMAIL, is_admin=False)
            admin = self._user(session, ADMIN_EMAIL, is_admin=True)
            if self.token is None or tokens.user_for_token(session, self.token) is None:
                self.token = tokens.issue_token(session, admin, ttl=self.app.config["TOKEN_TTL"])
        return self.token


@pytest.fixture
def fuzz_app(make_app):
    """The app under fuzzing, on this test's empty database (SQLite, or PostgreSQL in `pg`)."""
    return make_app(**NO_LIMITS)


@pytest.fixture
def world(fuzz_app):
    """The users, token and aliases the fuzzed requests run against."""
    return World(fuzz_app)


def pytest_terminal_summary(terminalreporter):
    """Say how many cases the fuzzers generated, per suite and operation."""
    if not CASES:
        return
    write = terminalreporter.write_line
    terminalreporter.section("fuzz cases")
    for suite in sorted({suite for suite, _ in CASES}):
        counts = {op: n for (s, op), n in CASES.items() if s == suite}
        write(f"{suite}: {sum(counts.values())} cases over {len(counts)} operations")
        for operation, count in sorted(counts.items()):
            statuses = STATUSES.get((suite, operation), {})
            seen = ", ".join(f"{status}: {n}" for status, n in sorted(statuses.items()))
            write(f"    {count:6d}  {operation}" + (f"  ({seen})" if seen else ""))
    write(f"total: {sum(CASES.values())} generated cases")
