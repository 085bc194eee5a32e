"""Cost of rate limiting: a limited route vs the same route unlimited, memory and Redis.

Runs everything in one process with direct WSGI calls on a prebuilt environ. The
variants take turns request by request, in a fresh random order each turn, and each
request is timed alone, so a stall of the machine or of redis-server falls on all
of them alike; the figures are medians and lower quartiles over every request.
Starts its own redis-server on a free loopback port unless --redis-url is given.

The Redis limiter is held to two floors, each a bare redis-py EVALSHA made in the
view of the unlimited app: of the limiter's own GCRA script (what is left is the
limiter's Python), and of `return 1` (what is left includes the script's work
inside redis-server).

    python bench/ratelimit.py [--requests 5000] [--rounds 7] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import functools
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from werkzeug.test import EnvironBuilder

from bench.floors import TRIVIAL_SCRIPT, bare_evalsha
from myapp import create_app
from myapp.core.limiter_backends import GCRA_SCRIPT, GCRA_SHA
from myapp.core.policies import parse_limits
from tests.servers import RedisServer

LIMIT = "1000000/minute"  # high enough never to deny during the run
# The floor's calls of the limiter's script get the arguments the limiter passes under LIMIT.
FLOOR_LIMIT = parse_limits(LIMIT, "floor")[0]


ENVIRON = EnvironBuilder(path="/v1/calc/add", query_string="a=1&b=2").get_environ()


def _start_response(status, headers, exc_info=None):
    assert status.startswith("200"), status


def run(app, requests: int) -> float:
    """Return microseconds per request for `requests` direct WSGI calls."""
    started = time.perf_counter()
    for _ in range(requests):
        b"".join(app(ENVIRON.copy(), _start_response))
    return (time.perf_counter() - started) / requests * 1e6


def take_turns(apps: dict, requests: int, rng: random.Random) -> dict[str, list[float]]:
    """µs of each request, the apps taking turns one request at a time.

    The order is shuffled every turn, so no variant always follows the same one: a
    Redis call costs more after a pause than straight after another call, and a
    rotated fixed order still gave each variant the same neighbour.
    """
    timings: dict[str, list[float]] = {name: [] for name in apps}
    turns = list(apps.items())
    for _ in range(requests):
        rng.shuffle(turns)
        for name, app in turns:
            started = time.perf_counter_ns()
            b"".join(app(ENVIRON.copy(), _start_response))
            timings[name].append((time.perf_counter_ns() - started) / 1000)
    return timings


def tight_loop(url: str, script: str, requests: int) -> float:
    """Microseconds per bare EVALSHA of `script` in a tight loop."""
    call = bare_evalsha(url, script, FLOOR_LIMIT)
    started = time.perf_counter()
    for _ in range(requests):
        call()
    return (time.perf_counter() - started) / requests * 1e6


def with_bare_evalsha(app, url: str, script: str):
    """The unlimited app plus one bare EVALSHA of `script` per request, made in the view.

    Not a limiter: the floor of a one-round-trip limiter as a request pays it.
    The same call costs more here than in a tight loop, because between requests
    the machine has other work and redis-server idles. The view is wrapped rather
    than given a hook, which would cost this app alone the hook loops.
    """
    call = bare_evalsha(url, script, FLOOR_LIMIT)
    endpoint = app.url_map.bind("localhost").match(ENVIRON["PATH_INFO"])[0]
    view = app.view_functions[endpoint]

    @functools.wraps(view)
    def one_round_trip(*args, **kwargs):
        call()
        return view(*args, **kwargs)

    app.view_functions[endpoint] = one_round_trip
    return app


def round_trips(app, url: str, requests: int) -> float:
    """Top-level Redis commands per request, from the server's own counters."""
    probe = redis.Redis.from_url(url)
    run(app, 10)  # script loaded
    probe.config_resetstat()
    run(app, requests)
    calls = {k.removeprefix("cmdstat_"): v["calls"] for k, v in probe.info("commandstats").items()}
    # TIME, GET and SET run inside the script (one TIME per call); the rest were sent.
    inside = calls.get("time", 0) + calls.get("get", 0) + calls.get("set", 0)
    sent = sum(calls.values()) - inside - calls.get("info", 0) - calls.get("config|resetstat", 0)
    return sent / requests


