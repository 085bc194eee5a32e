"""Drill 7, concurrent writes to one SQLite file from every worker.

Many clients sign up, take tokens, create aliases at known addresses and patch
them, all at once, through several server workers sharing one SQLite file
(WAL, BEGIN IMMEDIATE, busy timeout). It runs twice: with the default busy
timeout, then again on the same file with a busy timeout of a few milliseconds,
so that writers do run out of patience. Invariants, both times: never a 500 or
a connection error ("database is locked" must be waited out, or be a 503
problem with Retry-After); every acknowledged write is in the file with the
acknowledged content; no write that got a 503 is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from drills.common import (
    Client,
    Report,
    Stats,
    app_env,
    check_log,
    database,
    db_column,
    init_db,
    main,
    problem_defect,
    run_threads,
    server_class,
    workdir,
)
from drills.load import PASSWORD

CLIENTS = 16
ITERATIONS = 30
#: The second round's busy timeout: short enough that some writers give up.
TIGHT_BUSY_TIMEOUT = 0.001


@dataclass
class Writer:
    """One client's acknowledged and refused writes."""

    email: str
    token: str = ""
    users: dict[str, bool] = field(default_factory=dict)  # email -> acknowledged
    aliases: dict[str, bool] = field(default_factory=dict)  # address -> acknowledged
    #: alias id -> (address, description last acknowledged)
    described: dict[int, tuple[str, str]] = field(default_factory=dict)


def write(client: Client, writer: Writer, index: int, round_name: str) -> None:
    """Sign up, sign in, then ITERATIONS writes: aliases, patches, more sign-ups."""
    maybe = {503}
    account = {"email": writer.email, "name": "Writer", "password": PASSWORD}
    created = client.request(
        "POST", "/v1/users", json_body=account, label="signup", expect={201, *maybe}
    )
    writer.users[writer.email] = created.status == 201
    if created.status != 201:
        return
    for _attempt in range(20):  # a 503 says "retry": do, a bounded number of times
        token = client.request(
            "POST",
            "/v1/auth/token",
            json_body={"email": writer.email, "password": PASSWORD},
            label="token",
            expect={200, *maybe},
        )
        if token.status == 200:
            writer.token = token.data()["access_token"]
            break
    if not writer.token:
        return
    for step in range(ITERATIONS):
        kind = step % 3
        if kind == 0 or not writer.described:
            address = f"{round_name}-w{index}-s{step}@alias.example"
            result = client.request(
                "POST",
                "/v1/aliases",
                json_body={"address": address, "target": "me@example.com", "description": "new"},
                token=writer.token,
                label="create_alias",
                expect={201, *maybe},
            )
            writer.aliases[address] = result.status == 201
            if result.status == 201:
                writer.described[result.data()["id"]] = (address, "new")
        elif kind == 1:
            alias_id = next(reversed(writer.described))
            description = f"patched at {step}"
            result = client.request(
                "PATCH",
                f"/v1/aliases/{alias_id}",
                json_body={"description": description},
                token=writer.token,
                label="patch_alias",
                expect={200, *maybe},
            )
            if result.status == 200:
                writer.described[alias_id] = (writer.described[alias_id][0], description)
        else:
            email = f"{round_name}-w{index}-s{step}@example.com"
            account = {"email": email, "name": "Extra", "password": PASSWORD}
            result = client.request(
                "POST", "/v1/users", json_body=account, label="signup", expect={201, *maybe}
            )
            writer.users[email] = result.status == 201


