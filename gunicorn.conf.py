"""Gunicorn settings for production: `gunicorn -c gunicorn.conf.py 'myapp:create_app()'`.

The app reads its own MYAPP_* environment; this file reads GUNICORN_* for the
server. Every value below can be overridden without editing the file:

    GUNICORN_BIND            127.0.0.1:8000 (several: comma-separated)
    GUNICORN_WORKERS         2 * cores + 1
    GUNICORN_THREADS         16 per worker
    GUNICORN_READ_TIMEOUT    10 seconds for a request's headers and body to arrive
    GUNICORN_WORKER_CLASS    deadline (gthread with the read deadline; or sync, gthread)
    GUNICORN_TIMEOUT         30 seconds (also the app's MYAPP_REQUEST_TIMEOUT)
    GUNICORN_GRACEFUL_TIMEOUT 20 seconds
    GUNICORN_MAX_REQUESTS    10000, plus up to GUNICORN_MAX_REQUESTS_JITTER (1000)
    GUNICORN_LOGLEVEL        info

The figures behind these choices come from the drills (`python -m drills`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

# GUNICORN_* values are parsed, and the cores counted, by serve.py's code for
# granian. gunicorn reads this file before it moves to --chdir, so serve.py is
# looked for next to this file, not in whichever directory gunicorn started in.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve import check_app, cores, env_float, env_int, prepare_metrics

bind = [
    address.strip()
    for address in os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")
    if address.strip()
]

# Each request is a few milliseconds of Python plus waits on PostgreSQL and
# Redis, so twice the cores keeps them busy while others wait; one more covers
# a worker that is restarting.
workers = env_int(os.environ, "GUNICORN_WORKERS", 2 * cores() + 1)

# Threads, not sync workers: a sync worker belongs to one connection until its
# request has arrived, so a few clients that trickle their headers or body hold
# every worker while everyone else times out (two did it, at 1 byte a second).
# gthread waits for a connection's first bytes without a thread (5 s, then its
# poller), and a thread reads the request once bytes come. Each slow client then
# holds one thread of one worker, and the read deadline below ends it; the
# slow-clients drill holds 4 x workers of them while normal traffic runs.
# Threads share their worker's interpreter lock, so they add waiting room, not
# speed. Against sync (wrk, 32 kept-alive connections, 5 workers, two rounds)
# they served more (POST /v1/calc/add 7,100-7,300 req/s against 5,900-6,100)
# with higher tails (GET /health p99 28-30 ms against 11-14 ms): a kept-alive
# connection stays with one worker. GUNICORN_WORKER_CLASS=sync brings back the
# old behaviour, for use only behind a proxy that buffers whole requests
# (README, "Slow clients").
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "deadline")
threads = env_int(os.environ, "GUNICORN_THREADS", 1 if worker_class == "sync" else 16)

# Seconds a request has to arrive in full, headers and body, once a thread has
# taken its connection. gunicorn itself has no such deadline: a thread reading
# a request that trickles in waits as long as the client keeps sending.
read_timeout = env_float(os.environ, "GUNICORN_READ_TIMEOUT", 10.0)


class DeadlineWorker(ThreadWorker):  # type: ignore[misc]
    """gthread, with a deadline on reading each request.

    A thread of the worker watches the requests being served; one that has not
    finished within `read_timeout` of its thread taking it has its connection shut
    for reading. A read still waiting for the client then ends at once: gunicorn
    drops a request whose headers were cut short, and the app answers one whose
    body was with a 400 problem, then the connection closes. The answer of a
    request that did arrive in time can still be written; its connection is just
    not kept alive.
    """

    def init_process(self) -> None:
        #: Thread id -> (deadline, connection) for each request being served.
        self.reading: dict[int, tuple[float, Any]] = {}
        threading.Thread(target=self.cut_late_readers, name="read-deadline", daemon=True).start()
        super().init_process()

    def handle(self, conn: Any) -> Any:
        thread = threading.get_ident()
        self.reading[thread] = (time.monotonic() + read_timeout, conn)
        try:
            return super().handle(conn)
        finally:
            del self.reading[thread]

    def cut_late_readers(self) -> None:
        while True:
            time.sleep(min(0.25, read_timeout / 10))
            now = time.monotonic()
            for thread, entry in list(self.reading.items()):
                deadline, conn = entry
                if now > deadline and self.reading.get(thread) is entry:
                    self.reading[thread] = (float("inf"), conn)  # once
                    with contextlib.suppress(OSError):  # closed meanwhile
                        conn.sock.shutdown(socket.SHUT_RD)


if worker_class == "deadline":
    worker_class = DeadlineWorker

# A worker silent this long is killed. It must exceed the longest legitimate
# request: a hung Redis costs 0.4 s, a PostgreSQL connection at most 3 s to
# wait for the pool plus 3 s to connect, a SQLite writer 5 s for the lock.
timeout = env_int(os.environ, "GUNICORN_TIMEOUT", 30)
# The master sees a worker's main loop, not its threads: under gthread a stuck
# request in a thread is ended by the app's own watchdog (myapp/core/watchdog.py),
# which ends its worker as the master would.
if worker_class != "sync":
    os.environ.setdefault("MYAPP_REQUEST_TIMEOUT", str(timeout))


def worker_abort(worker: object) -> None:
    """End a timed-out worker at once, so its request is dropped rather than answered.

    The master sends SIGABRT to a worker past `timeout`; left to itself the
    worker raises SystemExit inside the stuck request and gunicorn answers it
    with its own HTML 500 page, which no JSON client expects. The hung-request
    drill (`python -m drills hung`) caught that. Ending the process here drops
    the connection instead, as the app's watchdog does under granian.
    """
    from myapp.core.watchdog import end_process

    end_process()


# After SIGTERM (a deploy), in-flight requests get this long to finish. It is
# above every dependency timeout, and below the 30 s after which Kubernetes
# sends SIGKILL (raise `docker stop --time`, 10 s by default, to match).
graceful_timeout = env_int(os.environ, "GUNICORN_GRACEFUL_TIMEOUT", 20)
# Seconds a kept-alive connection may idle (gthread only; sync closes each one).
keepalive = env_int(os.environ, "GUNICORN_KEEPALIVE", 5)

# Recycle each worker after this many requests, so a slow leak stays small; the
# jitter staggers the restarts so the workers never all restart at once. A new
# worker spends about 1.3 s of CPU importing the app (no preload, below), so at
# 1000 requests a busy server restarted a worker every half second (the framework
# benchmark saw /ping drop from 2,349 to 651 req/s); 10000 keeps that rare.
max_requests = env_int(os.environ, "GUNICORN_MAX_REQUESTS", 10000)
max_requests_jitter = env_int(os.environ, "GUNICORN_MAX_REQUESTS_JITTER", 1000)

# Off: every worker builds its own app after the fork, so nothing the app
# opens (a database or Redis connection, a pool, a lock, a thread) is ever
# shared between processes. That rules out more than connections: create_app
# starts the log-writer thread (myapp/core/logs.py), and a forked worker would
# inherit its queue but not the thread, so with preload the workers' request
# and error logs silently vanish (checked: zero JSON lines). The price, measured
# by the load drill, is ~1.3 s of CPU per (re)started worker while the others
# carry its load: with every worker recycled once, the slowest request took
# 1.5-2.4 s, against 0.2-0.7 s preloaded. Preloading would need the app to
# restart its writer thread in each worker (os.register_at_fork), and then a
# post_fork hook disposing the engine and the Redis pool.
preload_app = False

# The app logs one JSON line per request itself; gunicorn's access log would
# be a second, unstructured line on the hot path.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")

# The heartbeat file lives in memory: a disk-backed /tmp can stall the
# heartbeat and get healthy workers killed (gunicorn's FAQ).
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# Proxy headers are trusted by the app alone (MYAPP_TRUSTED_PROXY_HOPS, through
# Werkzeug's ProxyFix); gunicorn's own default would also believe
# X-Forwarded-Proto from any local process.
forwarded_allow_ips = ""

# gunicorn's control socket (for `gunicornc`) defaults to one path per user, so
# two servers on a host would take it from each other. Opt in with a path.
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
else:
    control_socket_disable = True

proc_name = "myapp"


def on_starting(server: object) -> None:
    """Build the app once in the master, so a refused configuration stops gunicorn at once.

    First, with metrics on, the directory the workers keep their counts in (serve.py).
    """
    prepare_metrics()
    check_app(getattr(getattr(server, "app", None), "app_uri", None) or "myapp:create_app")
