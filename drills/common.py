"""What every drill needs: real servers, a bounded concurrent HTTP client, and the figures.

Servers come from tests/servers.py (redis-server, PostgreSQL). The app server runs
as a subprocess on a free loopback port: gunicorn with the repository's
gunicorn.conf.py, or with DRILL_SERVER=granian, granian through serve.py. The
HTTP client is the standard library's http.client, one connection per thread.
"""

from __future__ import annotations

import ast
import contextlib
import http.client
import json
import math
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.servers import (
    PostgresServer,
    RedisServer,
    find_binary,
    find_postgres_bindir,
    free_port,
)

REPO = Path(__file__).resolve().parent.parent
#: Cheap password hashing, as in the test suite; production keeps werkzeug's scrypt.
FAST_HASH = "scrypt:1024:8:1"
#: A limit no drill reaches, for drills that are not about rate limiting.
UNLIMITED = "1000000/minute"
#: The app factory the servers load: MODULE:FUNCTION.
DEFAULT_APP = "myapp:create_app"
#: Which server the drills run: "gunicorn" (the default) or "granian".
SERVER_VARIABLE = "DRILL_SERVER"
#: Outer settings a drill must not inherit: it chooses its own database, Redis, bind.
_NOT_INHERITED = ("MYAPP_", "FLASK_", "GRANIAN_")
_NOT_INHERITED_NAMES = frozenset({"GUNICORN_BIND", "GUNICORN_CMD_ARGS", "WEB_CONCURRENCY"})
#: Log lines that always mean trouble: tracebacks, errors, worker timeouts and crashes
#: (gunicorn's and granian's, and the app's request watchdog at CRITICAL).
TROUBLE = (
    "Traceback",
    '"level": "ERROR"',
    '"level": "CRITICAL"',
    "[ERROR]",
    "WORKER TIMEOUT",
    "Worker failed to boot",
    "was sent SIGKILL",
    "[CRITICAL]",
    "Killing worker-",
    "Killing old worker-",
)


# --------------------------------------------------------------------------- figures


class Report:
    """A drill's figures (one summary line) and the invariants it found broken."""

    def __init__(self, drill: str) -> None:
        self.drill = drill
        self.figures: dict[str, Any] = {}
        self.failures: list[str] = []
        self.notes: list[str] = []
        self.skipped: str | None = None
        self._started = time.monotonic()

    def expect(self, ok: bool, message: str) -> bool:
        """Record a broken invariant unless `ok`; return `ok`."""
        if not ok:
            self.failures.append(message)
        return ok

    def note(self, message: str) -> None:
        """Keep a line of context (log excerpts, examples) for the report."""
        self.notes.append(message)

    def finish(self) -> Report:
        """Stamp the duration; the drill returns the report after this."""
        self.figures["duration"] = f"{time.monotonic() - self._started:.1f}s"
        return self

    @property
    def ok(self) -> bool:
        """True when every invariant held."""
        return not self.failures

    def line(self) -> str:
        """The one summary line, `key=value` pairs, meant to be quoted."""
        verdict = "SKIP" if self.skipped else ("PASS" if self.ok else "FAIL")
        figures = " ".join(f"{key}={value}" for key, value in self.figures.items())
        return f"DRILL {self.drill} {verdict} {figures}".rstrip()

    def explain(self) -> str:
        """The summary line, every broken invariant, then the notes."""
        lines = [self.line()]
        lines += [f"  BROKEN: {failure}" for failure in self.failures]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


