"""The request watchdog: a request past REQUEST_TIMEOUT is logged and its process ended."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import create_environ

from myapp.core.request import READING_BODY
from myapp.core.watchdog import EXIT_STATUS, Watchdog

ROOT = Path(__file__).resolve().parents[2]
LOGGER = logging.getLogger("tests.watchdog")
TIMEOUT = 5.0
WATCHER = "myapp-watchdog"


class FakeClock:
    """A clock set by hand: the test thread reads `checked`, every other thread `served`.

    The first request through a Watchdog starts its real watcher thread, which calls
    check() every so often. It reads `served`, which the tests never move past a
    deadline, so only the test's own check() can find a request overdue.
    """

    def __init__(self) -> None:
        self.test_thread = threading.get_ident()
        self.served = 0.0
        self.checked = 0.0

    def __call__(self) -> float:
        return self.checked if threading.get_ident() == self.test_thread else self.served


class Ending:
    """Stands in for ending the process, and counts the times it was asked to."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


class HeldApp:
    """A WSGI app that holds each request until released, then answers or raises."""

    def __init__(self, error: Exception | None = None) -> None:
        self.arrivals = threading.Semaphore(0)
        self.release = threading.Event()
        self.error = error

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        self.arrivals.release()
        self.release.wait(5)
        if self.error is not None:
            raise self.error
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]


class InFlight(threading.Thread):
    """One request sent on a thread of its own, as a threaded server would run it."""

    def __init__(self, send: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.send = send
        self.result: Any = None
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            self.result = self.send()
        except Exception as error:
            self.error = error


def call_wsgi(wsgi_app: Callable[..., Any], method: str, path: str) -> bytes:
    """Serve one request straight through a WSGI callable and return the body."""
    environ = create_environ(path, method=method)
    return b"".join(wsgi_app(environ, lambda status, headers, exc_info=None: None))


def start(send: Callable[[], Any], arrivals: threading.Semaphore) -> InFlight:
    """Send a request on its own thread and return once the app is holding it."""
    request = InFlight(send)
    request.start()
    assert arrivals.acquire(timeout=5), "the request never reached the app"
    return request


def finish(release: threading.Event, *requests: InFlight) -> None:
    """Let the held requests go and wait for their threads."""
    release.set()
    for request in requests:
        request.join(5)
        assert not request.is_alive()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ending() -> Ending:
    return Ending()


@pytest.fixture
def watch(clock, ending):
    """Wrap a WSGI app in a Watchdog on the fake clock that counts instead of exiting."""

    def wrap(wsgi_app: Callable[..., Any]) -> Watchdog:
        return Watchdog(wsgi_app, TIMEOUT, LOGGER, end=ending, clock=clock)

    return wrap


@pytest.fixture
def no_timeout_in_environment(monkeypatch):
    monkeypatch.delenv("MYAPP_REQUEST_TIMEOUT", raising=False)


def critical_messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]


# -- Turned on by configuration -------------------------------------------------------


@pytest.mark.usefixtures("no_timeout_in_environment")
@pytest.mark.parametrize("settings", [{}, {"REQUEST_TIMEOUT": 0}], ids=["unset", "zero"])
def test_off_unless_a_timeout_is_set(make_app, settings):
    app = make_app(**settings)

    assert app.config["REQUEST_TIMEOUT"] == 0
    assert not isinstance(app.wsgi_app, Watchdog)


@pytest.mark.usefixtures("no_timeout_in_environment")
def test_a_positive_timeout_wraps_the_app(make_app):
    app = make_app(REQUEST_TIMEOUT=0.3)

    assert isinstance(app.wsgi_app, Watchdog)
    assert app.wsgi_app.timeout == 0.3
    assert app.wsgi_app.logger is app.logger


@pytest.mark.parametrize(("text", "expected"), [("2.5", 2.5), ("3", 3.0)])
def test_timeout_from_the_environment_is_a_float(make_app, monkeypatch, text, expected):
    monkeypatch.setenv("MYAPP_REQUEST_TIMEOUT", text)

    app = make_app()

    assert type(app.config["REQUEST_TIMEOUT"]) is float
    assert app.config["REQUEST_TIMEOUT"] == expected
    assert isinstance(app.wsgi_app, Watchdog)
    assert app.wsgi_app.timeout == expected


