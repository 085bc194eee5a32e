"""Drill 11, keyed retries while workers die: one alias per Idempotency-Key, whatever happens.

CLIENTS clients create aliases, each POST with a key of its own (the key is also
the alias's description), and retry it with the same key on any connection error,
5xx or 409 until it is answered 201. Meanwhile a worker chosen at random is
killed with SIGKILL every KILL_EVERY seconds, at least MIN_KILLS times and until
at least MIN_CUT requests were cut by a kill (MAX_KILLS at most); then the
clients finish the key they are on and stop. A worker is killed only once it has
lived MIN_AGE seconds: granian takes a worker that dies sooner after its respawn
for a crash loop, and exits. A request is cut before its commit (the
retry must run again) or after it (the retry must replay). The drill runs on
SQLite, then on PostgreSQL. Invariants: every key is answered 201 in the end; the
database holds exactly one alias per key; each key's final answer names that
alias; no answer is a 5xx but a 503 problem; the log's only trouble is the kills.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from pathlib import Path

from drills.common import (
    Client,
    Report,
    Result,
    Server,
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

CLIENTS = 4
ATTEMPTS = 60
KILL_EVERY = 0.5
MIN_AGE = 6.0
MIN_KILLS, MIN_CUT, MAX_KILLS = 4, 4, 40
#: What the servers log of a worker killed from outside: expected here.
KILL_LINES = ("was sent SIGKILL", "Unexpected exit from worker-")


def run() -> Report:
    """Run the drill on SQLite and on PostgreSQL; return its report."""
    report = Report("idempotent_retries")
    with workdir() as scratch:
        for kind in ("sqlite", "postgresql"):
            run_round(report, kind, scratch)
    return report.finish()


def run_round(report: Report, kind: str, scratch: Path) -> None:
    """One database: clients retry keyed creations while workers are killed."""
    with database(kind, scratch) as (url, _):
        env = app_env(url, ALIAS_QUOTA=1_000_000)  # the clients create thousands
        init_db(env)
        stats = Stats()
        with server_class()(env, scratch) as server:
            tokens = [
                sign_up(Client(server.port), f"{kind}-{i}@example.com") for i in range(CLIENTS)
            ]
            finals: dict[str, Result | None] = {}
            enough = threading.Event()
            killer = threading.Thread(
                target=kill_workers, args=(server, stats, enough, report, kind)
            )
            killer.start()
            try:
                run_threads(
                    CLIENTS,
                    lambda i: create_until(
                        enough, server.port, stats, tokens[i], f"{kind}-c{i}", finals
                    ),
                    deadline=240,
                    report=report,
                )
            finally:
                enough.set()
                killer.join(30)
            check_log(report, server, allowed=KILL_LINES)
        addresses = db_column(url, "SELECT description FROM aliases ORDER BY id")
        ids = db_column(url, "SELECT id FROM aliases ORDER BY id")
        judge(
            report,
            kind,
            stats,
            finals,
            dict(Counter(addresses)),
            dict(zip(addresses, ids, strict=True)),
        )
        report.figures["server"] = server.kind


def sign_up(client: Client, email: str) -> str:
    """A new user's token (before any worker is killed)."""
    client.request(
        "POST", "/v1/users", json_body={"email": email, "name": "R", "password": PASSWORD}
    )
    answer = client.request(
        "POST", "/v1/auth/token", json_body={"email": email, "password": PASSWORD}
    )
    return str(answer.data()["access_token"])


def create_until(
    enough: threading.Event,
    port: int,
    stats: Stats,
    token: str,
    prefix: str,
    finals: dict[str, Result | None],
) -> None:
    """Create aliases one key after another, each retried until it is a 201, until `enough`."""
    # A new connection per request, so the requests spread over every worker.
    client = Client(port, stats, keep_alive=False, timeout=15)
    n = 0
    while not enough.is_set():
        key = f"{prefix}-k{n}"
        n += 1
        finals[key] = None
        for _attempt in range(ATTEMPTS):
            answer = client.request(
                "POST",
                "/v1/aliases",
                json_body={"target": "me@example.com", "description": key},
                token=token,
                headers={"Idempotency-Key": key},
                label="keyed_create",
                expect={201, 409, 503},
            )
            if answer.status == 201:
                finals[key] = answer
                break
            retry_after = (answer.headers or {}).get("retry-after")
            time.sleep(float(retry_after) if retry_after else 0.05)


def kill_workers(
    server: Server, stats: Stats, enough: threading.Event, report: Report, kind: str
) -> None:
    """SIGKILL a random worker every KILL_EVERY s; set `enough` once enough requests were cut."""
    kills = 0
    born: dict[int, float] = {}  # worker pid -> when the killer first saw it
    while not enough.wait(KILL_EVERY):
        cut = sum(1 for r in stats.select("keyed_create") if r.error)
        if kills >= MAX_KILLS or (kills >= MIN_KILLS and cut >= MIN_CUT):
            break
        now = time.monotonic()
        pids = [pid for pid in server.worker_pids() if now - born.setdefault(pid, now) >= MIN_AGE]
        if pids:
            os.kill(random.choice(pids), signal.SIGKILL)
            kills += 1
    enough.set()
    report.figures[f"{kind}_kills"] = kills


def judge(
    report: Report,
    kind: str,
    stats: Stats,
    finals: dict[str, Result | None],
    stored: dict[str, int],
    ids: dict[str, int],
) -> None:
    """One alias per key, named by the key's final answer; no bad 5xx; some requests cut."""
    results = stats.select("keyed_create")
    unanswered = [key for key, final in finals.items() if final is None]
    report.expect(
        not unanswered, f"{kind}: {len(unanswered)} keys never got a 201, e.g. {unanswered[:3]}"
    )
    twice = {key: n for key, n in stored.items() if n != 1}
    report.expect(not twice, f"{kind}: keys with more than one alias: {list(twice.items())[:5]}")
    missing = [key for key in finals if key not in stored]
    report.expect(not missing, f"{kind}: {len(missing)} keys with no alias, e.g. {missing[:3]}")
    misnamed = [
        key
        for key, final in finals.items()
        if final is not None and final.data()["id"] != ids.get(key)
    ]
    report.expect(not misnamed, f"{kind}: {len(misnamed)} final answers name another alias")
    bad = [
        r
        for r in results
        if r.status and r.status >= 500 and (r.status != 503 or problem_defect(r))
    ]
    report.expect(not bad, f"{kind}: {len(bad)} bad 5xx answers")
    cut = sum(1 for r in results if r.error)
    report.expect(cut > 0, f"{kind}: no request was cut by a kill: the drill tested nothing")
    replayed = sum(
        1
        for final in finals.values()
        if final and final.headers.get("idempotent-replayed") == "true"
    )
    report.figures.update(
        {
            f"{kind}_keys": len(finals),
            f"{kind}_aliases": sum(stored.values()),
            f"{kind}_requests": len(results),
            f"{kind}_cut": cut,
            f"{kind}_409": sum(1 for r in results if r.status == 409),
            f"{kind}_503": sum(1 for r in results if r.status == 503),
            f"{kind}_replayed": replayed,
        }
    )


if __name__ == "__main__":
    main(run, "idempotent_retries")
