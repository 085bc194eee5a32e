"""Assertions shared by the HTTP tests: the envelope, the problem body, the standard headers."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import text

from myapp.core import ApiFlask, register_fast_path
from myapp.migrations import newest_revision


class FastApiFlask(ApiFlask):
    """A bare ApiFlask with the guarded fast path installed, as create_app installs it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        register_fast_path(self)
        if not {"flask", "werkzeug"} <= self.fast_path:
            pytest.skip("the installed Flask or Werkzeug is outside the fast path's range")


#: Alembic's own table, as it creates it.
VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"
)
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
PROBLEM_MEMBERS = {"type", "title", "status", "detail", "request_id"}
# Words that must never reach a client's body (contract section 1).
LEAKS = ("NaN", "Infinity", "Traceback", 'File "', ".py")


def assert_standard_headers(response: Any) -> str:
    """Check the headers every response carries and return its request id."""
    request_id = response.headers["X-Request-ID"]
    assert REQUEST_ID.fullmatch(request_id)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    return request_id


def assert_success(response: Any, status: int = 200) -> Any:
    """Check a success response's status, type, headers and envelope; return `data`."""
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert_standard_headers(response)
    body = json.loads(response.data)
    assert isinstance(body, dict)
    assert "data" in body
    assert body.keys() <= {"data", "meta", "links"}
    return body["data"]


def assert_problem(response: Any, status: int, type_: str | None = "about:blank") -> dict:
    """Check an RFC 9457 problem response and return its body."""
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    request_id = assert_standard_headers(response)
    text = response.data.decode()
    assert not [word for word in LEAKS if word in text]
    body = json.loads(text)
    assert body.keys() >= PROBLEM_MEMBERS
    assert body["status"] == status
    assert body["request_id"] == request_id
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    if type_ is not None:
        assert body["type"] == type_
    return body


def assert_conditional(response: Any, status: int, etag: str, value: Any) -> None:
    """A conditional GET's answer: a bodiless 304 or the value, with the ETag either way."""
    assert response.status_code == status
    assert response.headers["ETag"] == etag
    assert_standard_headers(response)
    if status == 304:
        assert response.data == b""
        assert "Content-Type" not in response.headers
    else:
        assert assert_success(response) == value


#: Stored password hashes that are broken in every way werkzeug can meet.
CORRUPT_HASHES = [
    "garbage",
    "",
    "$",
    "$$",
    "scrypt",
    "scrypt$salt$",
    "scrypt:abc:8:1$salt$00",
    "scrypt:1024:8:1$salt",
    "nosuchmethod$salt$hash",
    "pbkdf2:nosuchdigest:1$salt$hash",
    "scrypt:1024:8:1$sält$ff",
    "scrypt:1024:8:1$salt$ä",
    "scrypt:1023:8:1$salt$00",
    "scrypt:1024:8$salt$00",
]


def signed_up(client: Any, email: str, password: str) -> dict[str, str]:
    """Sign a new user up and in over HTTP; return their Authorization header."""
    body = {"email": email, "name": "N", "password": password}
    assert client.post("/v1/users", json=body).status_code == 201
    signed = client.post("/v1/auth/token", json={"email": email, "password": password})
    assert signed.status_code == 200, signed.get_json()
    return {"Authorization": "Bearer " + signed.get_json()["data"]["access_token"]}


def stamp_newest_revision(connection):
    """Record the schema create_all made as the newest migration's, as init-db would."""
    connection.execute(text(VERSION_TABLE))
    connection.execute(text("DELETE FROM alembic_version"))
    connection.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": newest_revision()})
