"""HTTP throughput and p99 latency of every stack under its production server, with wrk.

The Flask stacks run under gunicorn (sync; myapp also gthread, every stack with
--gthread-all), FastAPI under uvicorn with uvloop and httptools, all with the
same worker count. myapp also runs under granian (a WSGI server written in
Rust, through serve.py), its faster production server, for all but /limited;
so do FastAPI (granian's ASGI interface), which then runs on both servers it
has, and the bare WSGI floor (the same serve.py), myapp's floor on its server.
Every server is started first, then each round runs every (server, endpoint)
once in a rotated order, so load from elsewhere on the machine falls on all of
them alike. Traffic goes to 127.0.0.1 only, for a bounded time. Stacks with a
Redis limiter serve /limited from a second server of the same kind built with
`redis_url`, so their other endpoints run without a limiter extension (myapp
keeps its in-memory one, part of its stack).

    python bench/frameworks/overhttp.py [--quick] [--duration 5] [--http-rounds 2] [--connections 8]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse
import http.client
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bench.frameworks.stacks import FLOOR, OURS, STACKS, Endpoint, Stack, check, endpoints_for
from bench.frameworks.support import ROOT, SETUP, bin_path, redis_url, start
from tests.servers import free_port

GUNICORN_CONF = Path(__file__).resolve().parent / "gunicorn.conf.py"
GTHREAD_THREADS = 4
#: What --quick sets: 1 round of 2 s runs.
QUICK = {"duration": 2, "http_rounds": 1}


@dataclass
class Server:
    """One server process group on a loopback port, serving one app of one stack."""

    stack: Stack
    kind: str  # "gunicorn sync", "gunicorn gthread", "granian" (WSGI or ASGI), "uvicorn"
    endpoints: list[Endpoint]
    argv: list[str]
    port: int
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server in its own session, so stopping it stops its workers."""
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, start_new_session=True)

    def wait_ready(self, timeout: float = 60) -> None:
        """Wait until GET /ping answers 200."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} for {self.stack.name} exited: {self.argv}")
            try:
                if request(self.port, "GET", "/ping")[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.kind} for {self.stack.name} did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM the server's process group, then SIGKILL it if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def request(
    port: int, method: str, target: str, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request to 127.0.0.1: (status, headers, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def target(stack: Stack, endpoint: Endpoint) -> str:
    """The path and query string this stack's endpoint is requested at."""
    query = endpoint.query(stack)
    return f"{endpoint.path}?{query}" if query else endpoint.path


def plan(stacks: Iterable[Stack], url: str, workers: int, gthread_all: bool) -> list[Server]:
    """The servers to run: per stack and server kind, one without Redis and one with it."""
    servers: list[Server] = []
    for stack in stacks:
        if stack.interface == "asgi":
            kinds = ["uvicorn", "granian"]
        else:
            kinds = ["gunicorn sync"]
            if stack.name == OURS or gthread_all:
                kinds.append("gunicorn gthread")
            # The floor runs on myapp's own server too, so myapp has one there.
            if stack.name in (OURS, FLOOR):
                kinds.append("granian")
        endpoints = endpoints_for(stack)
        for kind in kinds:
            plain = [e for e in endpoints if e.key != "limited"]
            limited = [e for e in endpoints if e.key == "limited"]
            for served, redis in ((plain, None), (limited, url)):
                # granian's factory takes no arguments, so no app built with Redis.
                if served and not (kind == "granian" and redis):
                    port = free_port()
                    while any(server.port == port for server in servers):
                        port = free_port()  # free now, but maybe already given out
                    argv = server_argv(stack, kind, port, workers, redis)
                    servers.append(Server(stack, kind, served, argv, port))
    return servers


def server_argv(stack: Stack, kind: str, port: int, workers: int, redis: str | None) -> list[str]:
    """The command line of one server; the app comes from the stack's create_app."""
    if kind == "uvicorn":
        return [
            *(bin_path("uvicorn"), f"{stack.module}:create_app", "--factory"),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
            *("--loop", "uvloop", "--http", "httptools", "--no-access-log"),
            *("--log-level", "warning", "--app-dir", str(ROOT)),
        ]
    if kind == "granian" and stack.interface == "asgi":
        # granian's own command line: its ASGI interface on uvloop, as uvicorn has it,
        # and one runtime thread a worker on a single-threaded runtime, as serve.py
        # gives myapp.
        return [
            *(bin_path("granian"), "--interface", "asgi", "--factory"),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
            *("--loop", "uvloop", "--runtime-threads", "1", "--runtime-mode", "st"),
            *("--no-ws", "--no-access-log", "--log-level", "warning"),
            *("--working-dir", str(ROOT), f"{stack.module}:create_app"),
        ]
    if kind == "granian":
        # serve.py, the production launcher, with its settings (one Python thread a
        # worker, the request watchdog on), for myapp and the bare WSGI floor alike;
        # it reads the bind and workers from GRANIAN_*.
        settings = {
            "GRANIAN_HOST": "127.0.0.1",
            "GRANIAN_PORT": str(port),
            "GRANIAN_WORKERS": str(workers),
            "GRANIAN_LOG_LEVEL": "warning",
        }
        return [
            *("env", *(f"{name}={value}" for name, value in settings.items())),
            *(sys.executable, str(ROOT / "serve.py"), f"{stack.module}:create_app"),
        ]
    worker_class = kind.split()[-1]
    threads = GTHREAD_THREADS if worker_class == "gthread" else 1
    app = f"{stack.module}:create_app({redis!r})" if redis else f"{stack.module}:create_app()"
    return [
        *(bin_path("gunicorn"), "-c", str(GUNICORN_CONF), "--chdir", str(ROOT)),
        *("--bind", f"127.0.0.1:{port}", "--workers", str(workers)),
        *("--worker-class", worker_class, "--threads", str(threads), app),
    ]


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s, p99 in ms, requests, non-2xx/3xx answers and socket errors from wrk."""
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if not (p99 and rps and total):
        raise RuntimeError(f"could not read wrk's output:\n{output}")
    return {
        "rps": float(rps[1]),
        "p99_ms": float(p99[1]) * _UNITS[p99[2]],
        "requests": int(total[1]),
        "non_2xx": int(non2xx[1]) if non2xx else 0,
        "socket_errors": sum(map(int, errors.groups())) if errors else 0,
    }


def wrk(
    port: int, path: str, script: str | None, seconds: int, connections: int
) -> dict[str, float]:
    """One bounded wrk run against 127.0.0.1."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "2s", "--latency"]
    if script:
        argv += ["-s", script]
    argv.append(f"http://127.0.0.1:{port}{path}")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=True)
    return parse_wrk(done.stdout)


