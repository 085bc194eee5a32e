"""Real servers for tests: start the binary on a free loopback port, or skip (fail in CI)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

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
