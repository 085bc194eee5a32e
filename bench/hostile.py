"""What a hostile body costs against a valid small POST, in process.

POST /v1/calc/add with {"a": 1, "b": 2}, against the same route with three bad
fields, with a body just under MAX_CONTENT_LENGTH (1 MiB) of 85,000 keys the schema
does not know (the route's own limit, 4 KiB, refuses it before reading), and with
stray keys just under that 4 KiB limit (each key an error: the most error work a
body the route reads can ask for). Turns alternate; the figure is each case's median
over the rounds, and the ratio is against the valid POST of the same run.

    .venv/bin/python bench/hostile.py [--rounds 7]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import json
import statistics
import time

from myapp import create_app

VALID = json.dumps({"a": 1, "b": 2}).encode()
THREE_BAD = json.dumps({"a": "x", "b": None, "c": 1}).encode()
STRAY = json.dumps(dict.fromkeys((f"k{n:05d}" for n in range(85_000)), 1), separators=(",", ":"))
#: As many stray keys as fit the route's own 4 KiB limit.
STRAY_SMALL = json.dumps(dict.fromkeys((f"k{n:05d}" for n in range(370)), 1), separators=(",", ":"))


def seconds_per_request(client, body: bytes, requests: int) -> float:
    """Mean seconds per POST of `body` over `requests` calls."""
    started = time.perf_counter()
    for _ in range(requests):
        client.post("/v1/calc/add", data=body, content_type="application/json")
    return (time.perf_counter() - started) / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    app = create_app(
        {
            "TESTING": True,
            "ACCESS_LOG": False,
            "RATELIMIT_ENABLED": False,
            "DATABASE_URL": "sqlite://",
        }
    )
    client = app.test_client()
    cases = {
        "valid": (VALID, 2000),
        "three bad fields": (THREE_BAD, 2000),
        "1 MiB stray keys": (STRAY.encode(), 200),
        "4 KiB stray keys": (STRAY_SMALL.encode(), 500),
    }
    expected = {"valid": 200, "three bad fields": 422, "1 MiB stray keys": 413}
    expected["4 KiB stray keys"] = 422
    for name, (body, _) in cases.items():  # warm up, and check each answers as it should
        status = client.post("/v1/calc/add", data=body, content_type="application/json").status_code
        assert status == expected[name], (name, status)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, (body, requests) in cases.items():
            times[name].append(seconds_per_request(client, body, requests))
    valid = statistics.median(times["valid"])
    sizes = f"{len(STRAY) / 1024:.0f} KiB and {len(STRAY_SMALL)} bytes of stray keys"
    print(f"{sizes}, {args.rounds} rounds")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:18s} {median * 1e6:12.1f} us  {median / valid:9.1f}x the valid POST")


if __name__ == "__main__":
    main()
