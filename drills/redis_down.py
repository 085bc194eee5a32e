"""Drill 3, Redis killed mid-load and restarted on the same port.

Steady traffic (reads, alias writes, sign-ups) runs from several clients while a
sign-in client tries POST /v1/auth/token every 100 ms and a probe polls
/health/ready. Redis is killed (SIGKILL), left down, then started again on its
port; the app server is never touched. Invariants: ordinary routes answer 2xx
throughout (fail open); sign-in answers 503 problems with Retry-After while
Redis is down (fail closed); no request takes 1 s or more; readiness reports
Redis down, then ready; after the restart every ordinary response carries the
rate-limit headers again and the sign-in limit denies with 429 again, with the
same master and workers.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from drills.common import (
    Background,
    Client,
    Report,
    Server,
    Stats,
    app_env,
    check_failure_policy,
    check_log,
    database,
    init_db,
    main,
    ms,
    outage,
    problem_defect,
    redis_server,
    said_down,
    server_class,
    workdir,
)
from drills.load import PASSWORD, Account, ordinary_step, sign_up
from tests.servers import RedisServer

CLIENTS = 8
AUTH_LIMIT = 60
BEFORE, DOWN, AFTER = 2.0, 3.0, 3.0
#: RATELIMIT_STORE_RETRY_INTERVAL: how long a worker skips a store that failed.
RETRY_INTERVAL = 1.0
#: Requests are in flight across the kill and the restart; judge them after a margin.
MARGIN = 0.1
LATENCY_CEILING = 1.0
#: Seconds between sign-ins (and between readiness probes): well under the limit's pace.
PACE = 0.1


def run(database_kind: str = "postgresql") -> Report:
    """Run the Redis outage drill and return its report."""
    report = Report("redis_down")
    with servers(database_kind, RATELIMIT_AUTH=f"{AUTH_LIMIT}/minute") as (rd, server):
        stats = Stats()
        step, credentials = steady_traffic(server.port, stats)
        marks: dict[str, float] = {}
        with Background(CLIENTS + 2, step, report):
            # rd.start(): the same port; it returns once Redis answers PING.
            outage(marks, rd.stop, rd.start, before=BEFORE, lasting=DOWN, after=AFTER)

        # The sign-in limit must bite again: Redis restarted empty, so at most
        # AUTH_LIMIT more attempts are admitted before a 429.
        exhaust = Stats()
        denial = None
        for _ in range(AUTH_LIMIT + 10):
            attempt = Client(server.port, exhaust).request(
                "POST", "/v1/auth/token", json_body=credentials, label="exhaust"
            )
            if attempt.status == 429:
                denial = attempt
                break
        same_master = server.proc is not None and server.proc.poll() is None
        recycled, unplanned = server.recycled(), server.unplanned_restarts()
        kind = server.kind
        check_log(report, server)

    judge(report, stats, marks)
    report.expect(denial is not None, f"no 429 within {AUTH_LIMIT + 10} sign-ins after recovery")
    if denial is not None:
        defect = problem_defect(denial)
        report.expect(defect is None, f"the 429 after recovery is not a proper problem: {defect}")
        report.expect("ratelimit" in denial.headers, "the 429 after recovery lacks RateLimit")
    report.expect(same_master, f"{server.name}'s master did not survive the drill")
    report.expect(unplanned == 0, f"{unplanned} workers died and were replaced")
    report.figures.update(server=kind, recycled=recycled, unplanned_restarts=unplanned)
    report.figures["exhaust_to_429"] = len(exhaust.select())
    report.figures["database"] = database_kind
    return report.finish()


@contextlib.contextmanager
def servers(database_kind: str, **settings: object) -> Iterator[tuple[RedisServer, Server]]:
    """What the Redis drills run against: a database of this kind, a Redis, and the app
    server on both, with `settings` and the drills' RETRY_INTERVAL; stopped afterwards."""
    with workdir() as scratch, database(database_kind, scratch) as (url, _pg), redis_server() as rd:
        env = app_env(url, rd.url, RATELIMIT_STORE_RETRY_INTERVAL=RETRY_INTERVAL, **settings)
        init_db(env)
        with server_class()(env, scratch) as server:
            yield rd, server


