"""Real servers for tests: start the binary on a free loopback port, or skip (fail in CI)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
import redis

REQUIRE_ENV = "MYAPP_REQUIRE_TEST_SERVICES"


def find_binary(name: str, package: str, extra_dirs: tuple[str, ...] = ()) -> str:
    """Return the path of a server binary, skipping (or failing under CI) when it is missing."""
    path = shutil.which(name) or next(
        (str(p) for d in extra_dirs for p in sorted(Path("/").glob(d.lstrip("/"))) if p.exists()),
        None,
    )
    if path:
        return path
    message = f"{name} is not installed; `apt-get install {package}` to run this test"
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{message} ({REQUIRE_ENV} is set, so it may not be skipped)")
    pytest.skip(message)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A throwaway redis-server on 127.0.0.1 with persistence off."""

    def __init__(self, binary: str, port: int | None = None):
        self.binary = binary
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.02)
        client.close()

    def stop(self) -> None:
        """Kill the server (SIGCONT first, in case a test left it stopped)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(5)

    def pause(self) -> None:
        """Freeze the server: connections stay open but nothing answers."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a frozen server answer again."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def client(self) -> redis.Redis:
        """A plain client for assertions."""
        return redis.Redis(port=self.port, socket_timeout=2)


class PostgresServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1, durability off for speed."""

    def __init__(self, bindir: str):
        self.bindir = Path(bindir)
        self.port = free_port()
        self.datadir = Path(tempfile.mkdtemp(prefix="myapp-pg-"))
        # PostgreSQL refuses to run as root; Debian's package makes a postgres user.
        self.user = "postgres" if os.geteuid() == 0 else None
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/myapp_test"

    def _run(self, *args: str) -> None:
        subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            check=True,
            user=self.user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def start(self) -> None:
        """initdb (first time), start, and create the test database."""
        if self.user:
            shutil.chown(self.datadir, self.user, self.user)
        if not (self.datadir / "PG_VERSION").exists():
            self._run(
                "initdb",
                "-D",
                str(self.datadir),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            )
        options = (
            f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.datadir),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "-l",
            str(self.datadir / "log"),
            "start",
        )
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = 'myapp_test'")
            if exists.fetchone() is None:
                conn.execute("CREATE DATABASE myapp_test")

    def admin_dsn(self) -> str:
        """A libpq DSN for the maintenance database."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def stop(self, mode: str = "fast") -> None:
        """Stop the cluster; "fast" keeps every commit (durability is off, so "immediate"
        would lose the latest ones, which only removal may)."""
        if (self.datadir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        """Stop and delete the cluster."""
        self.stop("immediate")
        shutil.rmtree(self.datadir, ignore_errors=True)


def find_postgres_bindir() -> str:
    """The directory of Debian's PostgreSQL server binaries."""
    initdb = find_binary("initdb", "postgresql", ("/usr/lib/postgresql/*/bin/initdb",))
    return str(Path(initdb).resolve().parent)
