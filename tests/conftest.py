"""Shared fixtures: the app, its test client, and real services for the tests that need them."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from myapp import create_app
from myapp.core.logs import stop_logging
from myapp.db import Base, get_engine
from tests.helpers import stamp_newest_revision
from tests.servers import PostgresServer, RedisServer, find_binary, find_postgres_bindir

#: MYAPP_TEST_DATABASE=postgresql runs the whole suite on PostgreSQL (the tox env "pg").
ON_POSTGRES = os.environ.get("MYAPP_TEST_DATABASE") == "postgresql"
#: Cheap password hashing keeps the suite fast; production uses werkzeug's scrypt default.
FAST_HASH = "scrypt:1024:8:1"


@pytest.fixture(autouse=True)
def _logs_written_within_each_test():
    """Write out a test's queued log lines while pytest still captures its output."""
    yield
    stop_logging()


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL cluster for the session; skipped (or failed in CI) without binaries."""
    server = PostgresServer(find_postgres_bindir())
    server.start()
    yield server
    server.remove()


@pytest.fixture
def database_url(request, tmp_path):
    """An empty database with the schema: a SQLite file, or PostgreSQL truncated clean."""
    if not ON_POSTGRES:
        return f"sqlite:///{tmp_path / 'test.sqlite3'}"
    server = request.getfixturevalue("postgres_server")
    return server.url


@pytest.fixture
def make_app(database_url):
    """Build test apps on this test's database; extra settings override the defaults."""
    apps = []

    def factory(**settings):
        # The access log is written by a background thread, after pytest stops capturing
        # a test's output; tests/core/test_logs.py turns it on where it is the subject.
        config = {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "PASSWORD_HASH_METHOD": FAST_HASH,
            "ACCESS_LOG": False,
            # Tests sign many users up and in from one address; the tests of these
            # two policies set them tight themselves.
            "RATELIMIT_SIGNUP": "100000/minute",
            "RATELIMIT_AUTH_ACCOUNT": "100000/minute",
        }
        config.update(settings)
        built = create_app(config)
        engine = get_engine(built)
        Base.metadata.create_all(engine)
        with engine.begin() as conn:
            if not apps and engine.dialect.name == "postgresql":
                tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
                conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            stamp_newest_revision(conn)
        apps.append(built)
        return built

    yield factory
    for built in apps:
        get_engine(built).dispose()


@pytest.fixture
def app(make_app):
    """A fresh application in testing mode, on an empty database."""
    return make_app()


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