@dataclass
class Result:
    """One HTTP exchange: a status, or the name of the error that replaced it."""

    label: str
    method: str
    path: str
    started: float
    latency: float = 0.0
    status: int | None = None
    error: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    expected: frozenset[int] | None = None
    #: The JSON body that was sent, if any.
    request_json: Any = None
    #: Sent a second time, on a fresh connection: the kept-alive one closed under it.
    retried: bool = False

    @property
    def ended(self) -> float:
        """Monotonic time the exchange finished."""
        return self.started + self.latency

    @property
    def unexpected(self) -> bool:
        """A status outside the expected set (errors count as unexpected too)."""
        return self.expected is not None and self.status not in self.expected

    def json(self) -> Any:
        """The parsed body, or None when there is none or it is not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    def data(self) -> Any:
        """The `data` member of a success envelope."""
        document = self.json()
        return document.get("data") if isinstance(document, dict) else None

    def describe(self) -> str:
        """One line for a report: what was sent and what came back."""
        outcome = self.error or str(self.status)
        body = " ".join(self.body[:300].decode(errors="replace").split())
        return f"{self.label}: {self.method} {self.path} -> {outcome} in {self.latency:.3f}s {body}"


def problem_defect(result: Result) -> str | None:
    """What is wrong with an error response as an RFC 9457 problem, or None."""
    if result.headers.get("content-type") != "application/problem+json":
        return f"content type {result.headers.get('content-type')!r}"
    body = result.json()
    if not isinstance(body, dict) or body.get("status") != result.status:
        return "body is not a problem with the response's status"
    if result.status in (429, 503):
        retry_after = result.headers.get("retry-after", "")
        if not retry_after.isdigit() or int(retry_after) < 1:
            return f"Retry-After {retry_after!r}"
    return None


def check_failure_policy(
    report: Report,
    ordinary: list[Result],
    sign_ins: list[Result],
    window: tuple[float, float],
    state: str,
) -> tuple[list[Result], list[Result]]:
    """Within a Redis outage window: ordinary routes serve 2xx (fail open) and sign-ins
    answer 503 problems (fail closed). Returns (ordinary served, sign-ins refused)."""
    start, end = window
    served = [r for r in ordinary if start < r.started and r.ended < end]
    report.expect(
        bool(served) and all(r.status in (200, 201) for r in served),
        f"ordinary routes did not keep serving 2xx while Redis was {state}",
    )
    during = [r for r in sign_ins if start < r.started and r.ended < end]
    refused = [r for r in during if r.status == 503 and problem_defect(r) is None]
    other = [r.describe() for r in during if r not in refused]
    report.expect(
        bool(during) and not other,
        f"sign-in while Redis was {state}: {len(refused)} of {len(during)} were 503 "
        f"problems; others: {other[:2]}",
    )
    return served, refused


def said_down(ready: list[Result], window: tuple[float, float], check: str) -> list[Result]:
    """The /health/ready answers within `window` that were 503s reporting `check` down."""
    start, end = window
    return [
        r
        for r in ready
        if start < r.started
        and r.ended < end
        and r.status == 503
        and (r.json() or {}).get("checks", {}).get(check) == "down"
    ]


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    """Seconds as a short millisecond figure."""
    return f"{seconds * 1000:.0f}ms" if seconds >= 0.01 else f"{seconds * 1000:.1f}ms"


class Stats:
    """Every exchange of a drill, collected from many threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.results: list[Result] = []

    def add(self, result: Result) -> None:
        """Keep one exchange."""
        with self._lock:
            self.results.append(result)

    def select(self, *labels: str) -> list[Result]:
        """The exchanges with one of these labels (all of them when none given)."""
        with self._lock:
            return [r for r in self.results if not labels or r.label in labels]

    def count(self, label: str, status: int) -> int:
        """How many exchanges with this label got this status."""
        return sum(1 for r in self.select(label) if r.status == status)

    def figures(self) -> dict[str, Any]:
        """requests, statuses, 5xx, errors by kind, p50/p99/max latency."""
        results = self.select()
        statuses = Counter(r.status for r in results if r.status is not None)
        errors = Counter(r.error for r in results if r.error)
        latencies = [r.latency for r in results]
        return {
            "requests": len(results),
            "statuses": ",".join(f"{k}:{v}" for k, v in sorted(statuses.items())) or "none",
            "5xx": sum(v for k, v in statuses.items() if k >= 500),
            "of_which_503": statuses.get(503, 0),
            "conn_errors": sum(errors.values()),
            "errors": ",".join(f"{k}:{v}" for k, v in sorted(errors.items())) or "none",
            "retried": sum(1 for r in results if r.retried),
            "unexpected": sum(1 for r in results if r.unexpected),
            "p50": ms(percentile(latencies, 0.50)),
            "p99": ms(percentile(latencies, 0.99)),
            "max": ms(max(latencies, default=0.0)),
        }

    def check_basics(self, report: Report, *, allow_503: bool = False) -> None:
        """No connection error, no 5xx (but 503 problems, when allowed), nothing unexpected."""
        results = self.select()
        errors = [r for r in results if r.error]
        report.expect(not errors, f"{len(errors)} connection errors, e.g. {examples(errors)}")
        bad = [r for r in results if r.status and r.status >= 500]
        if allow_503:
            bad = [r for r in bad if r.status != 503 or problem_defect(r)]
        report.expect(not bad, f"{len(bad)} bad 5xx responses, e.g. {examples(bad)}")
        unexpected = [r for r in results if r.unexpected and not r.error]
        report.expect(
            not unexpected, f"{len(unexpected)} unexpected statuses, e.g. {examples(unexpected, 3)}"
        )


