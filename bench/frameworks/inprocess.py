"""In-process cost per request of every stack and endpoint, and of the Redis limiters.

WSGI apps are called directly with a prebuilt environ (copied per call, body in a
fresh stream, response iterated and closed); FastAPI is called directly as an ASGI
app, every request of a sample awaited in turn on one uvloop event loop. Each
round times every case once, in a rotated order, so machine noise hits all
stacks alike; a case's figure is its per-request mean within a round, and the
report gives the median and minimum of those over the rounds. The builds of
/limited take turns request by request within each round instead of running in
batches, so that a drift in the cost of a Redis round trip falls on all of them.

The limiters' added cost is /limited with the limiter minus /limited without
it (the same app built with `ratelimit=False`), next to bare redis-py EVALSHAs
(of `return 1` and of myapp's limiter script) in the same rounds. Round trips
per request are read from the server's MONITOR feed, which, unlike INFO
commandstats, tells a client's commands from those its Lua scripts run.

    python bench/frameworks/inprocess.py [--quick] [--rounds 7] [--seconds 0.2]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse
import asyncio
import gc
import io
import random
import secrets
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import redis
from werkzeug.test import EnvironBuilder

from bench.floors import bare_evalsha
from bench.frameworks.apps.flask_plain import FLOOR_LIMIT, FLOOR_SCRIPTS
from bench.frameworks.stacks import (
    LIMITER_VARIANTS,
    STACKS,
    ContractBroken,
    Endpoint,
    Stack,
    check,
    endpoints_for,
)
from bench.frameworks.support import redis_url, start

Answer = tuple[int, dict[str, str], bytes]
#: What --quick sets: 5 rounds of 0.05 s per case.
QUICK = {"rounds": 5, "seconds": 0.05}


def _ignore(*args: Any) -> None:
    return None


class WsgiCase:
    """One endpoint of one WSGI app, called directly."""

    def __init__(self, app: Callable[..., Iterable[bytes]], stack: Stack, endpoint: Endpoint):
        builder = EnvironBuilder(
            path=endpoint.path,
            method=endpoint.method,
            query_string=endpoint.query(stack),
            data=endpoint.body,
            content_type="application/json" if endpoint.body is not None else None,
        )
        self.environ = builder.get_environ()
        builder.close()
        self.app, self.body = app, endpoint.body or b""

    def call(self) -> Answer:
        """One request, answer kept, for the contract check."""
        seen: dict[str, Any] = {}

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> None:
            seen["status"], seen["headers"] = int(status.split()[0]), dict(headers)

        result = self.app({**self.environ, "wsgi.input": io.BytesIO(self.body)}, start_response)
        try:
            body = b"".join(result)
        finally:
            getattr(result, "close", _ignore)()
        return seen["status"], seen["headers"], body

    def run(self, requests: int) -> float:
        """Seconds per request over `requests` calls."""
        app, environ, body, start_response = self.app, self.environ, self.body, _ignore
        started = time.perf_counter()
        for _ in range(requests):
            env = environ.copy()
            env["wsgi.input"] = io.BytesIO(body)
            result = app(env, start_response)
            for _chunk in result:
                pass
            getattr(result, "close", _ignore)()
        return (time.perf_counter() - started) / requests


class AsgiCase:
    """One endpoint of an ASGI app, awaited directly on one event loop ("ASGI, direct")."""

    def __init__(self, app: Any, stack: Stack, endpoint: Endpoint, loop: asyncio.AbstractEventLoop):
        self.body = endpoint.body or b""
        headers = [(b"host", b"localhost")]
        if endpoint.body is not None:
            headers += [(b"content-type", b"application/json")]
            headers += [(b"content-length", str(len(self.body)).encode())]
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": endpoint.method,
            "scheme": "http",
            "path": endpoint.path,
            "raw_path": endpoint.path.encode(),
            "query_string": endpoint.query(stack).encode(),
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("localhost", 80),
            "state": {},
        }
        self.app, self.loop = app, loop

    def _receive(self) -> Callable[[], Any]:
        """A fresh `receive`: the whole body in one message, then a disconnect."""
        messages = [{"type": "http.request", "body": self.body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return messages.pop() if messages else {"type": "http.disconnect"}

        return receive

    def call(self) -> Answer:
        """One request, answer kept, for the contract check."""
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        self.loop.run_until_complete(self.app(dict(self.scope), self._receive(), send))
        start = sent[0]
        headers = {k.decode(): v.decode() for k, v in start["headers"]}
        return start["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])

    def run(self, requests: int) -> float:
        """Seconds per request over `requests` awaited calls."""
        return self.loop.run_until_complete(self._run(requests))

    async def _run(self, requests: int) -> float:
        app, scope, receive = self.app, self.scope, self._receive

        async def send(message: dict[str, Any]) -> None:
            return None

        started = time.perf_counter()
        for _ in range(requests):
            await app(dict(scope), receive(), send)
        return (time.perf_counter() - started) / requests


class EvalshaCase:
    """A bare redis-py EVALSHA in a tight loop: one round trip, a limiter's floor."""

    def __init__(self, url: str, script: str):
        self.call = bare_evalsha(url, script, FLOOR_LIMIT)

    def run(self, requests: int) -> float:
        call = self.call
        started = time.perf_counter()
        for _ in range(requests):
            call()
        return (time.perf_counter() - started) / requests


@dataclass
class Row:
    """The samples of one case: a stack's endpoint, with or without its limiter."""

    stack: str
    endpoint: str
    #: "limiter off" (the baseline of /limited), or one of LIMITER_VARIANTS.
    variant: str = ""
    interface: str = "wsgi"
    samples_us: list[float] = field(default_factory=list)
    requests: int = 0

    @property
    def name(self) -> str:
        """The stack, and the variant when there is one."""
        return f"{self.stack} ({self.variant})" if self.variant else self.stack

    @property
    def median(self) -> float:
        return statistics.median(self.samples_us)

    @property
    def minimum(self) -> float:
        return min(self.samples_us)


