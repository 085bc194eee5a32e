"""The reliability drills as tests: each starts its own servers and checks its invariants.

Every drill returns a report whose `failures` lists each invariant it found
broken (with examples and log excerpts); a test passes when there are none.
The figures are printed (`pytest -m drill tests/drills -s`, or see them in a
failure's message).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from drills import (
    graceful,
    hung,
    idempotent_retries,
    load,
    lock_contention,
    metrics_scrape,
    postgres_down,
    ratelimit,
    redis_down,
    redis_stall,
    slow_clients,
    sqlite_writes,
)
from drills.common import Report

pytestmark = pytest.mark.drill


def check(run: Callable[[], Report]) -> Report:
    """Run a drill, print its summary line, and fail with every broken invariant."""
    report = run()
    print(report.explain())
    assert report.failures == [], report.explain()
    return report


def test_load_has_no_5xx_and_loses_no_write() -> None:
    """Mixed load over every worker: no 5xx or connection error, exact row counts."""
    report = check(load.run)
    assert report.figures["5xx"] == 0
    assert report.figures["conn_errors"] == 0


def test_ratelimit_admits_exactly_the_limit_across_workers() -> None:
    """A limit of N on one key, hammered through every worker: exactly N admitted."""
    report = check(ratelimit.run)
    assert report.figures["admitted"] == report.figures["limit"]


def test_redis_killed_fails_open_and_closed_then_recovers() -> None:
    """Ordinary routes keep serving, sign-in answers 503, service returns by itself."""
    check(redis_down.run)


def test_redis_stalled_costs_at_most_the_documented_bound() -> None:
    """A frozen Redis: no worker timeout, no 502, every request within the bound."""
    check(redis_stall.run)


def test_postgres_stopped_gives_503s_and_no_half_written_rows() -> None:
    """503 problems with Retry-After, liveness up, readiness down, recovery, no torn writes."""
    check(postgres_down.run)


def test_sigterm_lets_in_flight_requests_finish() -> None:
    """Slow requests in flight at SIGTERM complete and commit; exit within the timeout."""
    check(graceful.run)


def test_sqlite_concurrent_writes_are_never_lost_or_500() -> None:
    """Writers across workers on one SQLite file: acknowledged means stored, never a 500."""
    check(sqlite_writes.run)


def test_a_hung_request_ends_its_worker_and_nothing_else() -> None:
    """Past the request timeout: connection dropped, no write, one worker replaced, rest served."""
    check(hung.run)


def test_slow_clients_cost_a_thread_not_the_server() -> None:
    """Trickled and stalled requests, 4 x workers of them: steady traffic unharmed,
    each one the server has a deadline for cut within it."""
    report = check(slow_clients.run)
    assert report.figures["conn_errors"] == 0


def test_password_hashing_never_holds_up_another_writer() -> None:
    """Password changes and sign-ups with scrypt beside alias writes on SQLite: no 5xx,
    and no write waits out a hash."""
    check(lock_contention.run)


def test_keyed_retries_through_killed_workers_create_one_alias_per_key() -> None:
    """Idempotency-Key POSTs retried while workers are SIGKILLed, on SQLite and PostgreSQL:
    exactly one alias per key, named by the key's final answer."""
    report = check(idempotent_retries.run)
    assert report.figures["sqlite_cut"] > 0
    assert report.figures["postgresql_cut"] > 0


def test_one_scrape_of_two_workers_counts_every_request_exactly() -> None:
    """Requests over fresh connections to 2 workers, then one /metrics: exact counts."""
    report = check(metrics_scrape.run)
    assert report.figures["workers_counted"] == 2