def examples(results: list[Result], count: int = 1) -> str:
    """The first `count` of these exchanges, described for a report ("-" for none)."""
    return " | ".join(r.describe() for r in results[:count]) or "-"


# --------------------------------------------------------------------------- HTTP client

_NO_BODY = object()
#: What a kept-alive connection closed by the server shows before any answer arrives.
_CLOSED_UNDER_US = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
#: Every client by server port, so stopping a server closes its clients' sockets.
_CLIENTS: dict[int, list[Client]] = {}
_CLIENTS_LOCK = threading.Lock()


class Client:
    """One HTTP/1.1 connection for one load thread, reopened after the server closes it.

    Kept-alive connections stay open until `close()`, or until the server they
    talk to is stopped, which closes them all. A request on a kept-alive
    connection that the server closes before answering is sent once more on a
    fresh connection and marked `retried`: under granian that happens when a
    worker retires while the client's next request is on its way.
    """

    def __init__(
        self,
        port: int,
        stats: Stats | None = None,
        timeout: float = 10.0,
        *,
        keep_alive: bool = True,
    ) -> None:
        self.port = port
        self.stats = stats
        self.timeout = timeout
        #: False: every request asks for `Connection: close`, so each goes to
        #: whichever worker accepts its new connection.
        self.keep_alive = keep_alive
        self._conn: http.client.HTTPConnection | None = None
        with _CLIENTS_LOCK:
            _CLIENTS.setdefault(port, []).append(self)

    def close(self) -> None:
        """Drop the connection; the next request opens a fresh one."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = _NO_BODY,
        body: bytes | None = None,
        content_type: str | None = None,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        label: str | None = None,
        expect: Iterable[int] | None = None,
    ) -> Result:
        """Send one request and record it; connection errors become `error`, never raise."""
        sent = {"Accept": "application/json", **(headers or {})}
        if not self.keep_alive:
            sent["Connection"] = "close"
        if json_body is not _NO_BODY:
            body = json.dumps(json_body).encode()
            content_type = content_type or "application/json"
        if content_type:
            sent["Content-Type"] = content_type
        if token:
            sent["Authorization"] = f"Bearer {token}"
        result = Result(
            label or f"{method} {path}",
            method,
            path,
            time.monotonic(),
            expected=frozenset(expect) if expect is not None else None,
            request_json=json_body if json_body is not _NO_BODY else None,
        )
        reused = self._conn is not None
        try:
            try:
                self._exchange(result, method, path, body, sent)
            except _CLOSED_UNDER_US:
                # A kept-alive connection the server closed (a worker retiring) before
                # any answer: sent again once on a fresh one, as HTTP clients do for
                # idempotent requests. The drills' row counts show whether the first
                # try had been applied anyway (a write twice, or a 409 or 404).
                if not reused:
                    raise
                result.retried = True
                self._exchange(result, method, path, body, sent)
        except (OSError, http.client.HTTPException) as exc:
            result.error = type(exc).__name__
        result.latency = time.monotonic() - result.started
        if self.stats is not None:
            self.stats.add(result)
        return result

    def _exchange(
        self, result: Result, method: str, path: str, body: bytes | None, sent: dict[str, str]
    ) -> None:
        """One try: the status, headers and body into `result`; errors close and raise."""
        try:
            if self._conn is None:
                self._conn = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=self.timeout
                )
            self._conn.request(method, path, body=body, headers=sent)
            response = self._conn.getresponse()
            result.body = response.read()
            result.status = response.status
            result.headers = {name.lower(): value for name, value in response.getheaders()}
            if response.will_close:
                self.close()
        except BaseException:
            self.close()
            raise


def run_threads(
    count: int, target: Callable[[int], None], *, deadline: float, report: Report
) -> None:
    """Run target(0..count-1) on threads; a thread that raises or outlives the deadline fails."""
    crashes: list[str] = []

    def guarded(index: int) -> None:
        try:
            target(index)
        except Exception as exc:  # a drill bug must fail the drill, not vanish in a thread
            crashes.append(f"thread {index}: {type(exc).__name__}: {exc}")

    threads = [
        threading.Thread(target=guarded, args=(i,), name=f"drill-{i}", daemon=True)
        for i in range(count)
    ]
    for thread in threads:
        thread.start()
    end = time.monotonic() + deadline
    for thread in threads:
        thread.join(max(0.0, end - time.monotonic()))
    hung = sum(1 for thread in threads if thread.is_alive())
    report.expect(not hung, f"{hung} client threads still running after {deadline:.0f}s")
    report.expect(not crashes, f"client threads crashed: {crashes[:3]}")


class Background:
    """Threads that repeat step(thread, iteration) until stopped: load to break servers under.

    Each thread also stops after `max_iterations`, so the load is bounded even if
    the drill forgets to stop it.
    """

    def __init__(
        self,
        count: int,
        step: Callable[[int, int], None],
        report: Report,
        *,
        pause: float = 0.0,
        max_iterations: int = 100_000,
    ) -> None:
        self.report = report
        self._step = step
        self._pause = pause
        self._max = max_iterations
        self._stopping = threading.Event()
        self._crashes: list[str] = []
        self._threads = [
            threading.Thread(target=self._loop, args=(i,), name=f"drill-bg-{i}", daemon=True)
            for i in range(count)
        ]

    def _loop(self, index: int) -> None:
        try:
            for iteration in range(self._max):
                if self._stopping.is_set():
                    return
                self._step(index, iteration)
                if self._pause:
                    self._stopping.wait(self._pause)
        except Exception as exc:  # a drill bug must fail the drill, not vanish in a thread
            self._crashes.append(f"thread {index}: {type(exc).__name__}: {exc}")

    def __enter__(self) -> Background:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self, deadline: float = 30.0) -> None:
        """Stop every thread after its current request; a thread that hangs fails the drill."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        end = time.monotonic() + deadline
        for thread in self._threads:
            thread.join(max(0.0, end - time.monotonic()))
        hung = sum(1 for thread in self._threads if thread.is_alive())
        self.report.expect(not hung, f"{hung} load threads still running {deadline:.0f}s on")
        self.report.expect(not self._crashes, f"load threads crashed: {self._crashes[:3]}")