def steady_traffic(port: int, stats: Stats) -> tuple[Callable[[int, int], None], dict[str, str]]:
    """Sign up CLIENTS accounts; return the Background step for CLIENTS + 2 threads
    (steady traffic, a paced sign-in client, a paced readiness probe) and the
    sign-in credentials."""
    setup = Client(port, Stats())
    accounts = [Account(i, f"steady{i}@example.com") for i in range(CLIENTS)]
    for account in accounts:
        sign_up(setup, account)
    # Its own account: every sign-in makes a token, and a user keeps only the newest
    # TOKENS_PER_USER, so signing in as a steady client would end that client's token.
    signer = Account(CLIENTS, "steady-sign-in@example.com")
    sign_up(setup, signer)
    credentials = {"email": signer.email, "password": PASSWORD}
    clients = [Client(port, stats) for _ in range(CLIENTS + 2)]

    def step(index: int, iteration: int) -> None:
        client = clients[index]
        if index < CLIENTS:
            ordinary_step(client, accounts[index], iteration)
        elif index == CLIENTS:
            client.request("POST", "/v1/auth/token", json_body=credentials, label="sign_in")
            time.sleep(PACE)
        else:
            client.request("GET", "/health/ready", label="ready")
            time.sleep(PACE)

    return step, credentials


def judge(report: Report, stats: Stats, marks: dict[str, float]) -> None:
    """Check the phases: fail open, fail closed, bounded latency, recovery."""
    # "While down" ends as the restart begins: Redis may answer before start() returns.
    down, restarting, up = marks["cut"], marks["restoring"], marks["restored"]
    recovered = up + RETRY_INTERVAL + MARGIN
    ordinary = stats.select("me", "create_alias", "divide", "list", "signup")
    sign_ins = stats.select("sign_in")
    ready = stats.select("ready")
    report.figures.update(stats.figures())
    stats.check_basics(report, allow_503=True)

    failed_open, closed = check_failure_policy(
        report, ordinary, sign_ins, (down + MARGIN, restarting), "down"
    )
    slow = [r for r in stats.select() if r.latency >= LATENCY_CEILING]
    report.expect(not slow, f"{len(slow)} requests took {LATENCY_CEILING}s or more")

    after = [r for r in ordinary if r.started > recovered]
    headless = [r for r in after if "ratelimit" not in r.headers]
    report.expect(
        bool(after) and not headless,
        f"{len(headless)} of {len(after)} ordinary responses after recovery lack RateLimit",
    )
    bad_sign_ins = [r for r in sign_ins if r.started > recovered and r.status not in (200, 429)]
    report.expect(not bad_sign_ins, f"{len(bad_sign_ins)} sign-ins after recovery not 200/429")
    ready_down = said_down(ready, (down + MARGIN, restarting), "redis")
    ready_after = [r for r in ready if r.started > recovered]
    report.expect(bool(ready_down), "/health/ready never said redis is down during the outage")
    report.expect(
        bool(ready_after) and all(r.status == 200 for r in ready_after),
        "/health/ready was not 200 after recovery",
    )
    first_ok = min((r.ended for r in sign_ins if r.started > up and r.status == 200), default=None)
    report.figures.update(
        ordinary_2xx_while_down=len(failed_open),
        ordinary_without_headers_while_down=sum(
            1 for r in failed_open if "ratelimit" not in r.headers
        ),
        sign_in_503_while_down=len(closed),
        recovery=ms(first_ok - up) if first_ok else "never",
    )


if __name__ == "__main__":
    main(run, "redis_down")
