"""Drill 2, rate-limit exactness: a limit of N on one key admits exactly N across workers.

Sign-in (POST /v1/auth/token) is limited by RATELIMIT_AUTH per client address,
and every drill client is 127.0.0.1: one key. It is set to N per day, so no slot
refills during the run. Background clients (which took their tokens on the same
key first) run the load drill's mix meanwhile; then many threads hammer the key
with right and wrong passwords through every worker, sharing one Redis.
Invariants: exactly N sign-in attempts admitted in all (200s and 401s), every
other one a 429 problem with Retry-After; the admitted responses' remaining
counts are N-1 ... 0, each exactly once; the tokens table holds one row per 200.
"""

from __future__ import annotations

import random

from drills.common import (
    Client,
    Report,
    Stats,
    app_env,
    busy_workers,
    check_log,
    database,
    db_scalar,
    init_db,
    main,
    problem_defect,
    redis_server,
    run_threads,
    server_class,
    workdir,
)
from drills.load import MIX, PASSWORD, Account, run_mix, sign_up

LIMIT = 60
BACKGROUND = 8
HAMMERS = 16
ATTEMPTS = 12
#: The load mix without its sign-ins, which would share the hammered key.
BACKGROUND_MIX = tuple(step for step in MIX if step not in ("token", "wrong_password"))
SIGN_IN_LABELS = ("token", "hammer", "hammer_wrong")


def run(database_kind: str = "postgresql", limit: int = LIMIT) -> Report:
    """Run the rate-limit drill and return its report."""
    report = Report("ratelimit")
    with workdir() as scratch, database(database_kind, scratch) as (url, _pg), redis_server() as rd:
        env = app_env(url, rd.url, RATELIMIT_AUTH=f"{limit}/day")
        init_db(env)
        with server_class()(env, scratch) as server:
            stats = Stats()
            target = Account(-1, "hammered@example.com")
            setup = Client(server.port, stats)
            signup = {"email": target.email, "name": "Hammered", "password": PASSWORD}
            setup.request("POST", "/v1/users", json_body=signup, label="signup", expect={201})
            accounts = [Account(i, f"background{i}@example.com") for i in range(BACKGROUND)]
            for account in accounts:
                sign_up(setup, account)
            cpu_before = server.worker_cpu()

            def client(index: int) -> None:
                if index < BACKGROUND:
                    run_mix(
                        Client(server.port, stats),
                        accounts[index],
                        random.Random(index),
                        iterations=40,
                        mix=BACKGROUND_MIX,
                    )
                    return
                hammer = Client(server.port, stats)
                for attempt in range(ATTEMPTS):
                    wrong = (index + attempt) % 4 == 0
                    password = "wrong password" if wrong else PASSWORD
                    hammer.request(
                        "POST",
                        "/v1/auth/token",
                        json_body={"email": target.email, "password": password},
                        label="hammer_wrong" if wrong else "hammer",
                        expect={401 if wrong else 200, 429},
                    )

            run_threads(BACKGROUND + HAMMERS, client, deadline=90, report=report)
            busy = busy_workers(cpu_before, server.worker_cpu())
            check_log(report, server)
        sign_ins = stats.select(*SIGN_IN_LABELS)
        admitted = [r for r in sign_ins if r.status in (200, 401)]
        denied = [r for r in sign_ins if r.status == 429]
        issued = sum(1 for r in sign_ins if r.status == 200 and r.label == "hammer")
        tokens_in_db = db_scalar(
            url,
            "SELECT count(*) FROM tokens JOIN users ON users.id = tokens.user_id "
            "WHERE users.email = :email",
            email=target.email,
        )

    report.figures.update(stats.figures())
    report.figures.update(
        limit=limit,
        sign_in_attempts=len(sign_ins),
        admitted=len(admitted),
        denied_429=len(denied),
        server=server.kind,
        busy_workers=busy,
        database=database_kind,
    )
    stats.check_basics(report)
    report.expect(len(admitted) == limit, f"admitted {len(admitted)} sign-ins, limit {limit}")
    report.expect(
        len(admitted) + len(denied) == len(sign_ins), "a sign-in got neither admitted nor 429"
    )
    remaining = sorted(int(r.headers.get("x-ratelimit-remaining", -1)) for r in admitted)
    report.expect(
        remaining == list(range(limit)),
        f"admitted responses' X-RateLimit-Remaining are not {limit - 1}..0 once each",
    )
    defects = [d for d in (problem_defect(r) for r in denied) if d]
    report.expect(not defects, f"{len(defects)} 429s are not proper problems: {defects[:3]}")
    missing = [r for r in denied if "ratelimit" not in r.headers]
    report.expect(not missing, f"{len(missing)} 429s lack the RateLimit header")
    report.expect(tokens_in_db == issued, f"{tokens_in_db} tokens stored, {issued} issued")
    return report.finish()


if __name__ == "__main__":
    main(run, "ratelimit")