@pytest.mark.parametrize("timeout", [0, 0.0, -1.5])
def test_timeout_must_be_positive(timeout):
    with pytest.raises(ValueError, match="positive number of seconds"):
        Watchdog(HeldApp(), timeout, LOGGER)


# -- check(): which requests are overdue ----------------------------------------------


def test_check_with_nothing_in_flight(watch, clock, ending, caplog):
    watchdog = watch(HeldApp())
    clock.checked = 1e9

    assert watchdog.check() is False
    assert ending.calls == 0
    assert critical_messages(caplog) == []


def test_check_within_the_deadline(watch, clock, ending, caplog):
    held = HeldApp()
    watchdog = watch(held)
    request = start(lambda: call_wsgi(watchdog, "GET", "/slow"), held.arrivals)
    try:
        clock.checked = TIMEOUT - 0.1
        assert watchdog.check() is False
    finally:
        finish(held.release, request)

    assert ending.calls == 0
    assert critical_messages(caplog) == []
    assert request.result == b"done"


def test_check_past_the_deadline_ends_the_process(watch, clock, ending, caplog):
    held = HeldApp()
    watchdog = watch(held)
    request = start(lambda: call_wsgi(watchdog, "DELETE", "/slow/7"), held.arrivals)
    try:
        clock.checked = TIMEOUT + 0.1
        assert watchdog.check() is True
        assert ending.calls == 1
    finally:
        finish(held.release, request)

    [message] = critical_messages(caplog)
    assert "REQUEST_TIMEOUT (5s)" in message
    assert "DELETE /slow/7" in message
    assert "request id" not in message  # a bare WSGI environ has no request object
    assert f"(pid {os.getpid()})" in message


class BodyWaitApp(HeldApp):
    """Holds each request as if its body were still on its way, as read_body marks it."""

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        environ[READING_BODY] = True
        try:
            self.arrivals.release()
            self.release.wait(5)
        finally:
            del environ[READING_BODY]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]


def test_a_request_waiting_for_its_body_is_not_ended(watch, clock, ending, caplog):
    """A client that trickles its body is slow, not the app: the server's read deadline
    answers that, and ending the worker would end its other requests too."""
    held = BodyWaitApp()
    watchdog = watch(held)
    request = start(lambda: call_wsgi(watchdog, "POST", "/upload"), held.arrivals)
    try:
        clock.checked = TIMEOUT * 10
        assert watchdog.check() is False
    finally:
        finish(held.release, request)

    assert ending.calls == 0
    assert critical_messages(caplog) == []


def test_overdue_request_is_named_with_its_request_id(make_app, watch, clock, ending, caplog):
    app = make_app()
    held = HeldApp()

    @app.post("/v1/held")
    def held_view():
        held.arrivals.release()
        held.release.wait(5)
        return {"held": True}

    app.wsgi_app = watch(app.wsgi_app)
    client = app.test_client()
    request = start(
        lambda: client.post("/v1/held", headers={"X-Request-ID": "req-overdue-7"}),
        held.arrivals,
    )
    try:
        clock.checked = TIMEOUT + 0.1
        assert app.wsgi_app.check() is True
    finally:
        finish(held.release, request)

    assert ending.calls == 1
    [message] = critical_messages(caplog)
    assert "POST /v1/held (request id req-overdue-7)" in message
    assert request.result.status_code == 200
    assert request.result.headers["X-Request-ID"] == "req-overdue-7"


def test_only_the_overdue_requests_are_named(watch, clock, ending, caplog):
    held = HeldApp()
    watchdog = watch(held)
    early = start(lambda: call_wsgi(watchdog, "GET", "/early"), held.arrivals)
    clock.served = 3.0  # the second request arrives 3 s later: its deadline is 8
    late = start(lambda: call_wsgi(watchdog, "GET", "/late"), held.arrivals)
    try:
        clock.checked = TIMEOUT + 1.0
        assert watchdog.check() is True
    finally:
        finish(held.release, early, late)

    assert ending.calls == 1
    [message] = critical_messages(caplog)
    assert "GET /early" in message
    assert "/late" not in message


