"""What an Idempotency-Key adds to POST /v1/aliases, in process, on a SQLite file.

Three kinds of request, taking turns in each round so the machine's drift falls
on all alike:
- unkeyed: a new alias, as without the header;
- keyed: a new alias under a fresh key (the key's read, and its outcome's insert);
- replay: the same key and body again (the read, and the stored answer).
Prints each kind's median microseconds (the lower quartile of the rounds' medians)
and its ratio to the unkeyed POST of the same run, then the SQL statements one
request of each kind runs, so the added work can be read, not guessed:

    .venv/bin/python bench/idempotency.py [--rounds 15] [--requests 200]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import itertools
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event

from myapp import create_app
from myapp.cli import upgrade_database
from myapp.db import get_engine

PASSWORD = "orchid mantle 91"
BODY = {"target": "me@example.com", "description": "bench"}


def build() -> Any:
    """The app on a scratch SQLite file with the schema init-db makes."""
    scratch = tempfile.mkdtemp(prefix="myapp-bench-")
    app = create_app(
        {
            "SECRET_KEY": secrets.token_urlsafe(32),
            "DATABASE_URL": f"sqlite:///{scratch}/bench.sqlite3",
            "ACCESS_LOG": False,
            "PASSWORD_HASH_METHOD": "scrypt:1024:8:1",
            "RATELIMIT_DEFAULT": "1000000/minute",
            "PUBLIC_URL": "https://api.example.com",
            "ALIAS_QUOTA": 100_000_000,
        }
    )
    upgrade_database(app)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    app = build()
    client = app.test_client()
    account = {"email": "ann@example.com", "name": "Ann", "password": PASSWORD}
    assert client.post("/v1/users", json=account).status_code == 201
    signed = client.post("/v1/auth/token", json={"email": account["email"], "password": PASSWORD})
    auth = {"Authorization": "Bearer " + signed.get_json()["data"]["access_token"]}
    keys = (f"bench-{n}" for n in itertools.count())
    assert (
        client.post("/v1/aliases", json=BODY, headers={**auth, "Idempotency-Key": "r"}).status_code
        == 201
    )

    def unkeyed() -> Any:
        return client.post("/v1/aliases", json=BODY, headers=auth)

    def keyed() -> Any:
        return client.post(
            "/v1/aliases", json=BODY, headers={**auth, "Idempotency-Key": next(keys)}
        )

    def replay() -> Any:
        return client.post("/v1/aliases", json=BODY, headers={**auth, "Idempotency-Key": "r"})

    kinds: dict[str, Callable[[], Any]] = {"unkeyed": unkeyed, "keyed": keyed, "replay": replay}
    medians: dict[str, list[float]] = {name: [] for name in kinds}
    for _ in range(args.rounds):
        for name, send in kinds.items():
            samples = []
            for _ in range(args.requests):
                started = time.perf_counter()
                response = send()
                samples.append(time.perf_counter() - started)
                assert response.status_code == 201, response.get_json()
            medians[name].append(statistics.median(samples) * 1e6)
    figures = {name: statistics.quantiles(values, n=4)[0] for name, values in medians.items()}
    base = figures["unkeyed"]
    print(f"POST /v1/aliases on SQLite, {args.rounds} rounds of {args.requests} each:")
    for name, micros in figures.items():
        print(f"  {name:8} {micros:8.1f} µs  {micros / base:5.2f}x")
    for name, send in kinds.items():
        statements = traced(app, send)
        print(f"\n{name}: {len(statements)} statements")
        for statement in statements:
            print("  " + statement)


def traced(app: Any, send: Callable[[], Any]) -> list[str]:
    """The SQL one request runs, a line each (COMMIT included)."""
    statements: list[str] = []
    engine = get_engine(app)

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split())[:110])

    def commit(_conn: Any) -> None:
        statements.append("COMMIT")

    listeners = [("before_cursor_execute", record), ("commit", commit)]
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        send()
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)
    return statements


if __name__ == "__main__":
    main()