def wait_for_markers(directory: Path, count: int, *, deadline: float) -> bool:
    """Wait until `count` files exist in `directory` (requests of drills/slow_app.py under way)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if len(list(directory.iterdir())) >= count:
            return True
        time.sleep(0.01)
    return False


def sleep_until(moment: float) -> None:
    """Sleep until a monotonic time (not at all when it has passed)."""
    time.sleep(max(0.0, moment - time.monotonic()))


def outage(
    marks: dict[str, float],
    cut: Callable[[], object],
    restore: Callable[[], object],
    *,
    before: float,
    lasting: float,
    after: float,
) -> None:
    """A fault drill's timeline, run under load: `before` seconds in, cut a dependency
    off; leave it so for `lasting` seconds; restore it; then wait `after` seconds more.

    Stamps its moments (monotonic) into `marks`: "start", "cut" (once cut() has
    returned), "restoring" (as restore() is called) and "restored" (once it has
    returned).
    """
    marks["start"] = time.monotonic()
    sleep_until(marks["start"] + before)
    cut()
    marks["cut"] = time.monotonic()
    sleep_until(marks["cut"] + lasting)
    marks["restoring"] = time.monotonic()
    restore()
    marks["restored"] = time.monotonic()
    sleep_until(marks["restored"] + after)


# --------------------------------------------------------------------------- servers


def secret_key() -> str:
    """48 random URL-safe characters."""
    return secrets.token_urlsafe(36)


def app_env(database_url: str, redis_url: str | None = None, **settings: object) -> dict[str, str]:
    """The environment for the app: this process's, minus MYAPP_*/FLASK_*, plus the drill's.

    `settings` are MYAPP_* names without the prefix (RATELIMIT_AUTH="5/day"), or
    DRILL_* (drills/slow_app.py) names in full.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_NOT_INHERITED) and name not in _NOT_INHERITED_NAMES
    }
    env.update(
        MYAPP_SECRET_KEY=secret_key(),
        MYAPP_PASSWORD_HASH_METHOD=FAST_HASH,
        MYAPP_DATABASE_URL=database_url,
        MYAPP_RATELIMIT_DEFAULT=UNLIMITED,
        MYAPP_RATELIMIT_AUTH=UNLIMITED,
        MYAPP_RATELIMIT_AUTH_ACCOUNT=UNLIMITED,
        MYAPP_RATELIMIT_SIGNUP=UNLIMITED,
        PYTHONUNBUFFERED="1",
    )
    if redis_url:
        env["MYAPP_REDIS_URL"] = redis_url
    for name, value in settings.items():
        env[name if name.startswith("DRILL_") else f"MYAPP_{name}"] = str(value)
    return env


