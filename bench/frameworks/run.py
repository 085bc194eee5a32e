"""Run the in-process and HTTP benchmarks, then write bench/results/frameworks.md (and .json).

Re-runs itself under bench/.peers-venv (made by setup.sh). The full run takes
about 10 minutes on 2 cores; --quick about 3.

    python bench/frameworks/run.py [--quick] [--skip-inprocess] [--skip-http]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse
import dataclasses
import json
import os
import platform
import shlex
import subprocess
import time
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from bench.frameworks import inprocess, overhttp, report
from bench.frameworks.stacks import STACKS
from bench.frameworks.support import RESULTS, redis_url, start


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError:
        return "not installed"
    return (done.stdout or done.stderr).strip().splitlines()[0]


def machine() -> dict[str, Any]:
    """Cores, CPU model, memory, kernel, load, and the tools the run used."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    meminfo = Path("/proc/meminfo").read_text()
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in cpuinfo.splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    kib = int(next(line.split()[1] for line in meminfo.splitlines() if line.startswith("MemTotal")))
    return {
        "cores": os.cpu_count(),
        "usable cores": len(os.sched_getaffinity(0)),
        "cpu": model,
        "memory": f"{kib / 1024 / 1024:.1f} GiB",
        "kernel": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0] + f" ({platform.python_implementation()})",
        "redis-server": _first_line(["redis-server", "--version"]),
        "wrk": _first_line(["wrk", "-v"]),
    }


def packages() -> list[str]:
    """Every distribution installed in this interpreter, as name==version."""
    found = {d.metadata["Name"]: d.version for d in metadata.distributions()}
    return [f"{name}=={found[name]}" for name in sorted(found, key=str.lower)]


def render(facts: dict[str, Any], results: dict[str, Any]) -> str:
    """The whole Markdown report."""
    lines = [
        "# myapp against its peers",
        "",
        f"Made by `{facts['command']}` on {facts['started']} in {facts['elapsed']}.",
        "",
        "## Machine and versions",
        "",
        *(f"- {name}: {value}" for name, value in facts["machine"].items()),
        f"- load average (1, 5, 15 min) at start: {facts['load_start']}, "
        f"at end: {facts['load_end']}",
        "",
        "Endpoints, the same in every stack: `GET /ping`; `GET /items` (page 3 of 20 from "
        "10,000 in-memory items, with the total); `POST /items` (name 1-64 characters, email, "
        "tags list of at most 10 strings, active boolean defaulting to true) -> 201; the "
        "same with three invalid fields -> 4xx; `GET /limited`, limited in Redis "
        "(1,000,000/minute, never denying). Each answer was checked before timing.",
        "",
    ]
    if "inprocess" in results:
        limiters = {s.name: s.limiter for s in STACKS if s.limiter}
        lines += report.inprocess_section(results["inprocess"])
        lines += report.limiter_section(results["inprocess"], limiters)
    if "http" in results:
        lines += report.http_section(results["http"])
    lines += report.targets_section(results.get("inprocess"), results.get("http"))
    lines += [
        "## Packages",
        "",
        "<details><summary>every package in bench/.peers-venv</summary>",
        "",
        *(f"    {package}" for package in facts["packages"]),
        "",
        "</details>",
        "",
    ]
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            **dataclasses.asdict(value),
            **{
                name: getattr(value, name)
                for name in ("median", "minimum", "rps", "p99_ms")
                if hasattr(value, name)
            },
        }
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (about 3 minutes)")
    parser.add_argument("--skip-inprocess", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--rounds", type=int, default=7, help="in-process rounds")
    parser.add_argument("--seconds", type=float, default=0.2, help="in-process s per case")
    parser.add_argument("--redis-url", help="use this Redis instead of starting one")
    parser.add_argument("--output", type=Path, default=RESULTS / "frameworks.md")
    overhttp.add_arguments(parser)
    args = start(parser, {**inprocess.QUICK, **overhttp.QUICK})

    started = time.monotonic()
    facts: dict[str, Any] = {
        "command": "python " + shlex.join(["bench/frameworks/run.py", *sys.argv[1:]]),
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "packages": packages(),
        "load_start": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    results: dict[str, Any] = {}
    with redis_url(args.redis_url) as url:
        if not args.skip_inprocess:
            results["inprocess"] = inprocess.measure(url, rounds=args.rounds, seconds=args.seconds)
        if not args.skip_http:
            results["http"] = overhttp.measure_with(url, args)
    facts["load_end"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    facts["elapsed"] = f"{(time.monotonic() - started) / 60:.1f} minutes"

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(facts, results))
    args.output.with_suffix(".json").write_text(
        json.dumps(_jsonable({"facts": facts, **results}), indent=1)
    )
    print(f"wrote {args.output} and {args.output.with_suffix('.json').name}")
    # The ratios the report judges, so a run shows them without opening the file.
    print("\n".join(report.targets_section(results.get("inprocess"), results.get("http"))))


if __name__ == "__main__":
    main()