def script_times(app, url: str, requests: int) -> tuple[float, float]:
    """Median server-side µs per call, from SLOWLOG: the limiter's script, and `return 1`.

    Splits the limiter's added cost into what Redis spends running the GCRA
    script and what the round trip and the Python around it cost.
    """
    probe = redis.Redis.from_url(url)
    trivial = probe.script_load(TRIVIAL_SCRIPT)
    run(app, 10)  # script loaded
    saved = probe.config_get("slowlog-*")
    probe.config_set("slowlog-log-slower-than", 0)
    probe.config_set("slowlog-max-len", 2 * requests + 100)
    probe.slowlog_reset()
    try:
        run(app, requests)
        for _ in range(requests):
            probe.evalsha(trivial, 0)
        entries = probe.slowlog_get(2 * requests + 100)
    finally:
        for name, value in saved.items():
            probe.config_set(name, value)

    def median_for(sha: str) -> float:
        return statistics.median(
            e["duration"] for e in entries if sha.encode() in bytes(e["command"]).lower()
        )

    return median_for(GCRA_SHA), median_for(trivial)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--redis-url")
    parser.add_argument("--seed", type=int, default=8, help="of the turns' order")
    args = parser.parse_args()

    server = None
    url = args.redis_url
    if url is None:
        binary = shutil.which("redis-server")
        if binary is None:
            sys.exit("redis-server not found: apt-get install redis-server, or pass --redis-url")
        server = RedisServer(binary)
        server.start()
        url = server.url
    try:
        # No access log: a line per request to stderr would cost more than the limiter.
        base = {
            "SECRET_KEY": secrets.token_urlsafe(32),
            "RATELIMIT_DEFAULT": LIMIT,
            "ACCESS_LOG": False,
        }
        unlimited = {**base, "RATELIMIT_ENABLED": False}
        apps = {
            "unlimited": create_app(unlimited),
            "memory": create_app(base),
            "redis": create_app({**base, "REDIS_URL": url}),
        }
        for name, script in (("EVALSHA gcra", GCRA_SCRIPT), ("EVALSHA 1", TRIVIAL_SCRIPT)):
            apps[name] = with_bare_evalsha(create_app(unlimited), url, script)
        for app in apps.values():
            run(app, 200)  # warm up
        samples: dict[str, list[float]] = {name: [] for name in apps}
        tight: dict[str, list[float]] = {GCRA_SCRIPT: [], TRIVIAL_SCRIPT: []}
        rng = random.Random(args.seed)
        for _ in range(args.rounds):
            for name, timings in take_turns(apps, args.requests, rng).items():
                samples[name] += timings
            for script, figures in tight.items():
                figures.append(tight_loop(url, script, args.requests))
        trips = round_trips(apps["redis"], url, 1000)
        script_us, trivial_us = script_times(apps["redis"], url, 2000)
    finally:
        if server:
            server.stop()

    base_us = statistics.median(samples["unlimited"])
    redis_version = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True, check=False
    ).stdout.split()[2:3]
    print(f"python {sys.version.split()[0]}, redis-py {redis.__version__}, redis {redis_version}")
    print(
        f"{args.rounds} rounds x {args.requests} requests per variant, taking turns request "
        "by request, GET /v1/calc/add"
    )
    print(f"{'variant':<13} {'median us':>10} {'q1 us':>8} {'ratio':>6} {'added us':>9}")
    for name, values in samples.items():
        med = statistics.median(values)
        q1 = statistics.quantiles(values, n=4)[0]
        print(f"{name:<13} {med:>10.1f} {q1:>8.1f} {med / base_us:>6.2f} {med - base_us:>9.1f}")
    redis_added = statistics.median(samples["redis"]) - base_us
    over_same_script = redis_added - (statistics.median(samples["EVALSHA gcra"]) - base_us)
    for label, script, name in (
        ("the limiter's GCRA script", GCRA_SCRIPT, "EVALSHA gcra"),
        ("'return 1'", TRIVIAL_SCRIPT, "EVALSHA 1"),
    ):
        loop_us = statistics.median(tight[script])
        in_request_us = statistics.median(samples[name]) - base_us
        print(
            f"bare EVALSHA of {label}: {loop_us:.1f} us in a tight loop, {in_request_us:.1f} us "
            f"added inside each request ({name!r} above); the redis limiter adds "
            f"{redis_added - in_request_us:+.1f} us more than the latter "
            f"({redis_added - loop_us:+.1f} more than the tight loop)"
        )
    verdict = "met" if over_same_script <= 20 else "NOT met"
    print(
        f"issue 8: the limiter adds at most 20 us more than a bare EVALSHA of its script "
        f"inside a request: {over_same_script:+.1f} us, {verdict}"
    )
    print(f"redis round trips per request: {trips:.3f}")
    print(
        f"inside redis-server per call (SLOWLOG median): limiter script {script_us:.0f} us, "
        f"'return 1' {trivial_us:.0f} us"
    )


if __name__ == "__main__":
    main()