def init_db(env: Mapping[str, str]) -> None:
    """Create the schema the way an operator does: `flask --app myapp init-db`."""
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "myapp", "init-db"],
        cwd=REPO,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"init-db failed:\n{done.stdout}{done.stderr}")


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    """A private scratch directory for logs and SQLite files, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="myapp-drill-") as path:
        yield Path(path)


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    """A throwaway redis-server (skipped, or failed in CI, without the binary)."""
    server = RedisServer(find_binary("redis-server", "redis-server"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster (skipped, or failed in CI, without the binaries)."""
    server = PostgresServer(find_postgres_bindir())
    try:
        server.start()
        yield server
    finally:
        server.remove()


@contextlib.contextmanager
def database(kind: str, scratch: Path) -> Iterator[tuple[str, PostgresServer | None]]:
    """A database URL of this kind ("postgresql" or "sqlite"), and its server if any."""
    if kind == "sqlite":
        yield f"sqlite:///{scratch / 'drill.sqlite3'}", None
        return
    if kind != "postgresql":
        raise ValueError(f"unknown database kind {kind!r}: use 'postgresql' or 'sqlite'")
    with postgres_server() as server:
        yield server.url, server


def db_scalar(url: str, sql: str, **params: Any) -> Any:
    """One value from the database, read directly (not through the app)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql), params).scalar()
    finally:
        engine.dispose()


def db_column(url: str, sql: str, **params: Any) -> list[Any]:
    """The first column of every row of a query, read directly."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(sql), params).scalars())
    finally:
        engine.dispose()


