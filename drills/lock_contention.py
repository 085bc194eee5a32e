"""Drill 10, password hashing and SQLite's write lock: other writers never wait on a hash.

On SQLite a writing request holds the database's write lock from its first
statement. A password hashed inside that transaction (scrypt, slow on purpose)
kept every other writer waiting, and past DATABASE_BUSY_TIMEOUT they got 503s
(issue 19, finding 3). Here, with production's scrypt and a 1 s busy timeout,
CHANGERS clients change their password over and over (each change revokes their
tokens, so they sign in again), SIGNERS sign up with a bearer header (the path
that used to hash inside the token lookup's transaction), and WRITERS create and
delete aliases as other users. Invariants: no 5xx at all; the alias writes' p99 stays
under the median password change, that is, no write ever waited out a hash.
"""

from __future__ import annotations

import itertools
import time

from drills.common import (
    Background,
    Client,
    Report,
    Stats,
    app_env,
    check_log,
    database,
    init_db,
    main,
    ms,
    percentile,
    redis_server,
    server_class,
    workdir,
)

CHANGERS, SIGNERS, WRITERS = 3, 2, 3
DURATION = 8.0
PASSWORDS = ("gravel lantern 5", "trellis copper 42")


def run() -> Report:
    """Run the lock-contention drill and return its report."""
    report = Report("lock_contention")
    with workdir() as scratch, redis_server() as rd, database("sqlite", scratch) as (url, _):
        env = app_env(url, rd.url, PASSWORD_HASH_METHOD="scrypt", DATABASE_BUSY_TIMEOUT=1)
        init_db(env)
        server = server_class()(env, scratch)
        with server:
            stats = Stats()
            setup = Client(server.port, Stats())
            tokens = [sign_up(setup, f"user{i}@example.com") for i in range(CHANGERS + WRITERS)]
            clients = [Client(server.port, stats) for _ in range(CHANGERS + SIGNERS + WRITERS)]
            passwords = [0] * CHANGERS
            fresh = itertools.count()

            def step(index: int, _iteration: int) -> None:
                client = clients[index]
                if index < CHANGERS:
                    change_password(client, index, tokens, passwords)
                elif index < CHANGERS + SIGNERS:
                    body = {
                        "email": f"new{next(fresh)}@example.com",
                        "name": "New",
                        "password": PASSWORDS[0],
                    }
                    client.request(
                        "POST",
                        "/v1/users",
                        json_body=body,
                        label="sign_up",
                        token=tokens[CHANGERS],
                        expect={201},
                    )
                else:
                    write_alias(client, tokens[index - SIGNERS])

            with Background(len(clients), step, report) as load:
                time.sleep(DURATION)
                load.stop()
            check_log(report, server)

    judge(report, stats)
    report.figures.update(server=server.kind)
    return report.finish()


def write_alias(client: Client, token: str) -> None:
    """Create an alias and delete it again: two writes, and the quota never fills."""
    created = client.request(
        "POST",
        "/v1/aliases",
        json_body={"target": "t@example.com"},
        token=token,
        label="alias_write",
        expect={201},
    )
    if created.status == 201:
        client.request(
            "DELETE",
            f"/v1/aliases/{created.data()['id']}",
            token=token,
            label="alias_write",
            expect={204},
        )


def sign_up(client: Client, email: str) -> str:
    """A new user's bearer token."""
    body = {"email": email, "name": "User", "password": PASSWORDS[0]}
    client.request("POST", "/v1/users", json_body=body, expect={201})
    return sign_in(client, email, PASSWORDS[0])


def sign_in(client: Client, email: str, password: str) -> str:
    answer = client.request(
        "POST",
        "/v1/auth/token",
        json_body={"email": email, "password": password},
        label="sign_in",
        expect={200},
    )
    return str(answer.data()["access_token"]) if answer.status == 200 else ""


def change_password(client: Client, index: int, tokens: list[str], passwords: list[int]) -> None:
    """Change user `index`'s password to the other one, then sign in with it."""
    current, new = PASSWORDS[passwords[index]], PASSWORDS[1 - passwords[index]]
    answer = client.request(
        "PATCH",
        "/v1/users/me",
        json_body={"password": new, "current_password": current},
        token=tokens[index],
        label="password_change",
        expect={200},
    )
    if answer.status == 200:
        passwords[index] = 1 - passwords[index]
        tokens[index] = sign_in(client, f"user{index}@example.com", new)


def judge(report: Report, stats: Stats) -> None:
    """No 5xx; the alias writes never waited out a password hash."""
    report.figures.update(stats.figures())
    stats.check_basics(report)
    writes = [r.latency for r in stats.select("alias_write")]
    changes = [r.latency for r in stats.select("password_change")]
    report.expect(bool(writes) and bool(changes), "no alias write or password change ran")
    if not (writes and changes):
        return
    write_p99, change_p50 = percentile(writes, 0.99), percentile(changes, 0.50)
    report.figures.update(
        alias_writes=len(writes),
        password_changes=len(changes),
        sign_ups=len(stats.select("sign_up")),
        alias_write_p99=ms(write_p99),
        password_change_p50=ms(change_p50),
    )
    report.expect(
        write_p99 < change_p50,
        f"alias writes' p99 {ms(write_p99)} is not under the median password change "
        f"{ms(change_p50)}: writes waited on a hash",
    )


if __name__ == "__main__":
    main(run, "lock_contention")
