"""Drill 6, SIGTERM while slow requests are in flight: they finish, and so does the server.

The server (gunicorn, or granian with DRILL_SERVER=granian) serves
drills/slow_app.py, whose POST /drill/slow waits, then signs a user up. Every
worker but one gets a slow sign-up, then, once those are under way, the last one
a straggler that would outlast the graceful timeout; once all are under way, the
master gets SIGTERM. Invariants: every slow sign-up answers 201 and its user is
in the database; the server exits within graceful_timeout (the straggler's
worker is killed at that deadline, and its write, which had not happened, is
absent); no other error in the log.
"""

from __future__ import annotations

import signal
import threading
import time

from drills.common import (
    Client,
    Report,
    Stats,
    app_env,
    check_log,
    db_column,
    init_db,
    main,
    postgres_server,
    redis_server,
    run_threads,
    server_class,
    wait_for_markers,
    workdir,
)
from drills.slow_app import APP as SLOW_APP

SLOW_SECONDS = 2.0
#: Short for the drill; production's is in gunicorn.conf.py or serve.py, read the same way.
GRACEFUL_TIMEOUT = 6
#: How late after graceful_timeout the master may exit (its own loop ticks once a second).
SLACK = 1.5


def run() -> Report:
    """Run the graceful shutdown drill and return its report."""
    report = Report("graceful")
    with workdir() as scratch, postgres_server() as pg, redis_server() as rd:
        markers = scratch / "markers"
        markers.mkdir()
        env = app_env(
            pg.url,
            rd.url,
            DRILL_SLOW_SECONDS=SLOW_SECONDS,
            DRILL_MARKER_DIR=markers,
        )
        init_db(env)
        server = server_class()(env, scratch, app=SLOW_APP, graceful_timeout=GRACEFUL_TIMEOUT)
        graceful_timeout = server.graceful_timeout
        server.start()
        try:
            slow = server.workers - 1
            stats, straggler_stats = Stats(), Stats()
            emails = [f"slow{i}@example.com" for i in range(slow)]
            straggler_email = "straggler@example.com"
            stop = {}

            def request(index: int) -> None:
                if index < slow:
                    Client(server.port, stats, timeout=30).request(
                        "POST",
                        "/drill/slow",
                        json_body={"email": emails[index]},
                        label="slow",
                        expect={201},
                    )
                else:
                    # Sent once every slow request is under way, so that none of them
                    # can be queued behind it: granian lets a busy worker accept a
                    # connection while another worker is idle.
                    if not wait_for_markers(markers, slow, deadline=20):
                        return
                    Client(server.port, straggler_stats, timeout=30).request(
                        "POST",
                        "/drill/slow",
                        json_body={"email": straggler_email, "seconds": GRACEFUL_TIMEOUT * 2},
                        label="straggler",
                    )

            def terminate() -> None:
                if wait_for_markers(markers, slow + 1, deadline=20):
                    stop["term"] = time.monotonic()
                    assert server.proc is not None
                    server.proc.send_signal(signal.SIGTERM)
                    server.proc.wait(GRACEFUL_TIMEOUT + 20)
                    stop["exit"] = time.monotonic()

            terminator = threading.Thread(target=terminate, daemon=True)
            terminator.start()
            run_threads(slow + 1, request, deadline=GRACEFUL_TIMEOUT + 30, report=report)
            terminator.join(GRACEFUL_TIMEOUT + 30)
            exit_code = server.proc.returncode if server.proc else None
            # The straggler's worker is killed at the deadline, by design.
            allowed = ("was sent SIGKILL", "Error handling request", "Killing worker-")
            check_log(report, server, allowed=allowed)
            graceful_exits = server.graceful_exits()
        finally:
            server.stop()
        stored = set(db_column(pg.url, "SELECT email FROM users"))

    report.figures.update(stats.figures())
    stats.check_basics(report)
    report.expect("term" in stop, "the slow requests never got under way")
    exit_after = stop.get("exit", float("inf")) - stop.get("term", 0.0)
    report.expect(
        exit_after <= graceful_timeout + SLACK,
        f"the server exited {exit_after:.1f}s after SIGTERM; graceful_timeout is "
        f"{graceful_timeout}s",
    )
    done = [r for r in stats.select("slow") if r.status == 201]
    report.expect(len(done) == slow, f"{len(done)} of {slow} slow requests completed")
    late = [r for r in done if r.ended > stop.get("exit", float("inf"))]
    report.expect(not late, f"{len(late)} slow requests answered after the server exited")
    missing = [email for email in emails if email not in stored]
    report.expect(not missing, f"acknowledged slow sign-ups missing from the database: {missing}")
    straggler = straggler_stats.select()
    report.expect(
        bool(straggler) and straggler[0].status is None,
        f"the straggler was not cut off: {[r.describe() for r in straggler]}",
    )
    report.expect(straggler_email not in stored, "the straggler's write was stored")
    # The straggler's worker is killed at the deadline; the others exit by themselves.
    report.expect(
        graceful_exits >= server.workers - 1,
        f"{graceful_exits} workers exited gracefully, expected {server.workers - 1}",
    )
    report.figures.update(
        in_flight=slow + 1,
        graceful_exits=graceful_exits,
        completed_201=len(done),
        committed=sum(1 for email in emails if email in stored),
        straggler=(straggler[0].error or straggler[0].status) if straggler else "none",
        exit_after_sigterm=f"{exit_after:.2f}s",
        graceful_timeout=f"{graceful_timeout}s",
        server=server.kind,
        exit_code=exit_code,
    )
    return report.finish()


if __name__ == "__main__":
    main(run, "graceful")
