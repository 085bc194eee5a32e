"""Password guessing and sign-up floods under the default policies: what gets through.

Replays issue 19's findings 4-6 in process, with the configuration's defaults and
the in-memory limiter, and counts:
- sign-in guesses at one account from 15 addresses (5 each, then 1 each round)
  admitted before the right password is refused, and whether it is;
- wrong `current_password` guesses on PATCH /v1/users/me admitted in a row;
- sign-ups from one address admitted in a row, and the password hashes that taken
  emails (409) cost.
It uses only the app's public routes, so it runs on any commit:

    .venv/bin/python bench/credentials.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import os
import secrets
import subprocess
import tempfile
from typing import Any

import myapp.services.users as users_service
from myapp import create_app

PASSWORD = "orchid mantle 91"
ATTEMPTS = 200


def post(client: Any, path: str, body: dict[str, Any], address: str, **kw: Any) -> Any:
    return client.open(
        path,
        method=kw.pop("method", "POST"),
        json=body,
        environ_base={"REMOTE_ADDR": address},
        **kw,
    )


def main() -> None:
    scratch = tempfile.mkdtemp(prefix="myapp-bench-")
    os.environ |= {
        "MYAPP_SECRET_KEY": secrets.token_urlsafe(32),
        "MYAPP_DATABASE_URL": f"sqlite:///{scratch}/bench.sqlite3",
    }
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "myapp", "init-db"],
        check=True,
        capture_output=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    app = create_app({"ACCESS_LOG": False, "PASSWORD_HASH_METHOD": "scrypt:1024:8:1"})
    client = app.test_client()
    account = {"email": "ann@example.com", "name": "Ann", "password": PASSWORD}
    assert post(client, "/v1/users", account, "10.0.0.1").status_code == 201
    bob = {**account, "email": "bob@example.com", "name": "Bob"}
    assert post(client, "/v1/users", bob, "10.0.0.1").status_code == 201
    sign_in = {"email": "bob@example.com", "password": PASSWORD}
    token = post(client, "/v1/auth/token", sign_in, "10.5.0.1").get_json()["data"]
    headers = {"Authorization": f"Bearer {token['access_token']}"}

    # Finding 5: Bob's current_password guessed with his token, from one address.
    statuses = []
    for attempt in range(ATTEMPTS):
        body = {"password": "a new long phrase 7", "current_password": f"guess {attempt}"}
        answer = post(client, "/v1/users/me", body, "10.5.0.1", method="PATCH", headers=headers)
        statuses.append(answer.status_code)
    guessed = statuses.index(429) if 429 in statuses else len(statuses)
    print(
        f"finding 5: {guessed} current_password guesses answered before the first 429 "
        f"(statuses seen {sorted(set(statuses))})"
    )

    # Finding 4: guesses from 15 addresses, round after round, then the right password.
    admitted = 0
    for attempt in range(ATTEMPTS):
        body = {"email": "ann@example.com", "password": f"guess {attempt}"}
        if post(client, "/v1/auth/token", body, f"10.4.0.{attempt % 15}").status_code == 401:
            admitted += 1
    right = post(
        client, "/v1/auth/token", {"email": "ann@example.com", "password": PASSWORD}, "10.4.1.1"
    )
    print(
        f"finding 4: {admitted} of {ATTEMPTS} sign-in guesses from 15 addresses answered "
        f"401; then the right password: {right.status_code}"
    )

    # Finding 6: sign-ups from one address, and hashes a taken email costs.
    # Count the hashes where the users service makes them (it imports the function).
    hashes = []
    real = users_service.generate_password_hash

    def counting(*args: Any, **kwargs: Any) -> str:
        hashes.append(1)
        return real(*args, **kwargs)

    users_service.generate_password_hash = counting
    signups = [
        post(client, "/v1/users", {**account, "email": f"u{n}@example.com"}, "10.6.0.1").status_code
        for n in range(ATTEMPTS)
    ]
    created = signups.index(429) if 429 in signups else signups.count(201)
    hashes.clear()
    taken = post(client, "/v1/users", account, "10.6.0.2").status_code
    print(
        f"finding 6: {created} sign-ups from one address before the first 429; a taken "
        f"email answered {taken} after {len(hashes)} password hashes"
    )


if __name__ == "__main__":
    main()
