"""Drill 9, slow clients: connections that trickle their request cost one thread, not the server.

While steady traffic runs, four kinds of slow connection are opened: 2 x workers
of each slow kind, and as many of each stalled kind as there are workers:
- slow header: a request line, then a header byte every PACE seconds;
- slow body: whole headers announcing a 202-byte body, then a body byte every PACE;
- stalled header: half a request line, then nothing;
- stalled body: whole headers and 2 of the 202 body bytes, then nothing.
Each keeps at it for up to HOLD seconds. Invariants: the steady traffic gets no
failed request and its p99 stays under 1 s; every slow connection whose server
has a deadline for it is cut within READ_TIMEOUT (plus SLACK) of its first byte.
gunicorn (gunicorn.conf.py's DeadlineWorker) cuts all four. granian cuts the
header ones (its header read timeout); it has no deadline for a body
(emmett-framework/granian#728), so those are only counted and timed: the
README tells operators to put a buffering proxy in front.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

from drills.common import (
    Background,
    Report,
    Stats,
    app_env,
    check_log,
    database,
    init_db,
    main,
    ms,
    percentile,
    redis_server,
    server_class,
    sleep_until,
    workdir,
)
from drills.redis_down import CLIENTS, steady_traffic

#: The drill's read deadline, seconds; production's is 10.
READ_TIMEOUT = 3.0
#: How late a cut may come: the deadline thread looks every READ_TIMEOUT / 10.
SLACK = 1.5
#: Seconds between trickled bytes, and how long a slow client keeps going.
PACE = 0.5
HOLD = READ_TIMEOUT * 4
BEFORE, AFTER = 1.0, 1.0
P99_CEILING = 1.0

HEADERS = (
    b"POST /v1/calc/add HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/json\r\nContent-Length: 202\r\n\r\n"
)
KINDS = ("slow_header", "slow_body", "stalled_header", "stalled_body")


@dataclass
class Slow:
    """One slow connection: what it is, and when the server ended it."""

    kind: str
    opened: float = 0.0
    ended: float | None = None
    answer: bytes = b""
    error: str = ""

    @property
    def held(self) -> float:
        """Seconds from its first byte until the server ended it (or until the drill gave up)."""
        return (self.ended or time.monotonic()) - self.opened

    def describe(self) -> str:
        status = self.answer.split(b"\r\n", 1)[0].decode(errors="replace") or "no answer"
        end = f"cut after {self.held:.1f}s" if self.ended else f"still open at {self.held:.1f}s"
        return f"{self.kind}: {end}, {status}{', ' + self.error if self.error else ''}"


def trickle(port: int, slow: Slow, stop: threading.Event) -> None:
    """Play one slow client until the server ends the connection, HOLD passes, or `stop`."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.settimeout(PACE)
        if slow.kind == "slow_header":
            start, drip = b"POST /v1/calc/add HTTP/1.1\r\n", b"X-Slow: " + b"a" * 1000
        elif slow.kind == "slow_body":
            start, drip = HEADERS, b" " * 202
        elif slow.kind == "stalled_header":
            start, drip = b"GET /heal", b""
        else:
            start, drip = HEADERS + b"{}", b""
        slow.opened = time.monotonic()
        end = slow.opened + HOLD
        try:
            sock.sendall(start)
            while time.monotonic() < end and not stop.is_set():
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    if drip:
                        sock.sendall(drip[:1])
                        drip = drip[1:]
                    continue
                if not chunk:
                    slow.ended = time.monotonic()
                    return
                slow.answer += chunk
        except OSError as exc:  # reset, or a send into a connection the server shut
            slow.ended = time.monotonic()
            slow.error = type(exc).__name__


def run() -> Report:
    """Run the slow-clients drill and return its report."""
    report = Report("slow_clients")
    with workdir() as scratch, redis_server() as rd, database("sqlite", scratch) as (url, _):
        env = app_env(url, rd.url)
        init_db(env)
        server = server_class()(env, scratch, read_timeout=READ_TIMEOUT)
        with server:
            stats = Stats()
            step, _credentials = steady_traffic(server.port, stats)
            slows = [
                Slow(kind)
                for kind in KINDS
                for _ in range(server.workers * (2 if kind.startswith("slow") else 1))
            ]
            stop = threading.Event()
            threads = [
                threading.Thread(target=trickle, args=(server.port, slow, stop), daemon=True)
                for slow in slows
            ]
            with Background(CLIENTS + 2, step, report) as load:
                sleep_until(time.monotonic() + BEFORE)
                for thread in threads:
                    thread.start()
                attack_started = time.monotonic()
                for thread in threads:
                    thread.join(HOLD + 10)
                sleep_until(time.monotonic() + AFTER)
                load.stop()
            stop.set()
            check_log(report, server)

    judge(report, stats, slows, server.cuts_slow_bodies, attack_started)
    report.figures.update(server=server.kind, slow_connections=len(slows))
    return report.finish()


def judge(
    report: Report, stats: Stats, slows: list[Slow], cuts_bodies: bool, attack_started: float
) -> None:
    """Steady traffic untouched; every slow connection with a deadline cut within it."""
    report.figures.update(stats.figures())
    stats.check_basics(report)
    during = [r for r in stats.select() if r.started >= attack_started]
    report.expect(bool(during), "no steady request ran while the slow clients held on")
    p99 = percentile([r.latency for r in during], 0.99)
    report.figures["p99_during"] = ms(p99)
    report.expect(p99 < P99_CEILING, f"steady p99 {ms(p99)} during the attack, over 1 s")
    for kind in KINDS:
        mine = [s for s in slows if s.kind == kind]
        held = [s.held for s in mine]
        report.figures[f"{kind}_held_max"] = f"{max(held):.1f}s"
        if kind.endswith("body") and not cuts_bodies:
            report.note(f"{kind}: not cut (this server has no body deadline): {mine[0].describe()}")
            continue
        late = [s for s in mine if s.ended is None or s.held > READ_TIMEOUT + SLACK]
        report.expect(
            not late,
            f"{len(late)} of {len(mine)} {kind} connections outlived the {READ_TIMEOUT:g}s "
            f"deadline, e.g. {'; '.join(s.describe() for s in late[:2])}",
        )
    answered = [s for s in slows if s.answer and not s.answer.startswith(b"HTTP/1.1 4")]
    report.expect(
        not answered,
        f"{len(answered)} slow connections got an answer other than 4xx, e.g. "
        f"{answered[0].describe() if answered else '-'}",
    )


if __name__ == "__main__":
    main(run, "slow_clients")
