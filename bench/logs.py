"""Cost of one access line on the log writer thread: built directly vs through a LogRecord.

The writer thread shares the interpreter with the requests it logs, so what it
spends per line is taken from them. Both ways are timed in this process, in
interleaved rounds, writing to /dev/null: `access_json` (what the writer does
with the JSON format) and `access_record` formatted by `JsonFormatter` (what it
did before, and still does for the text format).

    python bench/logs.py [--lines 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from myapp.core.logs import AccessEntry, JsonFormatter, access_json, access_record

ENTRY = AccessEntry(
    time.time(),
    "GET",
    "/v1/aliases",
    200,
    0.48,
    "127.0.0.1",
    "fd982a12b014b9be14e095291190af91",
    None,
)


def per_line(make_line: Callable[[AccessEntry], str], lines: int) -> float:
    """Microseconds per line made and written (and flushed, as the handler does)."""
    with open(os.devnull, "w") as sink:
        started = time.perf_counter()
        for _ in range(lines):
            sink.write(make_line(ENTRY) + "\n")
            sink.flush()
        return (time.perf_counter() - started) / lines * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    formatter = JsonFormatter()
    ways = {
        "LogRecord + JsonFormatter": lambda entry: formatter.format(access_record(entry)),
        "direct (access_json)": access_json,
    }
    samples: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, way in ways.items():
            samples[name].append(per_line(way, args.lines))
    baseline = statistics.median(samples["LogRecord + JsonFormatter"])
    print(f"{args.rounds} interleaved rounds x {args.lines} access lines to {os.devnull}")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:<27} {median:6.1f} us per line   {median / baseline:.2f}x")


if __name__ == "__main__":
    main()
