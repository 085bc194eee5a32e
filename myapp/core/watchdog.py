"""A request timeout inside the app: a worker with a request past it ends, and its server
starts a fresh one.

gunicorn's sync workers get this from the master (`timeout` in gunicorn.conf.py).
granian has no request timeout of its own (its maintainers declined one,
emmett-framework/granian#177) but replaces a worker that exits, so serve.py turns
this on. A thread in each worker process looks at the requests in flight; when
one has run past REQUEST_TIMEOUT it logs the request at CRITICAL, writes out the
queued log lines and ends the process at once. The database rolls back whatever
the request had not committed, as it does when gunicorn kills a worker.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from logging import Logger
from typing import Any

from flask import Flask

from myapp.core.logs import stop_logging
from myapp.core.request import READING_BODY

#: The exit status of a worker ended by the watchdog: EX_SOFTWARE. Not 3 or 4,
#: which tell gunicorn's master that the app cannot boot, and stop it.
EXIT_STATUS = 70


def end_process() -> None:
    """Write out the queued log lines, then end this process at once with EXIT_STATUS.

    No cleanup runs, so a stuck request gets no answer (its client sees the
    connection drop) and whatever it had not committed is rolled back by the
    database. gunicorn.conf.py ends a timed-out worker the same way.
    """
    # The log lines first (the writer thread is joined), but never wait on a
    # stuck stderr for long: the point is to end a worker that is stuck.
    writer = threading.Thread(target=stop_logging, daemon=True)
    writer.start()
    writer.join(2.0)
    os._exit(EXIT_STATUS)


def describe(environ: dict[str, Any]) -> str:
    """The request as METHOD /path, with the request id its responses and logs carry."""
    request = environ.get("werkzeug.request")  # the request object, while it is in flight
    request_id = getattr(request, "request_id", None)
    described = f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"
    return f"{described} (request id {request_id})" if request_id else described


class Watchdog:
    """WSGI middleware: ends the process when a request runs longer than `timeout` seconds.

    A request counts until the app returns its response; a streamed body is not
    timed (the API's JSON bodies are never streamed). A request is never ended
    while it waits for its own body: that is the client being slow, which a
    server's read deadline answers (gunicorn.conf.py), and ending the worker
    would end every other request it serves too.
    """

    def __init__(
        self,
        wsgi_app: Callable[..., Iterable[bytes]],
        timeout: float,
        logger: Logger,
        *,
        end: Callable[[], None] = end_process,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout <= 0:
            raise ValueError("the request timeout must be a positive number of seconds")
        self.wsgi_app = wsgi_app
        self.timeout = timeout
        self.logger = logger
        self._end = end
        self._clock = clock
        #: Thread id -> (deadline, environ): a WSGI thread serves one request at a time.
        self._in_flight: dict[int, tuple[float, dict[str, Any]]] = {}
        self._watcher_pid: int | None = None
        self._start_lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if self._watcher_pid != os.getpid():
            self._start_watcher()
        thread = threading.get_ident()
        self._in_flight[thread] = (self._clock() + self.timeout, environ)
        try:
            return self.wsgi_app(environ, start_response)
        finally:
            del self._in_flight[thread]

    def _start_watcher(self) -> None:
        # Started by the first request in each process, so a server that forks its
        # workers after loading the app still gets one watcher per worker.
        with self._start_lock:
            if self._watcher_pid == os.getpid():
                return
            self._in_flight.clear()  # a forked child inherits its parent's entries
            threading.Thread(target=self._watch, name="myapp-watchdog", daemon=True).start()
            self._watcher_pid = os.getpid()

    def _watch(self) -> None:
        interval = min(1.0, max(0.05, self.timeout / 10))
        while True:
            time.sleep(interval)
            if self.check():
                return

    def check(self) -> bool:
        """End the process if a request is past its deadline; True when it did."""
        now = self._clock()
        in_flight = self._in_flight.copy().values()
        overdue = [
            describe(environ)
            for deadline, environ in in_flight
            if now > deadline and READING_BODY not in environ
        ]
        if not overdue:
            return False
        self.logger.critical(
            "a request ran past REQUEST_TIMEOUT (%gs): %s; ending this worker process "
            "(pid %d) so that the server replaces it",
            self.timeout,
            ", ".join(overdue),
            os.getpid(),
        )
        self._end()
        return True


def register_watchdog(app: Flask) -> None:
    """Wrap the app in a Watchdog when REQUEST_TIMEOUT is set (seconds; 0 leaves it off)."""
    timeout = float(app.config["REQUEST_TIMEOUT"])
    if timeout:  # a negative one is refused by Watchdog, not ignored
        app.wsgi_app = Watchdog(app.wsgi_app, timeout, app.logger)  # type: ignore[method-assign]
