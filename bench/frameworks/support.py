"""What the framework benchmarks share: paths, the peers' interpreter, a Redis server."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PEERS_VENV = ROOT / "bench" / ".peers-venv"
RESULTS = ROOT / "bench" / "results"
SETUP = "bench/frameworks/setup.sh"


def use_peers_venv() -> None:
    """Re-run this script under the peers' virtualenv unless it already runs there."""
    if Path(sys.prefix).resolve() == PEERS_VENV.resolve():
        return
    python = PEERS_VENV / "bin" / "python"
    if not python.exists():
        sys.exit(f"{PEERS_VENV} is missing: run {SETUP} first (it installs the peers and wrk)")
    os.execv(python, [str(python), *sys.argv])


def clean_environment() -> None:
    """Drop MYAPP_*, GUNICORN_* and GRANIAN_* variables: the benchmark sets its own."""
    for name in list(os.environ):
        if name.startswith(("MYAPP_", "GUNICORN_", "GRANIAN_")):
            del os.environ[name]


def start(parser: argparse.ArgumentParser, quick: Mapping[str, Any]) -> argparse.Namespace:
    """A script's start-up: parse its options (`quick`'s values under --quick), re-run
    under the peers' virtualenv if need be, and drop the configuration it sets itself."""
    args = parser.parse_args()
    if args.quick:
        for name, value in quick.items():
            setattr(args, name, value)
    use_peers_venv()
    clean_environment()
    return args


def bin_path(name: str) -> str:
    """A console script of the peers' virtualenv (gunicorn, uvicorn, granian)."""
    return str(PEERS_VENV / "bin" / name)


@contextlib.contextmanager
def redis_url(given: str | None) -> Iterator[str]:
    """Yield the given Redis URL, or start a throwaway redis-server and yield its URL."""
    if given:
        yield given
        return
    from tests.servers import RedisServer

    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit(f"redis-server not found: run {SETUP}, or pass --redis-url")
    server = RedisServer(binary)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
