"""What counting a request costs: the same requests with metrics on and off, in process.

Two apps on one SQLite file, one with METRICS_TOKEN set, take turns in each round
(so the machine's drift falls on both alike), on two routes: GET /health (exempt
from the limiter: the request counter and the histogram alone) and
GET /v1/calc/add (the limiter's decision counted too). Prints each route's median
microseconds (the lower quartile of the rounds' medians) with metrics off and
on, and the difference: the goal is at most 10 µs a request.

    .venv/bin/python bench/metrics.py [--rounds 15] [--requests 2000]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import secrets
import statistics
import tempfile
import time
from typing import Any

from myapp import create_app

ROUTES = ("/health", "/v1/calc/add?a=1&b=2")


def build(scratch: str, **config: Any) -> Any:
    return create_app(
        {
            "SECRET_KEY": secrets.token_urlsafe(32),
            "DATABASE_URL": f"sqlite:///{scratch}/bench.sqlite3",
            "ACCESS_LOG": False,
            "PUBLIC_URL": "https://api.example.com",
            "RATELIMIT_DEFAULT": "1000000/minute",
            **config,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="myapp-bench-")
    clients = {
        "off": build(scratch).test_client(),
        "on": build(scratch, METRICS_TOKEN=secrets.token_urlsafe(32)).test_client(),
    }
    medians: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for route in ROUTES:
            for name, client in clients.items():
                samples = []
                for _ in range(args.requests):
                    started = time.perf_counter()
                    response = client.get(route)
                    samples.append(time.perf_counter() - started)
                    assert response.status_code == 200
                medians.setdefault((route, name), []).append(statistics.median(samples) * 1e6)
    print(f"{args.rounds} rounds of {args.requests} requests, metrics off and on:")
    for route in ROUTES:
        off, on = (statistics.quantiles(medians[route, name], n=4)[0] for name in ("off", "on"))
        print(f"  GET {route:22} off {off:6.1f} µs  on {on:6.1f} µs  +{on - off:4.1f} µs")


if __name__ == "__main__":
    main()
