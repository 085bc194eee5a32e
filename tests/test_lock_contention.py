"""Password hashes are made holding no write lock (issue 19, finding 3).

scrypt is slow on purpose. On SQLite a writing request's transaction holds the
database's write lock from its first statement, so a hash made inside it kept every
other writer waiting, up to DATABASE_BUSY_TIMEOUT and then a 503. Here another
user's write is sent while the hash is being made: it must get through at once.
"""

from __future__ import annotations

import threading

import pytest

from myapp.services import users

PASSWORD = "correct horse 7"
NEW_PASSWORD = "another password"


@pytest.fixture
def world(make_app):
    app = make_app(DATABASE_BUSY_TIMEOUT=1, RATELIMIT_AUTH="1000/minute")
    client = app.test_client()
    auth = {}
    for name in ("ann", "bob"):
        body = {"email": f"{name}@example.com", "name": name, "password": PASSWORD}
        assert client.post("/v1/users", json=body).status_code == 201
        credentials = {"email": f"{name}@example.com", "password": PASSWORD}
        token = client.post("/v1/auth/token", json=credentials).get_json()["data"]["access_token"]
        auth[name] = {"Authorization": f"Bearer {token}"}
    return app, auth


def write_while_hashing(app, monkeypatch, password, headers):
    """Make the hash of `password` wait for another user's write; return that write's status."""
    statuses = []
    real = users.hash_password

    def bob_writes():
        answer = app.test_client().post(
            "/v1/aliases", json={"target": "bob@example.com"}, headers=headers
        )
        statuses.append(answer.status_code)

    def hash_while_bob_writes(text, method):
        if text == password:
            writer = threading.Thread(target=bob_writes)
            writer.start()
            writer.join(timeout=10)
        return real(text, method)

    monkeypatch.setattr(users, "hash_password", hash_while_bob_writes)
    return statuses


def test_a_password_change_hashes_before_it_locks(world, monkeypatch):
    app, auth = world
    statuses = write_while_hashing(app, monkeypatch, NEW_PASSWORD, auth["bob"])
    body = {"password": NEW_PASSWORD, "current_password": PASSWORD}

    changed = app.test_client().patch("/v1/users/me", json=body, headers=auth["ann"])

    assert changed.status_code == 200
    assert statuses == [201]


def test_a_sign_up_with_a_bearer_header_hashes_holding_no_lock(world, monkeypatch):
    app, auth = world
    statuses = write_while_hashing(app, monkeypatch, "rosebud at dawn", auth["bob"])
    body = {"email": "cara@example.com", "name": "Cara", "password": "rosebud at dawn"}

    created = app.test_client().post("/v1/users", json=body, headers=auth["ann"])

    assert created.status_code == 201
    assert statuses == [201]