def post_script(directory: str, endpoint: Endpoint) -> str:
    """A wrk Lua script that sends the endpoint's JSON body."""
    path = Path(directory) / f"{endpoint.key}.lua"
    assert endpoint.body is not None
    assert b"]]" not in endpoint.body  # it is written as a Lua long string
    path.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = [[{endpoint.body.decode()}]]\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return str(path)


@dataclass
class Result:
    """The runs of one endpoint on one stack's server kind."""

    stack: str
    server: str
    endpoint: str
    runs: list[dict[str, float]] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return statistics.median(run["rps"] for run in self.runs)

    @property
    def p99_ms(self) -> float:
        return statistics.median(run["p99_ms"] for run in self.runs)

    def count(self, name: str) -> int:
        return int(sum(run[name] for run in self.runs))


def measure(
    url: str,
    *,
    seconds: int,
    rounds: int,
    connections: int,
    workers: int,
    gthread_all: bool = False,
    stacks: Iterable[Stack] = STACKS,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Start every server, check each endpoint once, then time them in rotated rounds."""
    if shutil.which("wrk") is None:
        raise SystemExit(f"wrk is not installed: run {SETUP}")
    started = time.monotonic()
    servers = plan(stacks, url, workers, gthread_all)
    results: dict[tuple[int, str], Result] = {}
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready()
        log(f"http: {len(servers)} servers up, {workers} workers each")
        with tempfile.TemporaryDirectory() as scripts:
            runs = []
            for index, server in enumerate(servers):
                for endpoint in server.endpoints:
                    path = target(server.stack, endpoint)
                    check(endpoint, *request(server.port, endpoint.method, path, endpoint.body))
                    script = post_script(scripts, endpoint) if endpoint.body else None
                    wrk(server.port, path, script, 1, connections)  # warm up
                    runs.append((index, server, endpoint, path, script))
                    results[index, endpoint.key] = Result(
                        server.stack.name, server.kind, endpoint.key
                    )
            log(f"http: {len(runs)} endpoints checked and warmed up")
            for round_index in range(rounds):
                shift = round_index * len(runs) // max(rounds, 1)
                for index, server, endpoint, path, script in runs[shift:] + runs[:shift]:
                    measured = wrk(server.port, path, script, seconds, connections)
                    results[index, endpoint.key].runs.append(measured)
                elapsed = time.monotonic() - started
                log(f"http: round {round_index + 1}/{rounds} done ({elapsed:.0f} s)")
    finally:
        for server in servers:
            server.stop()
    return {
        "seconds": seconds,
        "rounds": rounds,
        "connections": connections,
        "workers": workers,
        "gthread_threads": GTHREAD_THREADS,
        "results": list(results.values()),
    }


def print_results(result: dict[str, Any]) -> None:
    """A plain-text table of the figures."""
    print(f"{'stack':<14} {'server':<17} {'endpoint':<8} {'req/s':>9} {'p99 ms':>8} {'errors':>7}")
    for row in result["results"]:
        errors = row.count("socket_errors") + (
            row.count("non_2xx") if row.endpoint != "invalid" else 0
        )
        print(
            f"{row.stack:<14} {row.server:<17} {row.endpoint:<8} "
            f"{row.rps:>9.0f} {row.p99_ms:>8.2f} {errors:>7}"
        )


def default_workers() -> int:
    """One worker per core this process may use."""
    return len(os.sched_getaffinity(0))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The HTTP options, shared with run.py."""
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--http-rounds", type=int, default=2, help="rounds of wrk runs")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument(
        "--gthread-all", action="store_true", help="every Flask stack also under gthread"
    )


def measure_with(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """`measure` with the options `add_arguments` defines."""
    return measure(
        url,
        seconds=args.duration,
        rounds=args.http_rounds,
        connections=args.connections,
        workers=args.workers,
        gthread_all=args.gthread_all,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 2 s runs")
    parser.add_argument("--redis-url", help="use this Redis instead of starting one")
    add_arguments(parser)
    args = start(parser, QUICK)
    with redis_url(args.redis_url) as url:
        result = measure_with(url, args)
    print_results(result)


if __name__ == "__main__":
    main()