def build_cases(url: str, stacks: Iterable[Stack]) -> list[tuple[Row, Any]]:
    """Every stack's endpoints, the limiter-off baselines of /limited, and the EVALSHA floor."""
    loop = _event_loop()
    cases: list[tuple[Row, Any]] = []
    for stack in stacks:
        create = stack.factory()
        apps = {"": create()}
        if stack.limiter:
            apps["limited"] = create(url)
            apps["limiter off"] = create(url, ratelimit=False)
            for variant in stack.limiter_variants:
                apps[variant] = create(url, **LIMITER_VARIANTS[variant])
        for endpoint in endpoints_for(stack):
            variants = [v for v in apps if v] if endpoint.key == "limited" else [""]
            for variant in variants:
                app = apps[variant]
                case = (
                    AsgiCase(app, stack, endpoint, loop)
                    if stack.interface == "asgi"
                    else WsgiCase(app, stack, endpoint)
                )
                status, headers, body = case.call()
                if variant in ("", "limited"):
                    check(endpoint, status, headers, body)
                elif status != 200:
                    raise ContractBroken(f"{stack.name} /limited ({variant}): status {status}")
                label = "" if variant == "limited" else variant
                cases.append((Row(stack.name, endpoint.key, label, stack.interface), case))
    for name, script in FLOOR_SCRIPTS.items():
        cases.append((Row("redis-py", f"evalsha {name}"), EvalshaCase(url, script)))
    return cases


def _event_loop() -> asyncio.AbstractEventLoop:
    import uvloop  # uvicorn runs FastAPI on it in production, so time it there too

    return uvloop.new_event_loop()


def round_trips(case: Any, url: str, requests: int = 200) -> Counter[str]:
    """Top-level Redis commands per request, by name, from the server's MONITOR feed."""
    case.run(5)  # connections open, scripts loaded
    probe = redis.Redis.from_url(url)
    probe.ping()  # connected before MONITOR starts, so its handshake is not counted
    marker = f"bench-end-{secrets.token_hex(4)}"
    counts: Counter[str] = Counter()
    with redis.Redis.from_url(url).monitor() as monitor:
        case.run(requests)
        probe.echo(marker)
        for command in monitor.listen():
            if marker in command["command"]:
                break
            if command["client_type"] != "lua":  # commands a script runs are not round trips
                counts[command["command"].split()[0].upper()] += 1
    return Counter({name: calls / requests for name, calls in counts.items()})


def measure(
    url: str,
    *,
    rounds: int,
    seconds: float,
    stacks: Iterable[Stack] = STACKS,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Time every case in interleaved rounds; return rows, limiter figures and round trips."""
    started = time.monotonic()
    cases = build_cases(url, stacks)
    log(f"in-process: {len(cases)} cases, contract checked; calibrating")
    for row, case in cases:
        case.run(50)  # warm caches, lazy middleware stacks, connection pools
        estimate = case.run(200)
        row.requests = max(50, min(100_000, int(seconds / estimate)))
    batched = [(row, case) for row, case in cases if row.endpoint != "limited"]
    limited = [(row, case) for row, case in cases if row.endpoint == "limited"]
    turns = min((row.requests for row, _case in limited), default=0)
    for row, _case in limited:
        row.requests = turns
    order = list(range(len(limited)))
    shuffle = random.Random(8).shuffle
    for index in range(rounds):
        shift = index % len(batched)
        for row, case in batched[shift:] + batched[:shift]:
            gc.collect()
            row.samples_us.append(case.run(row.requests) * 1e6)
        # The builds of /limited take turns request by request instead, in a shuffled
        # order: each makes a Redis round trip, whose cost drifts with the machine
        # from one batch to the next, and their differences are the figures.
        gc.collect()
        spent = [0.0] * len(limited)
        for _ in range(turns):
            shuffle(order)
            for i in order:
                spent[i] += limited[i][1].run(1)
        for (row, _case), seconds_spent in zip(limited, spent, strict=True):
            row.samples_us.append(seconds_spent / turns * 1e6)
        log(f"in-process: round {index + 1}/{rounds} done ({time.monotonic() - started:.0f} s)")
    trips = {
        row.name: round_trips(case, url)
        for row, case in cases
        if (row.endpoint == "limited" and row.variant != "limiter off") or row.stack == "redis-py"
    }
    return {
        "rounds": rounds,
        "seconds_per_case": seconds,
        "rows": [row for row, _case in cases],
        "round_trips": trips,
    }


def print_rows(result: dict[str, Any]) -> None:
    """A plain-text table of the figures."""
    print(f"{'stack':<16} {'endpoint':<8} {'variant':<18} {'median us':>10} {'min us':>9}")
    for row in result["rows"]:
        print(
            f"{row.stack:<16} {row.endpoint:<8} {row.variant:<18} "
            f"{row.median:>10.1f} {row.minimum:>9.1f}"
        )
    for stack, trips in result["round_trips"].items():
        detail = ", ".join(f"{name} {count:.2f}" for name, count in sorted(trips.items()))
        print(f"redis round trips per request, {stack}: {sum(trips.values()):.2f} ({detail})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 rounds of 0.05 s per case")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.2, help="per case per round")
    parser.add_argument("--redis-url", help="use this Redis instead of starting one")
    args = start(parser, QUICK)
    with redis_url(args.redis_url) as url:
        print_rows(measure(url, rounds=args.rounds, seconds=args.seconds))


if __name__ == "__main__":
    main()
