"""Drill 5, PostgreSQL stopped mid-load, then started again.

Steady traffic (reads, alias writes at known addresses, sign-ups with known
emails) runs while probes poll /health and /health/ready. PostgreSQL is stopped
(`pg_ctl stop -m fast`, which keeps every commit), left down, then started on
the same port; the app server is never touched. Invariants: no connection error, no
5xx but 503 problems with Retry-After; /health answers 200 throughout;
/health/ready says the database is down while it is, and ready afterwards;
every request after recovery succeeds; and nothing is half-written: every
acknowledged (201) sign-up and alias exists, none that got a 503 does, and
every alias and token has its owner.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from drills.common import (
    Background,
    Client,
    Report,
    Result,
    Stats,
    app_env,
    check_log,
    db_column,
    db_scalar,
    init_db,
    main,
    ms,
    outage,
    postgres_server,
    problem_defect,
    redis_server,
    said_down,
    server_class,
    wait_for_markers,
    workdir,
)
from drills.load import PASSWORD, Account, sign_up
from drills.slow_app import APP as SLOW_APP

CLIENTS = 8
BEFORE, DOWN, AFTER = 2.0, 3.0, 5.0
PACE = 0.1
MARGIN = 0.1
#: Reads held open (drills/slow_app.py) across the moment PostgreSQL stops.
SLOW_READS = 2
SLOW_SECONDS = 1.0
#: After PostgreSQL answers again, the app must be fully back within this long.
RECOVERY_LIMIT = 3.0


def step_for(port: int, stats: Stats, accounts: list[Account]) -> Callable[[int, int], None]:
    """The Background step: steady traffic on CLIENTS threads, then the two probes."""
    clients = [Client(port, stats) for _ in range(CLIENTS + 2)]
    maybe = {503}

    def step(index: int, iteration: int) -> None:
        client = clients[index]
        if index == CLIENTS:
            client.request("GET", "/health", label="live", expect={200})
            time.sleep(PACE)
            return
        if index == CLIENTS + 1:
            client.request("GET", "/health/ready", label="ready", expect={200, 503})
            time.sleep(PACE)
            return
        account = accounts[index]
        kind = iteration % 4
        if kind == 0:
            client.request(
                "GET", "/v1/users/me", token=account.token, label="me", expect={200, *maybe}
            )
        elif kind == 1:
            body = {"address": f"pg{index}-{iteration}@alias.example", "target": "me@example.com"}
            client.request(
                "POST",
                "/v1/aliases",
                json_body=body,
                token=account.token,
                label="create_alias",
                expect={201, *maybe},
            )
        elif kind == 2:
            client.request(
                "GET", "/v1/aliases?limit=5", token=account.token, label="list", expect={200, 503}
            )
        else:
            body = {
                "email": f"pg{index}-{iteration}@example.com",
                "name": "Steady",
                "password": PASSWORD,
            }
            client.request("POST", "/v1/users", json_body=body, label="signup", expect={201, 503})

    return step


def run() -> Report:
    """Run the PostgreSQL outage drill and return its report."""
    report = Report("postgres_down")
    with workdir() as scratch, postgres_server() as pg, redis_server() as rd:
        markers = scratch / "markers"
        markers.mkdir()
        env = app_env(pg.url, rd.url, DRILL_SLOW_SECONDS=SLOW_SECONDS, DRILL_MARKER_DIR=markers)
        init_db(env)
        with server_class()(env, scratch, app=SLOW_APP) as server:
            stats = Stats()
            slow_clients = [Client(server.port, stats) for _ in range(SLOW_READS)]
            setup = Client(server.port, Stats())
            accounts = [Account(i, f"pgsteady{i}@example.com") for i in range(CLIENTS)]
            for account in accounts:
                sign_up(setup, account)
            marks: dict[str, float] = {}
            slow_reads = Background(
                SLOW_READS,
                lambda i, _n: slow_clients[i].request(
                    "GET", "/drill/slow-read", label="slow_read", expect={200, 503}
                ),
                report,
                max_iterations=1,
            )

            def stop_postgres() -> None:
                # With reads whose transactions are open when the database goes away.
                slow_reads.__enter__()
                report.expect(
                    wait_for_markers(markers, SLOW_READS, deadline=10),
                    "the slow reads never got under way",
                )
                marks["stopping"] = time.monotonic()
                pg.stop("fast")

            with Background(CLIENTS + 2, step_for(server.port, stats, accounts), report) as load:
                outage(marks, stop_postgres, pg.start, before=BEFORE, lasting=DOWN, after=AFTER)
                load.stop()
                slow_reads.stop()
            same_master = server.proc is not None and server.proc.poll() is None
            recycled, unplanned = server.recycled(), server.unplanned_restarts()
            check_log(report, server)
        emails = set(db_column(pg.url, "SELECT email FROM users"))
        addresses = set(db_column(pg.url, "SELECT address FROM aliases"))
        orphan_aliases = db_scalar(
            pg.url,
            "SELECT count(*) FROM aliases LEFT JOIN users ON users.id = aliases.owner_id "
            "WHERE users.id IS NULL",
        )
        orphan_tokens = db_scalar(
            pg.url,
            "SELECT count(*) FROM tokens LEFT JOIN users ON users.id = tokens.user_id "
            "WHERE users.id IS NULL",
        )

    judge(report, stats, marks)
    signups = stats.select("signup")
    creates = stats.select("create_alias")
    lost = [r for r in signups if r.status == 201 and r.data()["email"] not in emails]
    lost += [r for r in creates if r.status == 201 and r.data()["address"] not in addresses]
    report.expect(not lost, f"{len(lost)} acknowledged writes are missing: {lost[:2]}")
    ghosts = [r for r in signups if r.status != 201 and _email(r) in emails]
    ghosts += [r for r in creates if r.status != 201 and _address(r) in addresses]
    report.expect(not ghosts, f"{len(ghosts)} refused writes were stored anyway: {ghosts[:2]}")
    report.expect(orphan_aliases == 0, f"{orphan_aliases} aliases without an owner")
    report.expect(orphan_tokens == 0, f"{orphan_tokens} tokens without a user")
    report.expect(same_master, f"{server.name}'s master did not survive the drill")
    report.expect(unplanned == 0, f"{unplanned} workers died and were replaced")
    report.figures.update(
        server=server.kind,
        recycled=recycled,
        unplanned_restarts=unplanned,
        signups_201=sum(1 for r in signups if r.status == 201),
        signups_503=sum(1 for r in signups if r.status == 503),
        aliases_201=sum(1 for r in creates if r.status == 201),
        aliases_503=sum(1 for r in creates if r.status == 503),
        pg_stop=ms(marks["cut"] - marks["stopping"]),
        pg_start=ms(marks["restored"] - marks["restoring"]),
    )
    return report.finish()


def _email(result: Result) -> str:
    return str((result.request_json or {}).get("email", ""))


def _address(result: Result) -> str:
    return str((result.request_json or {}).get("address", ""))


def judge(report: Report, stats: Stats, marks: dict[str, float]) -> None:
    """Check 503s, liveness, readiness and recovery against the outage's timeline."""
    down_from, down_until, up = marks["cut"], marks["restoring"], marks["restored"]
    report.figures.update(stats.figures())
    stats.check_basics(report, allow_503=True)
    live = stats.select("live")
    report.expect(all(r.status == 200 for r in live), "/health was not 200 throughout")
    ready = stats.select("ready")
    ready_down = said_down(ready, (down_from + MARGIN, down_until), "database")
    report.expect(bool(ready_down), "/health/ready never said the database is down")
    traffic = stats.select("me", "create_alias", "list", "signup")
    while_down = [r for r in traffic if down_from + MARGIN < r.started and r.ended < down_until]
    report.expect(
        bool(while_down) and all(r.status == 503 for r in while_down),
        f"not every request while the database was down was a 503 ({len(while_down)} sent)",
    )
    # Recovery is counted from `pg_ctl start`: the last 503 must come soon after it.
    last_503 = max((r.ended for r in traffic if r.status == 503), default=down_until)
    recovered = max(down_until, last_503)
    report.expect(
        recovered - up <= RECOVERY_LIMIT,
        f"503s went on {recovered - up:.1f}s after PostgreSQL was back",
    )
    after = [r for r in traffic + ready if r.started > up + RECOVERY_LIMIT]
    report.expect(
        bool(after) and all(r.status in (200, 201) for r in after),
        "requests after recovery did not all succeed",
    )
    retry_after = sorted({r.headers.get("retry-after", "") for r in traffic if r.status == 503})
    report.figures.update(
        requests_503=sum(1 for r in traffic if r.status == 503),
        retry_after="/".join(retry_after) or "none",
        ready_said_down=len(ready_down),
        last_503_after_start=ms(recovered - down_until),
    )
    defects = [d for d in (problem_defect(r) for r in traffic if r.status == 503) if d]
    report.expect(not defects, f"503s that are not proper problems: {defects[:3]}")


if __name__ == "__main__":
    main(run, "postgres_down")
