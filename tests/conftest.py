"""Shared fixtures: the app, its test client, and real services for the tests that need them."""

from __future__ import annotations

import pytest

from myapp import create_app
from tests.services import RedisServer, find_binary


@pytest.fixture
def app():
    """A fresh application in testing mode."""
    return create_app({"TESTING": True})


@pytest.fixture
def client(app):
    """A test client for the app."""
    return app.test_client()


@pytest.fixture(scope="session")
def redis_server():
    """One redis-server for the session; skipped (or failed in CI) without the binary."""
    server = RedisServer(find_binary("redis-server", "redis-server"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server):
    """The shared Redis, emptied for this test."""
    client = redis_server.client()
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def private_redis():
    """A Redis of this test's own, to stop, freeze and restart."""
    server = RedisServer(find_binary("redis-server", "redis-server"))
    server.start()
    yield server
    server.stop()
