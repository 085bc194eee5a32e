"""Serve the app with granian: `python serve.py [MODULE:FACTORY]` (default myapp:create_app).

granian is a WSGI server written in Rust. It keeps connections alive and parses
HTTP outside the interpreter, and in the framework benchmark it served myapp
about twice as fast as gunicorn's sync workers. The drills run against it as
well as against gunicorn (`tox -e drills-granian`). The app reads its own MYAPP_*
environment; this script reads these GRANIAN_* names (the ones granian's own
command line reads) for the server:

    GRANIAN_HOST, GRANIAN_PORT        127.0.0.1, 8000
    GRANIAN_WORKERS                   cores
    GRANIAN_BLOCKING_THREADS          16 per worker
    GRANIAN_HTTP1_HEADER_READ_TIMEOUT 10000 milliseconds for a request's headers
    GRANIAN_WORKERS_KILL_TIMEOUT      20 seconds
    GRANIAN_WORKERS_LIFETIME          3600 seconds (at least 60)
    GRANIAN_RESPAWN_INTERVAL          3.5 seconds
    GRANIAN_LOG_LEVEL                 info

and sets MYAPP_REQUEST_TIMEOUT to 30 seconds unless it is set. With metrics on
(MYAPP_METRICS_TOKEN), the workers keep their counts in PROMETHEUS_MULTIPROC_DIR
(a new temporary directory unless it is set), emptied first. The app is built
once in this process first, so that a configuration it refuses (no SECRET_KEY)
stops the server with its message before any worker starts.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

DEFAULT_TARGET = "myapp:create_app"


# gunicorn.conf.py reads its GUNICORN_* settings with env_int and cores too.
def env_int(environ: Mapping[str, str], name: str, default: int) -> int:
    """The integer in `environ[name]`, `default` when unset or blank; exits on anything else."""
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise SystemExit(f"{name}={text!r} is not an integer") from None


def env_float(environ: Mapping[str, str], name: str, default: float) -> float:
    """The number in `environ[name]`, `default` when unset or blank; exits on anything else."""
    text = environ.get(name, "").strip()
    try:
        return float(text) if text else default
    except ValueError:
        raise SystemExit(f"{name}={text!r} is not a number") from None


def cores() -> int:
    """The cores this process may run on (a container's CPU set), not the host's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def settings(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """granian's keyword arguments for this environment (the drills read them too)."""
    return {
        "address": environ.get("GRANIAN_HOST", "127.0.0.1"),
        "port": env_int(environ, "GRANIAN_PORT", 8000),
        # One per core, as granian advises (it warns about more workers than cores).
        "workers": env_int(environ, "GRANIAN_WORKERS", cores()),
        # Python threads per worker. Each request runs on one, and one whose body
        # trickles in holds its thread while it waits (granian has no deadline for
        # bodies: emmett-framework/granian#728, closed as won't fix), so there are
        # enough to wait on slow clients and still serve everyone else; they share
        # the worker's interpreter lock, so more add waiting room, not speed. At
        # 1, two clients sending one body byte a second stopped a two-worker
        # server. Keep a buffering proxy in front all the same (README, "Slow
        # clients"). granian's backpressure counts connections, not requests: at
        # 1, an idle kept-alive connection locked its worker against every other
        # client, so it stays at granian's default (backlog / workers).
        "blocking_threads": env_int(environ, "GRANIAN_BLOCKING_THREADS", 16),
        "runtime_threads": 1,
        # A worker that exits (the request watchdog ends one) is replaced at once.
        # granian itself stops if the same worker exits again within 5.5 s.
        "respawn_failed_workers": True,
        # Milliseconds a client has to send a request's headers, counted from the
        # connection or the previous response; then granian closes it. Slow
        # headers cost no Python thread: granian reads them outside the interpreter.
        "http1_header_read_timeout": env_int(environ, "GRANIAN_HTTP1_HEADER_READ_TIMEOUT", 10_000),
        # After SIGTERM (or SIGHUP, or a worker's lifetime) in-flight requests get
        # this long before their worker is killed: gunicorn's graceful_timeout.
        "workers_kill_timeout": env_int(environ, "GRANIAN_WORKERS_KILL_TIMEOUT", 20),
        # Workers are replaced one at a time after this long, so a slow leak stays
        # small (gunicorn's max_requests; granian counts time, not requests). Each
        # new worker gets this long to load the app before the old one stops.
        "workers_lifetime": env_int(environ, "GRANIAN_WORKERS_LIFETIME", 3600),
        "respawn_interval": env_float(environ, "GRANIAN_RESPAWN_INTERVAL", 3.5),
        # The app writes one JSON line per request itself.
        "log_access": False,
        "log_level": environ.get("GRANIAN_LOG_LEVEL", "info"),
        "websockets": False,
    }


def prepare_metrics(environ: MutableMapping[str, str] = os.environ) -> None:
    """With metrics on, one directory where every worker keeps its counts, emptied.

    A scrape sums the files there (prometheus_client's multiprocess mode); the
    counts of an earlier run would be summed too. prometheus_client reads the
    variable when it is imported, so this runs before the app is.
    """
    if not environ.get("MYAPP_METRICS_TOKEN"):
        return
    directory = environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="myapp-metrics-")
    Path(directory).mkdir(parents=True, exist_ok=True)
    for stale in Path(directory).glob("*.db"):
        stale.unlink()
    environ["PROMETHEUS_MULTIPROC_DIR"] = directory


def check_app(target: str) -> None:
    """Build the app once here, and exit with its message if it cannot start.

    Without this a refused configuration shows only in the workers, which the
    server starts again and again while nothing answers.
    """
    from importlib import import_module

    module, _, name = target.partition(":")
    try:
        app = getattr(import_module(module), name.removesuffix("()"))()
    except Exception as exc:
        raise SystemExit(f"the app {target} cannot start: {type(exc).__name__}: {exc}") from None
    del app  # it only had to start; each worker builds its own
    from myapp.core.logs import stop_logging

    stop_logging()  # the log writer thread it started: no worker inherits it


def main(argv: list[str]) -> None:
    """Start granian on the app factory named on the command line (or myapp's)."""
    from granian import Granian
    from granian.constants import Interfaces, RuntimeModes
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    if len(argv) > 1:
        raise SystemExit(f"usage: python serve.py [MODULE:FACTORY] (default {DEFAULT_TARGET})")
    target = argv[0] if argv else DEFAULT_TARGET
    # granian has no request timeout (emmett-framework/granian#177), so the app keeps
    # one: a request past it ends its worker, which granian replaces.
    os.environ.setdefault("MYAPP_REQUEST_TIMEOUT", "30")
    options = settings()
    prepare_metrics()
    check_app(target)
    options["log_level"] = LogLevels(options["log_level"])
    header_read_timeout = options.pop("http1_header_read_timeout")
    options["http1_settings"] = HTTP1Settings(header_read_timeout=header_read_timeout)
    Granian(
        target,
        interface=Interfaces.WSGI,
        factory=True,
        runtime_mode=RuntimeModes.st,
        **options,
    ).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
