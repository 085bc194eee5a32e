"""Concurrency and outages: one winner per email, locked or vanished databases are 503s."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from myapp import create_app
from myapp.db import Base, get_engine, get_session
from myapp.models import User
from tests.conftest import FAST_HASH
from tests.helpers import assert_problem, stamp_newest_revision
from tests.servers import PostgresServer, find_postgres_bindir


def run_together(count, request):
    """Run request(i) on `count` threads released at the same moment; return the results."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def worker(i):
        barrier.wait()
        results[i] = request(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def count_users(app):
    with Session(get_engine(app)) as session:
        return session.scalar(select(func.count()).select_from(User))


def signup(app, email):
    response = app.test_client().post(
        "/v1/users", json={"email": email, "name": "N", "password": "correct horse 7"}
    )
    return response.status_code, response.get_json(), response.headers


def test_concurrent_signups_with_one_email_have_one_winner(app):
    # Half the racers spell the address in another case: it is the same account.
    results = run_together(
        12, lambda i: signup(app, "Same@Example.com" if i % 2 else "same@example.COM")
    )
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [201] + [409] * 11
    for status, body, _ in results:
        if status == 409:
            assert body["type"].endswith("/email-taken")
    assert count_users(app) == 1


def test_concurrent_distinct_signups_all_land(app):
    results = run_together(16, lambda i: signup(app, f"user{i}@example.com"))
    assert [status for status, _, _ in results] == [201] * 16
    ids = {body["data"]["id"] for _, body, _ in results}
    assert len(ids) == 16
    assert count_users(app) == 16


def test_sqlite_lock_held_past_the_busy_timeout_is_a_503(tmp_path):
    # SQLite's own write lock is the subject, so this runs on SQLite in every mode.
    path = tmp_path / "locked.sqlite3"
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{path}",
            "PASSWORD_HASH_METHOD": FAST_HASH,
            "DATABASE_BUSY_TIMEOUT": 0.05,
        }
    )
    Base.metadata.create_all(get_engine(app))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        status, body, headers = signup(app, "locked@example.com")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert status == 503
    assert body["type"].endswith("/service-unavailable")
    assert body["detail"] == "The database is busy; retry shortly."
    assert int(headers["Retry-After"]) >= 1
    assert count_users(app) == 0
    # The lock is gone: the same request now succeeds.
    assert signup(app, "locked@example.com")[0] == 201


def test_unreachable_sqlite_is_a_503_and_readiness_says_so(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{tmp_path}/missing/dir/db.sqlite3",
            "PASSWORD_HASH_METHOD": FAST_HASH,
        }
    )
    client = app.test_client()
    response = client.post(
        "/v1/users", json={"email": "a@example.com", "name": "A", "password": "correct horse 7"}
    )
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert int(response.headers["Retry-After"]) >= 1
    assert "sqlite" not in response.get_data(as_text=True).lower()
    assert client.get("/health").status_code == 200
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.get_json()["checks"] == {"database": "down"}


@pytest.fixture
def private_postgres():
    server = PostgresServer(find_postgres_bindir())
    server.start()
    yield server
    server.remove()


def test_postgres_stopped_then_back(private_postgres):
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": private_postgres.url,
            "PASSWORD_HASH_METHOD": FAST_HASH,
            "DATABASE_CONNECT_TIMEOUT": 1,
        }
    )
    Base.metadata.create_all(get_engine(app))
    with get_engine(app).begin() as connection:
        stamp_newest_revision(connection)
    client = app.test_client()
    assert signup(app, "before@example.com")[0] == 201

    private_postgres.stop()
    status, body, headers = signup(app, "during@example.com")
    assert status == 503
    assert body["type"].endswith("/service-unavailable")
    assert int(headers["Retry-After"]) >= 1
    assert client.get("/health").status_code == 200
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.get_json()["checks"]["database"] == "down"

    private_postgres.start()
    assert client.get("/health/ready").get_json()["data"]["checks"]["database"] == "ok"
    assert signup(app, "after@example.com")[0] == 201
    with Session(get_engine(app)) as session:
        emails = set(session.scalars(select(User.email)))
    # Nothing half-written: the request that failed left no row.
    assert emails == {"before@example.com", "after@example.com"}
    get_engine(app).dispose()


def test_a_slow_postgresql_statement_is_cut_off_as_a_503(postgres_server):
    """DATABASE_STATEMENT_TIMEOUT bounds a query; the request gets a 503, the worker goes on."""
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": postgres_server.url,
            "DATABASE_STATEMENT_TIMEOUT": 0.2,
            "ACCESS_LOG": False,
        }
    )

    @app.get("/slow")
    def slow():
        get_session().execute(text("SELECT pg_sleep(5)"))
        return {"slept": True}

    client = app.test_client()
    started = time.monotonic()
    response = client.get("/slow")

    assert time.monotonic() - started < 3
    body = assert_problem(response, 503, "https://myapp.dev/problems/service-unavailable")
    assert "pg_sleep" not in str(body)
    assert int(response.headers["Retry-After"]) >= 1
    assert client.get("/health").status_code == 200
    get_engine(app).dispose()