class Server:
    """An app server on a free loopback port, its log in a file: what every drill drives.

    `recycle` has the server replace its workers while the drill runs (gunicorn:
    a low max_requests; granian: a SIGHUP, its rolling restart, which is also how
    it ends a worker's lifetime); `graceful_timeout` shortens the time in-flight
    requests get after SIGTERM, `request_timeout` the time one request may take
    (gunicorn's `timeout`; under granian the app's REQUEST_TIMEOUT), `read_timeout`
    the time a request has to arrive (gunicorn's read deadline; under granian its
    header read timeout, as granian has none for bodies).
    """

    #: "gunicorn" or "granian".
    name = ""
    #: Log lines that come with ending a worker for a hung request, the reason first.
    TIMEOUT_LINES: tuple[str, ...] = ()

    def __init__(
        self,
        env: Mapping[str, str],
        scratch: Path,
        app: str = DEFAULT_APP,
        *,
        recycle: bool = False,
        graceful_timeout: int | None = None,
        request_timeout: int | None = None,
        read_timeout: float | None = None,
    ) -> None:
        self.port = free_port()
        self.env = dict(env)
        self.app = app
        self.recycle = recycle
        self.log_path = scratch / f"{self.name}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.configure(graceful_timeout, request_timeout)
        if read_timeout is not None:
            self.set_read_timeout(read_timeout)
        #: The configured worker count.
        self.workers: int = 0
        #: Seconds in-flight requests get after SIGTERM, as configured.
        self.graceful_timeout: int = 0
        #: "syncx5" (gunicorn's worker class), "granian x5", ...
        self.kind = ""
        #: Whether a worker takes requests from several connections and serves them
        #: in turn (granian, gunicorn's gthread), not one connection at a time.
        self.queues_per_worker = False
        #: Whether the server ends a request whose body arrives too slowly.
        self.cuts_slow_bodies = False
        self.read_settings()

    def configure(self, graceful_timeout: int | None, request_timeout: int | None) -> None:
        """Put the bind address and the drill's choices into `self.env`."""
        raise NotImplementedError

    def set_read_timeout(self, seconds: float) -> None:
        """Give a request `seconds` to arrive (what of it, depends on the server)."""
        raise NotImplementedError

    def read_settings(self) -> None:
        """Fill in `workers`, `graceful_timeout`, `kind`, `queues_per_worker` and
        `cuts_slow_bodies`."""
        raise NotImplementedError

    def argv(self) -> list[str]:
        """The server's command line."""
        raise NotImplementedError

    def recycled(self) -> int:
        """How many workers were retired on purpose (recycling) while serving."""
        raise NotImplementedError

    def unplanned_restarts(self) -> int:
        """Workers started to replace one that died, timed out or was killed."""
        raise NotImplementedError

    def graceful_exits(self) -> int:
        """How many workers left by themselves after SIGTERM, not killed at the deadline."""
        raise NotImplementedError

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        """The master's process id."""
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait until GET /health answers 200."""
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv(), cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        client = Client(self.port, timeout=2.0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}"
                )
            # Ready when every worker is up, not just the first one to answer.
            if (
                len(self.worker_pids()) >= self.workers
                and client.request("GET", "/health").status == 200
            ):
                client.close()
                self.started()
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer /health in {timeout:.0f}s:\n{self.tail()}")

    def started(self) -> None:
        """Called once the server answers; starts recycling where the server needs a cue."""

    def run_python(self, code: str) -> Any:
        """The value `code` prints (a literal), run in this server's environment."""
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return ast.literal_eval(done.stdout.strip())

    def terminate(self) -> None:
        """Ask for a graceful shutdown (SIGTERM to the master)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 40.0) -> int | None:
        """Shut down gracefully (killing the master if it does not exit in time); close
        every client of this server."""
        with _CLIENTS_LOCK:
            clients = _CLIENTS.pop(self.port, [])
        for client in clients:
            client.close()
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def log(self) -> str:
        """Everything the server and the app wrote so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 40) -> str:
        """The end of the log."""
        return "\n".join(self.log().splitlines()[-lines:])

    def log_lines(self, *needles: str) -> list[str]:
        """Log lines containing any of the needles."""
        return [line for line in self.log().splitlines() if any(n in line for n in needles)]

    def worker_pids(self) -> list[int]:
        """The master's live child processes."""
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = stat.read_text().rpartition(")")[2].split()
                if int(fields[1]) == self.pid:
                    children.append(int(stat.parent.name))
        return sorted(children)

    def worker_cpu(self) -> dict[int, float]:
        """CPU seconds used so far by each live worker (Linux /proc)."""
        ticks = os.sysconf("SC_CLK_TCK")
        usage = {}
        for pid in self.worker_pids():
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
                usage[pid] = (int(fields[11]) + int(fields[12])) / ticks
        return usage


