"""`python -m drills [NAME ...]`: run the drills (all by default) and print a summary table."""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from drills import DRILLS
from drills.common import Report, run_drill

COLUMNS = (
    "server",
    "requests",
    "5xx",
    "of_which_503",
    "conn_errors",
    "unexpected",
    "p50",
    "p99",
    "max",
    "duration",
)


def table(reports: list[Report]) -> str:
    """The figures every drill shares, one row per drill."""
    rows = [("drill", "result", *COLUMNS)]
    for report in reports:
        verdict = "SKIP" if report.skipped else ("PASS" if report.ok else "FAIL")
        rows.append(
            (report.drill, verdict, *(str(report.figures.get(column, "-")) for column in COLUMNS))
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def main() -> int:
    """Run the chosen drills one after another; exit 1 if any failed."""
    parser = argparse.ArgumentParser(prog="python -m drills", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(DRILLS))
    names = parser.parse_args().names or list(DRILLS)
    unknown = [name for name in names if name not in DRILLS]
    if unknown:
        parser.error(f"no drill named {', '.join(unknown)}; choose from {', '.join(DRILLS)}")
    started = time.monotonic()
    reports = []
    for name in names:
        module = importlib.import_module(f"drills.{name}")
        report = run_drill(module.run, name)
        print(report.explain(), flush=True)
        reports.append(report)
    print()
    print(table(reports))
    print(f"total {time.monotonic() - started:.0f}s")
    return 0 if all(report.ok for report in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
