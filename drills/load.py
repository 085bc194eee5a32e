"""Drill 1, load: thousands of mixed requests from many clients across every worker.

Each client signs up, takes a token and runs a fixed mix of alias writes and
reads, profile reads and bad inputs (malformed JSON, wrong content types,
unknown paths, invalid bodies, stale If-Match, wrong passwords). Workers are
recycled during the run (gunicorn: a low max_requests; granian: SIGHUPs). Invariants: no 5xx, no
connection error, every status the one the request calls for, every
acknowledged write readable afterwards, and the database's row counts equal to
the acknowledged writes.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from drills.common import (
    Client,
    Report,
    Result,
    Stats,
    app_env,
    check_log,
    database,
    db_scalar,
    init_db,
    main,
    redis_server,
    run_threads,
    server_class,
    workdir,
)

CLIENTS = 24
ITERATIONS = 110
PASSWORD = "trellis copper 42"
#: One round of what a client does; each client starts at a different place in it.
MIX = (
    "create",
    "get",
    "patch",
    "list",
    "me",
    "bad_json",
    "create",
    "get",
    "wrong_type",
    "unknown_path",
    "patch",
    "invalid_body",
    "no_token",
    "delete",
    "divide_by_zero",
    "stale_if_match",
    "missing_alias",
    "token",
    "wrong_password",
    "get",
    "create_named",
    "not_json_object",
)


@dataclass
class Account:
    """One client's user, token and the aliases it believes exist."""

    index: int
    email: str
    token: str = ""
    user_id: int = 0
    #: alias id -> (ETag, representation) as last acknowledged by the server.
    aliases: dict[int, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    deleted: list[int] = field(default_factory=list)


def sign_up(client: Client, account: Account) -> bool:
    """Create the account's user (and try a taken email), then take a token."""
    signup = {"email": account.email, "name": f"Load {account.index}", "password": PASSWORD}
    created = client.request("POST", "/v1/users", json_body=signup, label="signup", expect={201})
    if created.status != 201:
        return False
    account.user_id = created.data()["id"]
    dup = {**signup, "email": account.email.upper()}
    client.request("POST", "/v1/users", json_body=dup, label="signup_taken", expect={409})
    credentials = {"email": account.email, "password": PASSWORD}
    token = client.request(
        "POST", "/v1/auth/token", json_body=credentials, label="token", expect={200}
    )
    if token.status != 200:
        return False
    account.token = token.data()["access_token"]
    return True


def run_mix(
    client: Client,
    account: Account,
    rng: random.Random,
    iterations: int = ITERATIONS,
    mix: tuple[str, ...] = MIX,
) -> None:
    """Run `iterations` steps of the mix, starting at the account's own place in it."""
    for step in range(iterations):
        action = mix[(step + account.index) % len(mix)]
        if action in ("get", "patch", "delete", "stale_if_match") and not account.aliases:
            action = "create"
        STEPS[action](client, account, rng, step)


def _create(client: Client, account: Account, rng: random.Random, step: int) -> None:
    body = {"target": f"inbox{step}@example.com", "description": f"step {step}"}
    _store_alias(client, account, body, "create_alias")


def _create_named(client: Client, account: Account, rng: random.Random, step: int) -> None:
    body = {"address": f"c{account.index}-s{step}@alias.example", "target": "me@example.com"}
    _store_alias(client, account, body, "create_alias")


def _store_alias(client: Client, account: Account, body: dict[str, Any], label: str) -> None:
    result = client.request(
        "POST", "/v1/aliases", json_body=body, token=account.token, label=label, expect={201}
    )
    if result.status == 201:
        alias = result.data()
        account.aliases[alias["id"]] = (result.headers["etag"], alias)


def _get(client: Client, account: Account, rng: random.Random, step: int) -> None:
    alias_id = rng.choice(list(account.aliases))
    path = f"/v1/aliases/{alias_id}"
    result = client.request("GET", path, token=account.token, label="get_alias", expect={200})
    if result.status == 200 and result.data() != account.aliases[alias_id][1]:
        result.expected = frozenset()  # a successful read of the wrong content


def _patch(client: Client, account: Account, rng: random.Random, step: int) -> None:
    alias_id = rng.choice(list(account.aliases))
    etag = account.aliases[alias_id][0]
    result = client.request(
        "PATCH",
        f"/v1/aliases/{alias_id}",
        json_body={"description": f"patched at {step}", "enabled": step % 2 == 0},
        token=account.token,
        headers={"If-Match": etag},
        label="patch_alias",
        expect={200},
    )
    if result.status == 200:
        account.aliases[alias_id] = (result.headers["etag"], result.data())


def _stale_if_match(client: Client, account: Account, rng: random.Random, step: int) -> None:
    alias_id = rng.choice(list(account.aliases))
    client.request(
        "PATCH",
        f"/v1/aliases/{alias_id}",
        json_body={"description": "never stored"},
        token=account.token,
        headers={"If-Match": '"stale"'},
        label="stale_if_match",
        expect={412},
    )


def _delete(client: Client, account: Account, rng: random.Random, step: int) -> None:
    alias_id = rng.choice(list(account.aliases))
    result = client.request(
        "DELETE",
        f"/v1/aliases/{alias_id}",
        token=account.token,
        headers={"If-Match": account.aliases[alias_id][0]},
        label="delete_alias",
        expect={204},
    )
    if result.status == 204:
        del account.aliases[alias_id]
        account.deleted.append(alias_id)


def _list(client: Client, account: Account, rng: random.Random, step: int) -> None:
    client.request("GET", "/v1/aliases?limit=5", token=account.token, label="list", expect={200})


def _me(client: Client, account: Account, rng: random.Random, step: int) -> None:
    client.request("GET", "/v1/users/me", token=account.token, label="me", expect={200})


def _token(client: Client, account: Account, rng: random.Random, step: int) -> None:
    credentials = {"email": account.email, "password": PASSWORD}
    client.request("POST", "/v1/auth/token", json_body=credentials, label="token", expect={200})


def _wrong_password(client: Client, account: Account, rng: random.Random, step: int) -> None:
    credentials = {"email": account.email, "password": "not the password"}
    client.request(
        "POST", "/v1/auth/token", json_body=credentials, label="wrong_password", expect={401}
    )


def _bad_json(client: Client, account: Account, rng: random.Random, step: int) -> None:
    client.request(
        "POST",
        "/v1/aliases",
        body=b'{"target": "x@example.com",',
        content_type="application/json",
        token=account.token,
        label="bad_json",
        expect={400},
    )


def _not_json_object(client: Client, account: Account, rng: random.Random, step: int) -> None:
    client.request(
        "POST", "/v1/users", json_body=["a", "list"], label="not_json_object", expect={400}
    )


def _wrong_type(client: Client, account: Account, rng: random.Random, step: int) -> None:
    client.request(
        "POST",
        "/v1/users",
        body=b"email=a@example.com",
        content_type="application/x-www-form-urlencoded",
        label="wrong_type",
        expect={415},
    )


def _unknown_path(client: Client, account: Account, rng: random.Random, step: int) -> None:
    client.request("GET", f"/v1/nothing/{step}", label="unknown_path", expect={404})


def _missing_alias(client: Client, account: Account, rng: random.Random, step: int) -> None:
    path = f"/v1/aliases/{9_000_000_000 + step}"
    client.request("GET", path, token=account.token, label="missing_alias", expect={404})


def _invalid_body(client: Client, account: Account, rng: random.Random, step: int) -> None:
    client.request(
        "POST",
        "/v1/aliases",
        json_body={"target": "not an address", "owner_id": 1},
        token=account.token,
        label="invalid_body",
        expect={422},
    )


def _no_token(client: Client, account: Account, rng: random.Random, step: int) -> None:
    client.request("GET", "/v1/users/me", label="no_token", expect={401})


def _divide_by_zero(client: Client, account: Account, rng: random.Random, step: int) -> None:
    client.request("GET", "/v1/calc/divide?a=1&b=0", label="divide_by_zero", expect={422})


STEPS = {
    "create": _create,
    "create_named": _create_named,
    "get": _get,
    "patch": _patch,
    "stale_if_match": _stale_if_match,
    "delete": _delete,
    "list": _list,
    "me": _me,
    "token": _token,
    "wrong_password": _wrong_password,
    "bad_json": _bad_json,
    "not_json_object": _not_json_object,
    "wrong_type": _wrong_type,
    "unknown_path": _unknown_path,
    "missing_alias": _missing_alias,
    "invalid_body": _invalid_body,
    "no_token": _no_token,
    "divide_by_zero": _divide_by_zero,
}


def ordinary_step(
    client: Client, account: Account, iteration: int, also: Iterable[int] = ()
) -> Result:
    """One request of the fault drills' steady traffic: reads, writes, a sign-up.

    Each expects its success status, or one of `also` (503 while a database is down).
    """
    kind = iteration % 5
    token = account.token
    if kind == 0:
        return client.request("GET", "/v1/users/me", token=token, label="me", expect={200, *also})
    if kind == 1:
        body = {"target": "inbox@example.com", "description": f"at {iteration}"}
        return client.request(
            "POST",
            "/v1/aliases",
            json_body=body,
            token=token,
            label="create_alias",
            expect={201, *also},
        )
    if kind == 2:
        path = "/v1/calc/divide?a=1&b=2"
        return client.request("GET", path, label="divide", expect={200, *also})
    if kind == 3:
        path = "/v1/aliases?limit=5"
        return client.request("GET", path, token=token, label="list", expect={200, *also})
    signup = {
        "email": f"{account.email.partition('@')[0]}-{iteration}@example.com",
        "name": "Steady",
        "password": PASSWORD,
    }
    return client.request(
        "POST", "/v1/users", json_body=signup, label="signup", expect={201, *also}
    )


def verify(client: Client, account: Account) -> None:
    """Read back everything the server acknowledged for this account."""
    if not account.token:
        return
    me = client.request("GET", "/v1/users/me", token=account.token, label="verify_me")
    same = me.status == 200 and me.data()["email"] == account.email
    me.expected = frozenset({200} if same else ())
    for alias_id, (_etag, alias) in account.aliases.items():
        got = client.request("GET", f"/v1/aliases/{alias_id}", token=account.token, label="verify")
        got.expected = frozenset({200} if got.status == 200 and got.data() == alias else ())
    for alias_id in account.deleted:
        path = f"/v1/aliases/{alias_id}"
        client.request("GET", path, token=account.token, label="verify_deleted", expect={404})
    listed = client.request(
        "GET", "/v1/aliases?limit=100", token=account.token, label="verify_list"
    )
    ids = {alias["id"] for alias in listed.data() or []}
    listed.expected = frozenset({200} if ids == set(account.aliases) else ())


def run(database_kind: str = "postgresql", clients: int = CLIENTS) -> Report:
    """Run the load drill and return its report."""
    report = Report("load")
    with workdir() as scratch, database(database_kind, scratch) as (url, _pg), redis_server() as rd:
        env = app_env(url, rd.url)
        init_db(env)
        with server_class()(env, scratch, recycle=True) as server:
            stats = Stats()
            accounts = [Account(i, f"load{i}@example.com") for i in range(clients)]

            def load(index: int) -> None:
                client = Client(server.port, stats)
                if sign_up(client, accounts[index]):
                    run_mix(client, accounts[index], random.Random(index))

            run_threads(clients, load, deadline=120, report=report)
            load_figures = stats.figures()
            recycled, unplanned = server.recycled(), server.unplanned_restarts()

            checks = Stats()
            run_threads(
                clients,
                lambda i: verify(Client(server.port, checks), accounts[i]),
                deadline=60,
                report=report,
            )
            check_log(report, server)

        signups = stats.count("signup", 201)
        creates = stats.count("create_alias", 201)
        deletes = stats.count("delete_alias", 204)
        tokens = stats.count("token", 200)
        users_in_db = db_scalar(url, "SELECT count(*) FROM users")
        aliases_in_db = db_scalar(url, "SELECT count(*) FROM aliases")
        tokens_in_db = db_scalar(url, "SELECT count(*) FROM tokens")

    report.figures.update(load_figures)
    report.figures.update(
        server=server.kind,
        recycled=recycled,
        signups=signups,
        alias_creates=creates,
        alias_deletes=deletes,
        tokens=tokens,
        verified=len(checks.select()),
        verify_failures=sum(1 for r in checks.select() if r.unexpected),
        database=database_kind,
    )
    stats.check_basics(report)
    checks.check_basics(report)
    report.expect(signups == clients, f"{signups} of {clients} sign-ups succeeded")
    report.expect(users_in_db == signups, f"users in db {users_in_db} != sign-ups {signups}")
    report.expect(
        aliases_in_db == creates - deletes,
        f"aliases in db {aliases_in_db} != created {creates} - deleted {deletes}",
    )
    report.expect(tokens_in_db == tokens, f"tokens in db {tokens_in_db} != issued {tokens}")
    report.expect(recycled > 0, "no worker was recycled during the run")
    report.expect(unplanned == 0, f"{unplanned} workers died and were replaced")
    return report.finish()


if __name__ == "__main__":
    main(run, "load")