class Gunicorn(Server):
    """`gunicorn -c gunicorn.conf.py APP`."""

    name = "gunicorn"
    TIMEOUT_LINES = ("WORKER TIMEOUT", "was sent SIGKILL", "exited with code")

    def configure(self, graceful_timeout: int | None, request_timeout: int | None) -> None:
        self.env["GUNICORN_BIND"] = f"127.0.0.1:{self.port}"
        if self.recycle:
            # A low max_requests recycles every worker during a drill, with jitter.
            self.env |= {"GUNICORN_MAX_REQUESTS": "300", "GUNICORN_MAX_REQUESTS_JITTER": "100"}
        if graceful_timeout is not None:
            self.env["GUNICORN_GRACEFUL_TIMEOUT"] = str(graceful_timeout)
        if request_timeout is not None:
            self.env["GUNICORN_TIMEOUT"] = str(request_timeout)

    def set_read_timeout(self, seconds: float) -> None:
        self.env["GUNICORN_READ_TIMEOUT"] = str(seconds)

    def read_settings(self) -> None:
        names = ("workers", "worker_class", "threads", "preload_app", "graceful_timeout")
        config = self.run_python(
            "import runpy; config = runpy.run_path('gunicorn.conf.py'); "
            f"config['worker_class'] = getattr(config['worker_class'], '__name__', "
            "config['worker_class']); "
            f"print(repr({{name: config[name] for name in {names!r}}}))"
        )
        self.workers = config["workers"]
        self.graceful_timeout = config["graceful_timeout"]
        worker_class = config["worker_class"]
        self.kind = f"{worker_class}x{self.workers}"
        self.queues_per_worker = worker_class != "sync"
        self.cuts_slow_bodies = worker_class == "DeadlineWorker"
        if worker_class != "sync":  # the master cannot see a thread: the app's watchdog
            self.TIMEOUT_LINES = ("ran past REQUEST_TIMEOUT", "exited with code")
        if worker_class != "sync":
            self.kind += f"x{config['threads']}t"
        if config["preload_app"]:
            self.kind += "+preload"

    def argv(self) -> list[str]:
        config = str(REPO / "gunicorn.conf.py")
        return [sys.executable, "-m", "gunicorn", "-c", config, f"{self.app}()"]

    def worker_boots(self) -> int:
        """How many workers have booted (the initial ones plus every replacement)."""
        return len(self.log_lines("Booting worker with pid"))

    def recycled(self) -> int:
        # Counted from "Worker exiting" (logged once per worker that leaves its loop),
        # not from "Autorestarting", which gthread's threads can log twice.
        return len(self.log_lines("Worker exiting (pid:"))

    def unplanned_restarts(self) -> int:
        # gunicorn logs no reason for a replacement: count the boots beyond the
        # first workers and the recycled ones. A retiring worker logs before its
        # replacement boots, so give the boot a moment.
        deadline = time.monotonic() + 10
        while self.worker_boots() < self.workers + self.recycled():
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        return self.worker_boots() - self.workers - self.recycled()

    def graceful_exits(self) -> int:
        return len(self.log_lines("Worker exiting"))


class Granian(Server):
    """`python serve.py APP`: granian with the settings in serve.py."""

    name = "granian"
    TIMEOUT_LINES = ("ran past REQUEST_TIMEOUT", "Unexpected exit from worker-")
    #: Seconds between SIGHUPs while recycling: longer than a rolling restart takes.
    RECYCLE_EVERY = 8.0

    def configure(self, graceful_timeout: int | None, request_timeout: int | None) -> None:
        self.env |= {"GRANIAN_HOST": "127.0.0.1", "GRANIAN_PORT": str(self.port)}
        if self.recycle:
            # Each new worker loads the app in about 1.3 s of CPU; wait that long
            # before stopping the old one, not serve.py's production 3.5 s.
            self.env["GRANIAN_RESPAWN_INTERVAL"] = "1.5"
        if graceful_timeout is not None:
            self.env["GRANIAN_WORKERS_KILL_TIMEOUT"] = str(graceful_timeout)
        if request_timeout is not None:
            self.env["MYAPP_REQUEST_TIMEOUT"] = str(request_timeout)
        self._recycling = threading.Event()

    def set_read_timeout(self, seconds: float) -> None:
        self.env["GRANIAN_HTTP1_HEADER_READ_TIMEOUT"] = str(round(seconds * 1000))

    def read_settings(self) -> None:
        config = self.run_python("import serve; print(repr(serve.settings()))")
        self.workers = config["workers"]
        self.graceful_timeout = config["workers_kill_timeout"]
        self.kind = f"granian x{self.workers}"
        self.queues_per_worker = True

    def argv(self) -> list[str]:
        return [sys.executable, str(REPO / "serve.py"), self.app]

    def started(self) -> None:
        if self.recycle:
            threading.Thread(target=self._hang_up, name="drill-recycle", daemon=True).start()

    def _hang_up(self) -> None:
        # SIGHUP replaces every worker, one at a time: the path a worker's lifetime takes.
        while not self._recycling.wait(1.0):
            if self.proc is None or self.proc.poll() is not None:
                return
            self.proc.send_signal(signal.SIGHUP)
            if self._recycling.wait(self.RECYCLE_EVERY):
                return

    def stop(self, timeout: float = 40.0) -> int | None:
        self._recycling.set()
        return super().stop(timeout)

    def recycled(self) -> int:
        # granian logs "Respawning" for a recycled worker and for one that died.
        return len(self.log_lines("Respawning worker-")) - self.unplanned_restarts()

    def unplanned_restarts(self) -> int:
        return len(self.log_lines("Unexpected exit from worker-"))

    def graceful_exits(self) -> int:
        return len(self.log_lines("Stopped worker-")) - len(self.log_lines("Killing worker-"))


