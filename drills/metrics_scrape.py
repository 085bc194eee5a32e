"""Drill 12, one scrape of a 2-worker server counts every request, whichever worker took it.

With MYAPP_METRICS_TOKEN set, the server (2 workers) gets a known mix of requests,
each on a fresh connection so both workers take some: divisions, sums, bad
bodies, unknown paths, and unauthenticated reads of one alias under several ids.
Then one scrape, whose request counts the report shows. Invariants: each
(method, route, status) count and each histogram count is exactly what was sent
(the harness's own /health checks while the server starts are left out); the
limiter's allowed decisions are the requests sent; raw paths never appear as
labels; both workers left counts in the shared directory; the log has no trouble.
"""

from __future__ import annotations

import secrets
from collections import Counter
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from drills.common import (
    Client,
    Report,
    Stats,
    app_env,
    check_log,
    database,
    init_db,
    main,
    server_class,
    workdir,
)

#: method, path, JSON body, the route label, the status, and how many times.
MIX = [
    ("GET", "/v1/calc/divide?a=1&b=4", None, "/v1/calc/divide", 200, 30),
    ("GET", "/v1/calc/add?a=1&b=2", None, "/v1/calc/add", 200, 25),
    ("POST", "/v1/calc/add", {"a": "one"}, "/v1/calc/add", 422, 10),
    ("GET", "/no/such/path", None, "unmatched", 404, 8),
    ("GET", "/v1/aliases/{n}", None, "/v1/aliases/<id:alias_id>", 401, 12),
]


def run() -> Report:
    """Run the scrape drill and return its report."""
    report = Report("metrics_scrape")
    token = secrets.token_urlsafe(32)
    with workdir() as scratch, database("sqlite", scratch) as (url, _):
        shared = scratch / "metrics"
        shared.mkdir()  # init-db, like any process of the app, writes its (empty) counts there
        env = app_env(url, METRICS_TOKEN=token)
        env |= {"PROMETHEUS_MULTIPROC_DIR": str(shared), "GUNICORN_WORKERS": "2"}
        env |= {"GRANIAN_WORKERS": "2"}
        init_db(env)
        stats = Stats()
        with server_class()(env, scratch) as server:
            sent: Counter[tuple[str, str, int]] = Counter()
            for method, path, body, route, status, times in MIX:
                for n in range(times):
                    client = Client(server.port, stats, keep_alive=False)
                    kwargs = {"json_body": body} if body is not None else {}
                    answer = client.request(
                        method, path.format(n=n + 1), expect={status}, label=route, **kwargs
                    )
                    sent[method, route, answer.status or 0] += 1
            scrape = Client(server.port).request(
                "GET", "/metrics", headers={"Authorization": f"Bearer {token}"}, expect={200}
            )
            workers = server.worker_pids()
            check_log(report, server)
        stats.check_basics(report)
        report.expect(scrape.status == 200, f"the scrape answered {scrape.status}")
        if scrape.status == 200:
            judge(report, scrape.body.decode(), sent, shared, workers)
        report.figures.update(server=server.kind, requests=sum(sent.values()))
    return report.finish()


def judge(
    report: Report,
    text: str,
    sent: Counter[tuple[str, str, int]],
    shared: Path,
    workers: list[int],
) -> None:
    """Counts exact; no raw path; every worker's file there."""
    counted: dict[tuple[str, str, int], float] = {}
    timed: dict[tuple[str, str], float] = {}
    allowed = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "http_requests_total":
                counted[labels["method"], labels["route"], int(labels["status"])] = sample.value
            elif sample.name == "http_request_duration_seconds_count":
                timed[labels["method"], labels["route"]] = sample.value
            elif sample.name == "ratelimit_decisions_total" and labels["outcome"] == "allowed":
                allowed += sample.value
    wrong = {key: (n, counted.get(key)) for key, n in sent.items() if counted.get(key) != n}
    report.expect(not wrong, f"counts differ (sent, scraped): {wrong}")
    extra = {key: n for key, n in counted.items() if key not in sent and key[1] != "/health"}
    report.expect(not extra, f"requests counted that were never sent: {extra}")
    by_route: Counter[tuple[str, str]] = Counter()
    for (method, route, _status), n in sent.items():
        by_route[method, route] += n
    untimed = {key: (n, timed.get(key)) for key, n in by_route.items() if timed.get(key) != n}
    # /health is exempt from the limiter, and everything sent here is limited.
    report.expect(not untimed, f"histogram counts differ (sent, scraped): {untimed}")
    limited = sum(sent.values())
    report.expect(allowed == limited, f"{allowed} allowed decisions for {limited} limited requests")
    report.expect(
        "/no/such/path" not in text and '/v1/aliases/1"' not in text, "a raw path is a label"
    )
    files = {path.stem.rpartition("_")[2] for path in shared.glob("counter_*.db")}
    served = sorted(pid for pid in workers if str(pid) in files)
    report.expect(len(served) == 2, f"counts from {len(served)} of the 2 workers: {sorted(files)}")
    report.figures.update(scraped=int(sum(counted.values())), workers_counted=len(served))
    for line in text.splitlines():
        if line.startswith("http_requests_total"):
            report.note(f"scraped: {line}")


if __name__ == "__main__":
    main(run, "metrics_scrape")