def run_round(
    report: Report, env: dict[str, str], round_name: str, scratch: Path
) -> tuple[Stats, list[Writer]]:
    """One round of concurrent writers against a fresh server on the same file."""
    stats = Stats()
    writers = [Writer(f"{round_name}-w{i}@example.com") for i in range(CLIENTS)]
    with server_class()(env, scratch) as server:
        # A new connection for every request, so the writers spread over every worker:
        # granian keeps a connection on the worker that accepted it, and sixteen
        # connections opened at once can land on two or three workers of five.
        run_threads(
            CLIENTS,
            lambda i: write(
                Client(server.port, stats, keep_alive=False), writers[i], i, round_name
            ),
            deadline=120,
            report=report,
        )
        check_log(report, server)
        report.figures["server"] = server.kind
    return stats, writers


def verify(report: Report, url: str, round_name: str, stats: Stats, writers: list[Writer]) -> int:
    """Acknowledged writes are stored as acknowledged; refused ones are not. Return 503s."""
    emails = set(db_column(url, "SELECT email FROM users"))
    addresses = set(db_column(url, "SELECT address FROM aliases"))
    descriptions = dict(
        zip(
            db_column(url, "SELECT id FROM aliases ORDER BY id"),
            db_column(url, "SELECT description FROM aliases ORDER BY id"),
            strict=True,
        )
    )
    users = {email: ok for writer in writers for email, ok in writer.users.items()}
    aliases = {address: ok for writer in writers for address, ok in writer.aliases.items()}
    lost = [e for e, ok in users.items() if ok and e not in emails]
    lost += [a for a, ok in aliases.items() if ok and a not in addresses]
    ghosts = [e for e, ok in users.items() if not ok and e in emails]
    ghosts += [a for a, ok in aliases.items() if not ok and a in addresses]
    stale = [
        (alias_id, text, descriptions.get(alias_id))
        for writer in writers
        for alias_id, (_address, text) in writer.described.items()
        if descriptions.get(alias_id) != text
    ]
    report.expect(not lost, f"{round_name}: {len(lost)} acknowledged writes missing: {lost[:3]}")
    report.expect(not ghosts, f"{round_name}: {len(ghosts)} refused writes stored: {ghosts[:3]}")
    report.expect(not stale, f"{round_name}: {len(stale)} acknowledged patches lost: {stale[:3]}")
    refusals = [r for r in stats.select() if r.status == 503]
    defects = [d for d in (problem_defect(r) for r in refusals) if d]
    report.expect(not defects, f"{round_name}: 503s that are not proper problems: {defects[:3]}")
    stats.check_basics(report, allow_503=True)
    return len(refusals)


def run() -> Report:
    """Run the SQLite concurrent-writes drill and return its report."""
    report = Report("sqlite_writes")
    with workdir() as scratch, database("sqlite", scratch) as (url, _none):
        env = app_env(url)
        init_db(env)
        default_stats, default_writers = run_round(report, env, "default", scratch)
        tight_env = {**env, "MYAPP_DATABASE_BUSY_TIMEOUT": str(TIGHT_BUSY_TIMEOUT)}
        tight_stats, tight_writers = run_round(report, tight_env, "tight", scratch)
        default_503 = verify(report, url, "default", default_stats, default_writers)
        tight_503 = verify(report, url, "tight", tight_stats, tight_writers)
        writes = sum(
            1
            for stats in (default_stats, tight_stats)
            for r in stats.select()
            if r.status in (200, 201) and r.method in ("POST", "PATCH")
        )

    everything = Stats()
    for result in default_stats.select() + tight_stats.select():
        everything.add(result)
    retry_after = {r.headers.get("retry-after", "") for r in everything.select() if r.status == 503}
    kind = report.figures.pop("server")
    report.figures.update(everything.figures())
    report.figures.update(
        server=kind,
        acknowledged_writes=writes,
        default_503=default_503,
        tight_503=tight_503,
        tight_busy_timeout=f"{TIGHT_BUSY_TIMEOUT * 1000:.0f}ms",
        retry_after="/".join(sorted(retry_after)) or "none",
    )
    report.expect(tight_503 > 0, "the tight busy timeout never made a writer give up")
    return report.finish()


if __name__ == "__main__":
    main(run, "sqlite_writes")
