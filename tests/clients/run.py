"""Generate clients from the live OpenAPI document and run the scenario through each.

`tox -e clients` runs this. It serves the app (granian, through serve.py) on a
free port with a scratch SQLite database, fetches `/openapi.json` from it, and:
- generates a Python client with openapi-python-client, checks scenario.py with
  `mypy --strict`, and runs it;
- generates TypeScript types with openapi-typescript (schema.ts), compiles scenario.mts
  (openapi-fetch on those types) with `tsc --strict`, and runs it on Node.js.
Nothing generated is edited or kept: it all lives in the directory given (tox's
temporary directory), which the next run starts afresh.

    python tests/clients/run.py WORKDIR
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from tests.servers import free_port  # noqa: E402

NODE_BIN = ROOT / "node_modules" / ".bin"


def run(*argv: str | Path, cwd: Path, env: dict[str, str] | None = None) -> None:
    """Run one step, its output shown; stop the whole run when it fails."""
    print(f"$ {' '.join(str(arg) for arg in argv)}", flush=True)
    done = subprocess.run([str(arg) for arg in argv], cwd=cwd, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"step failed ({done.returncode}): {argv[0]}")


def serve(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start the app on a free port and wait until it answers /health."""
    port = free_port()
    env = {
        **os.environ,
        "MYAPP_SECRET_KEY": secrets.token_urlsafe(32),
        "MYAPP_DATABASE_URL": f"sqlite:///{work / 'clients.sqlite3'}",
        "GRANIAN_PORT": str(port),
        "GRANIAN_WORKERS": "1",
        "GRANIAN_LOG_LEVEL": "warning",
    }
    run(sys.executable, "-m", "flask", "--app", "myapp", "init-db", cwd=ROOT, env=env)
    log = (work / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "serve.py"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return server, url
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit(
        f"the app did not answer /health; its log:\n{(work / 'server.log').read_text()}"
    )


def python_client(work: Path, document: Path, url: str) -> None:
    where = work / "python"
    where.mkdir()
    run(
        "openapi-python-client",
        "generate",
        "--path",
        document,
        "--meta",
        "none",
        "--output-path",
        where / "myapp_client",
        cwd=where,
    )
    shutil.copy(HERE / "scenario.py", where / "scenario.py")
    run(
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "--follow-imports=silent",
        "scenario.py",
        cwd=where,
    )
    run(sys.executable, "scenario.py", url, cwd=where)


def typescript_client(work: Path, document: Path, url: str) -> None:
    where = work / "typescript"  # inside the repository, so Node finds its node_modules
    where.mkdir()
    run(NODE_BIN / "openapi-typescript", document, "--output", where / "schema.ts", cwd=ROOT)
    shutil.copy(HERE / "scenario.mts", where / "scenario.mts")
    run(
        NODE_BIN / "tsc",
        "--strict",
        "--noEmitOnError",
        "--target",
        "es2022",
        "--module",
        "nodenext",
        "--moduleResolution",
        "nodenext",
        "--skipLibCheck",
        "--outDir",
        where / "out",
        where / "scenario.mts",
        cwd=ROOT,
    )
    run("node", where / "out" / "scenario.mjs", url, cwd=ROOT)


def main(work: Path) -> None:
    if not (NODE_BIN / "tsc").exists():
        raise SystemExit("run npm ci first: the TypeScript tools are npm packages")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    server, url = serve(work)
    try:
        document = work / "openapi.json"
        with urllib.request.urlopen(f"{url}/openapi.json", timeout=10) as answer:
            document.write_bytes(answer.read())
        python_client(work, document, url)
        typescript_client(work, document, url)
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
