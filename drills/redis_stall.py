"""Drill 4, Redis stalled: SIGSTOP mid-load, so connections stay open and nothing answers.

The same steady traffic as the Redis outage drill runs while Redis is frozen
for a few seconds and then thawed. Invariants: no worker timeout or restart, no
connection error, no 5xx but the sign-in route's 503 problems (fail closed);
ordinary routes answer 2xx; every request finishes within the documented bound
(REDIS_CONNECT_TIMEOUT + REDIS_SOCKET_TIMEOUT, 0.2 + 0.2 s, plus the app's own
time, taken as the slowest request of the warmed-up second before the stall; on
a server whose workers queue requests from several connections, as granian's
do, plus the same again for the request ahead in the queue); full service
afterwards.
"""

from __future__ import annotations

from drills.common import (
    Background,
    Report,
    Stats,
    check_failure_policy,
    check_log,
    main,
    ms,
    outage,
    percentile,
)
from drills.redis_down import CLIENTS, MARGIN, RETRY_INTERVAL, servers, steady_traffic

BEFORE, STALL, AFTER = 2.5, 3.0, 2.5
#: The first second warms each worker up (first connections, first queries) and is
#: not part of "the app's own time".
WARMUP = 1.0
#: The documented worst case a hung Redis adds to a request (README, "When Redis is
#: down or slow"): connect timeout + socket timeout.
REDIS_BOUND = 0.2 + 0.2


def run(database_kind: str = "postgresql") -> Report:
    """Run the Redis stall drill and return its report."""
    report = Report("redis_stall")
    timeouts = {"REDIS_CONNECT_TIMEOUT": 0.2, "REDIS_SOCKET_TIMEOUT": 0.2}  # REDIS_BOUND
    with servers(database_kind, **timeouts) as (rd, server):
        stats = Stats()
        step, _credentials = steady_traffic(server.port, stats)
        marks: dict[str, float] = {}
        try:
            with Background(CLIENTS + 2, step, report):
                outage(marks, rd.pause, rd.resume, before=BEFORE, lasting=STALL, after=AFTER)
        finally:
            rd.resume()
        recycled, unplanned = server.recycled(), server.unplanned_restarts()
        kind = server.kind
        queued = server.queues_per_worker
        check_log(report, server)

    judge(report, stats, marks, queued=queued)
    report.expect(unplanned == 0, f"{unplanned} workers were killed and replaced")
    report.figures.update(server=kind, recycled=recycled, unplanned_restarts=unplanned)
    report.figures["database"] = database_kind
    return report.finish()


def judge(report: Report, stats: Stats, marks: dict[str, float], *, queued: bool) -> None:
    """Check the stall: bounded latency, fail open and closed, no 502, recovery.

    `queued`: a worker serves several connections' requests in turn, so a request
    may first wait for the one ahead of it, which may be waiting on Redis itself.
    """
    # "While stalled" ends as SIGCONT is sent, not when resume() returns.
    paused, resuming, resumed = marks["cut"], marks["restoring"], marks["restored"]
    recovered = resumed + RETRY_INTERVAL + MARGIN
    everything = stats.select()
    ordinary = stats.select("me", "create_alias", "divide", "list", "signup")
    sign_ins = stats.select("sign_in")
    report.figures.update(stats.figures())
    stats.check_basics(report, allow_503=True)

    before = [r for r in ordinary if marks["start"] + WARMUP < r.started and r.ended < paused]
    app_time = max((r.latency for r in before), default=0.0)
    bound = REDIS_BOUND * (2 if queued else 1) + app_time
    during = [r for r in everything if r.ended > paused and r.started < resumed]
    slow = [r for r in during if r.latency > bound]
    report.expect(
        not slow,
        f"{len(slow)} requests during the stall exceeded {bound:.3f}s, e.g. "
        f"{[r.describe() for r in slow[:2]]}",
    )
    bad_gateway = [r for r in everything if r.status == 502]
    report.expect(not bad_gateway, f"{len(bad_gateway)} 502s")
    _, closed = check_failure_policy(
        report, ordinary, sign_ins, (paused + MARGIN, resuming), "stalled"
    )
    after = [r for r in ordinary if r.started > recovered]
    headless = [r for r in after if "ratelimit" not in r.headers]
    report.expect(
        bool(after) and not headless,
        f"{len(headless)} of {len(after)} ordinary responses after the stall lack RateLimit",
    )
    late_sign_ins = [r for r in sign_ins if r.started > recovered]
    report.expect(
        bool(late_sign_ins) and all(r.status == 200 for r in late_sign_ins),
        "sign-in did not come back after the stall",
    )
    latencies = [r.latency for r in during]
    report.figures.update(
        before_max=ms(app_time),
        stall_requests=len(during),
        stall_p50=ms(percentile(latencies, 0.5)),
        stall_p99=ms(percentile(latencies, 0.99)),
        stall_max=ms(max(latencies, default=0.0)),
        bound=ms(bound),
        sign_in_503_while_stalled=len(closed),
    )


if __name__ == "__main__":
    main(run, "redis_stall")
