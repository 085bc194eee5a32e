"""Fixtures for the service-layer tests: a plain Session, no HTTP."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from myapp.db import get_engine
from myapp.services.users import create_user

PASSWORD = "correct horse battery"


@pytest.fixture
def method(app):
    """The (cheap) password hash method the test app is configured with."""
    return app.config["PASSWORD_HASH_METHOD"]


@pytest.fixture
def session(app):
    """A session on the test app's database, as the CLI and the services use one."""
    with Session(get_engine(app), expire_on_commit=False) as session:
        yield session


@pytest.fixture
def ada(session, method):
    """A user (signed up in mixed case; stored lowercased)."""
    return create_user(
        session, email="Ada@Example.com", name="Ada", password=PASSWORD, hash_method=method
    )


@pytest.fixture
def bob(session, method):
    """A second user."""
    return create_user(
        session, email="bob@example.com", name="Bob", password=PASSWORD, hash_method=method
    )
