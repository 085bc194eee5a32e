"""Drill 8, a request that hangs: its worker is ended and replaced, and the rest carry on.

The server serves drills/slow_app.py with a request timeout of a few seconds:
gunicorn's `timeout`, which with threaded workers (gunicorn.conf.py's default)
and under granian is the app's REQUEST_TIMEOUT (the watchdog in
myapp/core/watchdog.py). While other clients keep up steady traffic, one
signs up through POST /drill/slow with a wait ten times that long. Invariants:
the hung request gets no answer but a dropped connection, within the timeout
and a little slack; its user is never written; exactly one worker is replaced,
and the master lives on; the log says why and shows nothing else wrong; the
other clients get no 5xx, and every request they start once the replacement is
up succeeds. Requests that shared the ended worker (under granian and gunicorn's
threads, the connections it held) fail with it: counted, and none under gunicorn's
sync workers, which hold one connection each.
"""

from __future__ import annotations

import threading
import time

from drills.common import (
    Background,
    Client,
    Report,
    Server,
    Stats,
    app_env,
    check_log,
    db_column,
    examples,
    init_db,
    main,
    postgres_server,
    redis_server,
    server_class,
    sleep_until,
    wait_for_markers,
    workdir,
)
from drills.redis_down import CLIENTS, steady_traffic
from drills.slow_app import APP as SLOW_APP

#: The drill's request timeout, seconds; production's is 30.
TIMEOUT = 3
HUNG_SECONDS = TIMEOUT * 10
#: How late the hung request may end: gunicorn's master looks once a second, the
#: watchdog every tenth of the timeout, then the process must die.
SLACK = 2.0
BEFORE, AFTER = 1.0, 2.0
HUNG_EMAIL = "hung@example.com"


def run() -> Report:
    """Run the hung-request drill and return its report."""
    report = Report("hung")
    with workdir() as scratch, postgres_server() as pg, redis_server() as rd:
        markers = scratch / "markers"
        markers.mkdir()
        env = app_env(pg.url, rd.url, DRILL_SLOW_SECONDS=0, DRILL_MARKER_DIR=markers)
        init_db(env)
        server = server_class()(env, scratch, app=SLOW_APP, request_timeout=TIMEOUT)
        with server:
            stats, hung_stats = Stats(), Stats()
            step, _credentials = steady_traffic(server.port, stats)
            marks: dict[str, float] = {}

            def hang() -> None:
                Client(server.port, hung_stats, timeout=HUNG_SECONDS + 10).request(
                    "POST",
                    "/drill/slow",
                    json_body={"email": HUNG_EMAIL, "seconds": HUNG_SECONDS},
                    label="hung",
                )

            with Background(CLIENTS + 2, step, report) as load:
                sleep_until(time.monotonic() + BEFORE)
                hung = threading.Thread(target=hang, name="drill-hung", daemon=True)
                hung.start()
                report.expect(wait_for_markers(markers, 1, deadline=10), "it never got under way")
                marks["hung"] = time.monotonic()
                hung.join(HUNG_SECONDS + 15)
                marks["ended"] = time.monotonic()
                replaced = wait_for_replacement(server, deadline=15)
                marks["replaced"] = time.monotonic()
                sleep_until(marks["replaced"] + AFTER)
                load.stop()
            master_alive = server.proc is not None and server.proc.poll() is None
            unplanned = server.unplanned_restarts()
            why = server.log_lines(*server.TIMEOUT_LINES[:1])
            check_log(report, server, allowed=server.TIMEOUT_LINES)
        stored = set(db_column(pg.url, "SELECT email FROM users"))

    results = hung_stats.select()
    outcome = results[0] if results else None
    report.expect(
        outcome is not None and outcome.status is None,
        f"the hung request was not cut off: {[r.describe() for r in results]}",
    )
    took = outcome.latency if outcome else float("inf")
    report.expect(
        TIMEOUT <= took <= TIMEOUT + SLACK,
        f"the hung request ended after {took:.1f}s; the timeout is {TIMEOUT}s",
    )
    report.expect(HUNG_EMAIL not in stored, "the hung request's write was stored")
    report.expect(replaced, "no replacement worker came up")
    report.expect(unplanned == 1, f"{unplanned} workers were replaced, expected 1")
    report.expect(master_alive, f"{server.name}'s master did not survive the drill")
    report.expect(len(why) == 1, f"the log says {len(why)} times why a worker ended: {why[:2]}")

    others = stats.select()
    bad = [r for r in others if r.status is not None and r.status >= 500]
    report.expect(not bad, f"{len(bad)} 5xx answers to other clients, e.g. {examples(bad)}")
    late = [r for r in others if r.started > marks["replaced"] and r.status is None]
    report.expect(
        not late,
        f"{len(late)} requests failed after the replacement, e.g. {examples(late)}",
    )
    # Cut off with the worker: failed, or sent again after their connection closed.
    collateral = [r for r in others if r.status is None or r.retried]
    if not server.queues_per_worker:
        report.expect(not collateral, f"{len(collateral)} other requests failed with the worker")
    report.figures.update(stats.figures())
    report.figures.update(
        server=server.kind,
        timeout=f"{TIMEOUT}s",
        hung_ended_after=f"{took:.2f}s",
        replaced_after=f"{marks['replaced'] - marks['hung']:.2f}s",
        unplanned_restarts=unplanned,
        collateral_errors=len(collateral),
    )
    return report.finish()


def wait_for_replacement(server: Server, *, deadline: float) -> bool:
    """Wait until a worker has been replaced and the full count is back."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if server.unplanned_restarts() >= 1 and len(server.worker_pids()) >= server.workers:
            return True
        time.sleep(0.05)
    return False


if __name__ == "__main__":
    main(run, "hung")
