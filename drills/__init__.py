"""Reliability drills: the app under its server against real Redis, PostgreSQL and SQLite.

Each drill starts its own servers on free loopback ports, drives bounded traffic
at them, checks its invariants and prints one summary line of figures. Run one
with `python -m drills.<name>`, all of them with `python -m drills`, or through
pytest with `pytest -m drill tests/drills`.
"""

from __future__ import annotations

#: Drill modules in the order `python -m drills` runs them.
DRILLS = (
    "load",
    "ratelimit",
    "redis_down",
    "redis_stall",
    "postgres_down",
    "graceful",
    "sqlite_writes",
    "hung",
    "slow_clients",
    "lock_contention",
    "idempotent_retries",
    "metrics_scrape",
)