SERVERS: dict[str, type[Server]] = {"gunicorn": Gunicorn, "granian": Granian}


def server_class() -> type[Server]:
    """The server DRILL_SERVER names (gunicorn unless it says granian): build it, then start it."""
    name = os.environ.get(SERVER_VARIABLE, "gunicorn")
    if name not in SERVERS:
        raise ValueError(f"{SERVER_VARIABLE}={name!r}: choose one of {', '.join(SERVERS)}")
    return SERVERS[name]


def busy_workers(before: Mapping[int, float], after: Mapping[int, float]) -> str:
    """`busy/total`: workers that used at least 50 ms of CPU between two samples."""
    busy = sum(1 for pid, cpu in after.items() if cpu - before.get(pid, 0.0) >= 0.05)
    return f"{busy}/{len(after)}"


def check_log(report: Report, server: Server, *, allowed: Iterable[str] = ()) -> None:
    """No traceback, error line or worker timeout in the server's log (bar `allowed` ones).

    Each trouble spot goes into the report's notes: the line, and for a traceback
    the project's own frames in it and the exception it ended with.
    """
    allowed = tuple(allowed)
    lines = server.log().splitlines()
    spots = []
    i = 0
    while i < len(lines):
        line = lines[i]
        end = i + 1
        if line.startswith("Traceback"):
            # A chained traceback runs until the next log record ("{..." or "[...").
            while end < len(lines) and not lines[end].startswith(("{", "[")):
                end += 1
        if any(needle in line for needle in TROUBLE) and not any(a in line for a in allowed):
            spots.append(_excerpt(lines[i:end]) if end > i + 1 else line[:1000])
        i = end
    report.expect(not spots, f"{len(spots)} trouble spots in the {server.name} log")
    for spot in spots[:6]:
        report.note(f"log: {spot}")
    # A silent app log would make this check pass for nothing.
    report.expect(
        any(line.startswith("{") for line in lines),
        f"the app wrote no JSON log line under {server.name}: its logging is not working",
    )


def _excerpt(block: list[str]) -> str:
    """A traceback in one line: our frames (myapp/, drills/) and the final exception."""
    ours = []
    for n, line in enumerate(block):
        if line.lstrip().startswith("File ") and ("/myapp/" in line or "/drills/" in line):
            code = block[n + 1].strip() if n + 1 < len(block) else ""
            ours.append(f"{line.strip()}: {code}")
    final = next(
        (line for line in reversed(block) if line and not line[0].isspace() and line[0] != "("),
        "",
    )
    return " | ".join(["Traceback", *dict.fromkeys(ours), final.strip()])[:1500]


# --------------------------------------------------------------------------- running


def run_drill(run: Callable[[], Report], name: str) -> Report:
    """Run a drill; a missing server binary makes a skipped report, a crash a failed one."""
    try:
        return run()
    except pytest.skip.Exception as exc:
        report = Report(name)
        report.skipped = str(exc)
        report.note(f"skipped: {exc}")
        return report.finish()
    except Exception:
        report = Report(name)
        report.expect(False, f"the drill itself crashed:\n{traceback.format_exc()}")
        return report.finish()


def main(run: Callable[[], Report], name: str) -> None:
    """`python -m drills.NAME`: run one drill, print its report, exit 1 when it failed."""
    report = run_drill(run, name)
    print(report.explain(), flush=True)
    sys.exit(0 if report.ok else 1)
