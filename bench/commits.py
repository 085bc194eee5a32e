"""myapp's in-process cost over plain Flask's at several commits: what each change bought.

Each commit is checked out into a temporary git worktree and measured in a
process of its own, which imports that commit's myapp and bench apps (so only
commits that have bench/frameworks/apps can be measured). Within a process,
plain Flask and myapp take turns on each endpoint, 25 rounds of 500 requests
each, and the figure is the lower quartile of the rounds: a ratio from one
process, so machine noise falls on both. Runs in bench/.peers-venv, which has
Flask for the baseline; nothing needs Redis.

    bench/.peers-venv/bin/python bench/commits.py COMMIT [COMMIT ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENDPOINTS = ("ping", "list", "create")
ROUNDS, REQUESTS = 25, 500


def measure() -> dict[str, float]:
    """In this process: myapp's cost / Flask's per endpoint (imports come from PYTHONPATH)."""
    from bench.frameworks.inprocess import WsgiCase
    from bench.frameworks.stacks import BY_KEY, STACKS

    stacks = {stack.name: stack for stack in STACKS if stack.name in ("Flask", "myapp")}
    apps = {name: stack.factory()() for name, stack in stacks.items()}
    ratios = {}
    for key in ENDPOINTS:
        cases = {name: WsgiCase(apps[name], stacks[name], BY_KEY[key]) for name in apps}
        seconds: dict[str, list[float]] = {name: [] for name in cases}
        for round_ in range(ROUNDS + 1):
            for name, case in cases.items():
                per_request = case.run(REQUESTS)
                if round_:  # the first round warms up
                    seconds[name].append(per_request)
        quartile = {name: sorted(values)[ROUNDS // 4] for name, values in seconds.items()}
        ratios[key] = quartile["myapp"] / quartile["Flask"]
    return ratios


def measure_commit(commit: str) -> dict[str, float]:
    """Check the commit out into a temporary worktree and measure it in a fresh process."""
    with tempfile.TemporaryDirectory(prefix="myapp-commit-") as scratch:
        tree = Path(scratch) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--quiet", str(tree), commit],
            cwd=ROOT,
            check=True,
        )
        try:
            done = subprocess.run(
                [sys.executable, __file__, "--measure"],
                cwd=tree,
                env={**os.environ, "PYTHONPATH": str(tree)},
                capture_output=True,
                text=True,
                check=True,
            )
        finally:
            remove = ["git", "worktree", "remove", "--force", str(tree)]
            subprocess.run(remove, cwd=ROOT, check=True)
    ratios: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commits", nargs="*", help="commits to measure, in order")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure()))
        return
    if not args.commits:
        parser.error("name at least one commit")
    print(f"{'commit':12s}" + "".join(f"{key:>9s}" for key in ENDPOINTS))
    for commit in args.commits:
        ratios = measure_commit(commit)
        print(f"{commit[:12]:12s}" + "".join(f"{ratios[key]:9.2f}" for key in ENDPOINTS))


if __name__ == "__main__":
    main()
