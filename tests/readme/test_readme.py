"""Every command the README gives, run as written in a fresh clone of the repository.

Each `sh` block in README.md is marked by the comment line above it:

- `<!-- readme-check: run -->`: run with bash (`-e -o pipefail`); it must exit 0,
  and each `# => text` line names text its output must show, in that order;
- `<!-- readme-check: serve URL -->`: started in the background; URL must answer 200;
- `<!-- readme-check: resource PATH -->` (a `python` block): saved as PATH, then held
  to the project's checks (ruff, mypy, the fuzz env's tests, the route listed);
- `<!-- readme-check: skip (why) -->`: not run, for a stated reason.

An `sh` block with no mark fails the test, so no command joins the README untried.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MARKED = re.compile(r"<!-- readme-check: (\w+)([^>]*?)-->\n```(\w+)\n(.*?)```", re.S)
FENCE = re.compile(r"^```(\w*)$", re.M)
EXPECT = re.compile(r"^# => (.+)$", re.M)

pytestmark = pytest.mark.readme


def _environment() -> dict[str, str]:
    """This process's environment less the app's and Flask's own settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("MYAPP_", "FLASK_"))}


def _run(command: list[str], cwd: Path, timeout: float = 600) -> str:
    done = subprocess.run(
        command,
        cwd=cwd,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{output}"
    return output


def _run_block(code: str, cwd: Path) -> None:
    output = _run(["bash", "-e", "-o", "pipefail", "-c", code], cwd)
    position = 0
    for expected in EXPECT.findall(code):
        found = output.find(expected, position)
        assert found >= 0, f"expected {expected!r} after position {position} in:\n{output}"
        position = found + len(expected)


def _serve(code: str, url: str, cwd: Path, servers: list[subprocess.Popen[str]]) -> None:
    log = cwd / f"server-{len(servers)}.log"
    with log.open("w") as output:  # the server keeps its own copy of the descriptor
        server = subprocess.Popen(
            ["bash", "-c", code],
            cwd=cwd,
            env=_environment(),
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group, so the workers stop with it
        )
    servers.append(server)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the server exited:\n{log.read_text()}"
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"{url} did not answer 200 within 60 s:\n{log.read_text()}")


def _check_resource(code: str, path: str, cwd: Path) -> None:
    (cwd / path).write_text(code)
    bin_ = cwd / ".venv" / "bin"
    _run([str(bin_ / "ruff"), "check", path], cwd)
    _run([str(bin_ / "ruff"), "format", "--check", path], cwd)
    _run([str(bin_ / "mypy"), "myapp"], cwd)
    _run([str(bin_ / "pytest"), "-q", "-m", "fuzz", "tests/fuzz", "-p", "no:cacheprovider"], cwd)
    module = Path(path).stem
    routes = _run([str(bin_ / "flask"), "--app", "myapp", "routes"], cwd)
    assert f"{module}." in routes, routes


def test_every_shell_block_is_marked():
    text = (ROOT / "README.md").read_text()
    marked = {match.start(3) - 3 for match in MARKED.finditer(text)}
    shell = [m for m in FENCE.finditer(text) if m.group(1) in ("sh", "bash", "shell")]
    unmarked = [text.count("\n", 0, m.start()) + 1 for m in shell if m.start() not in marked]
    assert not unmarked, f"README.md lines {unmarked}: sh blocks without a readme-check mark"


def test_the_readme_runs_as_written(tmp_path):
    clone = tmp_path / "myapp"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    servers: list[subprocess.Popen[str]] = []
    try:
        for match in MARKED.finditer((clone / "README.md").read_text()):
            kind, argument, _language, code = match.groups()
            argument = argument.strip()
            if kind == "run":
                _run_block(code, clone)
            elif kind == "serve":
                _serve(code, argument, clone, servers)
            elif kind == "resource":
                _check_resource(code, argument, clone)
            else:
                assert kind == "skip", f"unknown mark: {kind}"
                assert argument, "a skipped block says why"
    finally:
        for server in servers:
            with_group = os.getpgid(server.pid)
            os.killpg(with_group, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(with_group, signal.SIGKILL)
