"""Shared fixtures: the app, its test client, and real services for the tests that need them."""

from __future__ import annotations

import pytest

from myapp import create_app


@pytest.fixture
def app():
    """A fresh application in testing mode."""
    return create_app({"TESTING": True})


@pytest.fixture
def client(app):
    """A test client for the app."""
    return app.test_client()