@pytest.mark.parametrize("error", [None, RuntimeError("the view failed")], ids=["ok", "raised"])
def test_a_finished_request_is_no_longer_in_flight(watch, clock, ending, error):
    held = HeldApp(error)
    watchdog = watch(held)
    request = start(lambda: call_wsgi(watchdog, "GET", "/slow"), held.arrivals)
    clock.checked = 1e9
    try:
        assert watchdog.check() is True  # overdue while held ...
    finally:
        finish(held.release, request)

    assert request.error is error  # the app's exception reached the server unchanged
    assert watchdog.check() is False  # ... and forgotten once it ended
    assert ending.calls == 1


# -- The watcher thread ---------------------------------------------------------------


def watchers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == WATCHER}


def test_the_first_request_starts_one_watcher(watch):
    watchdog = watch(lambda environ, start_response: [b"ok"])
    before = watchers()

    assert call_wsgi(watchdog, "GET", "/one") == b"ok"
    started = watchers() - before
    for path in ("/two", "/three"):
        call_wsgi(watchdog, "GET", path)
    other = InFlight(lambda: call_wsgi(watchdog, "GET", "/four"))
    other.start()
    other.join(5)

    assert len(started) == 1
    [watcher] = started
    assert watcher.daemon
    assert watcher.is_alive()
    assert watchers() - before == started


def test_first_requests_arriving_together_start_one_watcher():
    """Eight threads send a fresh Watchdog its first request at once, three times over."""
    for _ in range(3):
        watchdog = Watchdog(
            lambda environ, start_response: [b"ok"],
            TIMEOUT,
            LOGGER,
            end=Ending(),
            clock=FakeClock(),
        )
        barrier = threading.Barrier(8)

        def send(watchdog: Watchdog = watchdog, barrier: threading.Barrier = barrier) -> bytes:
            barrier.wait(5)
            return call_wsgi(watchdog, "GET", "/together")

        before = watchers()
        requests = [InFlight(send) for _ in range(8)]
        for request in requests:
            request.start()
        for request in requests:
            request.join(5)

        assert [r.result for r in requests] == [b"ok"] * 8
        assert len(watchers() - before) == 1


# -- End to end, in a process of its own ----------------------------------------------

SERVE_ONE_REQUEST = """
import sys, threading, time
from myapp import create_app

database_url, seconds = sys.argv[1], float(sys.argv[2])
app = create_app({
    "TESTING": True,
    "DATABASE_URL": database_url,
    "ACCESS_LOG": False,
    "LOG_FORMAT": "json",
    "REQUEST_TIMEOUT": 0.3,
})

@app.get("/sleep")
def sleep():
    time.sleep(seconds)
    return {"slept": seconds}

response = app.test_client().get("/sleep", headers={"X-Request-ID": "req-sleepy"})
time.sleep(0.6)  # the watcher looks at the finished request a dozen times
watchers = [t for t in threading.enumerate() if t.name == "myapp-watchdog"]
print(response.status_code, len(watchers))
"""


def serve_one_request(tmp_path: Path, seconds: float) -> subprocess.CompletedProcess[str]:
    """Run an app with REQUEST_TIMEOUT=0.3 in a new process; its view sleeps `seconds`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MYAPP_", "FLASK_"))}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            SERVE_ONE_REQUEST,
            f"sqlite:///{tmp_path / 'watchdog.sqlite3'}",
            str(seconds),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=8,
        check=False,
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_a_stuck_request_ends_the_process(tmp_path):
    done = serve_one_request(tmp_path, seconds=10)

    assert done.returncode == EXIT_STATUS, done.stderr
    assert done.stdout == ""  # the request never returned
    [entry] = [e for e in json_lines(done.stderr) if e["level"] == "CRITICAL"]
    assert entry["logger"] == "myapp"
    assert "REQUEST_TIMEOUT (0.3s)" in entry["message"]
    assert "GET /sleep (request id req-sleepy)" in entry["message"]


def test_a_request_in_time_leaves_the_process_alone(tmp_path):
    done = serve_one_request(tmp_path, seconds=0.05)

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["200", "1"]  # answered, with the watcher running
    assert "CRITICAL" not in done.stderr


def test_a_negative_timeout_stops_start_up(make_app: Callable[..., Any]) -> None:
    """A negative REQUEST_TIMEOUT is a mistake to report, not a way to turn it off."""
    with pytest.raises(ValueError, match="positive"):
        make_app(REQUEST_TIMEOUT=-1)
