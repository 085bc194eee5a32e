"""serve.py's settings: defaults, GRANIAN_* overrides, and refusals of values that do not parse.

Serving itself is exercised by the drills under granian (`tox -e drills-granian`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import serve

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_wait_on_slow_clients_with_threads_and_replace_failed_workers() -> None:
    settings = serve.settings({})
    assert settings["address"] == "127.0.0.1"
    assert settings["port"] == 8000
    assert settings["workers"] == len(os.sched_getaffinity(0))  # granian warns about more
    assert settings["blocking_threads"] == 16  # room for clients that trickle a body
    assert settings["http1_header_read_timeout"] == 10_000  # milliseconds
    assert settings["respawn_failed_workers"] is True
    assert settings["workers_kill_timeout"] == 20
    assert settings["workers_lifetime"] == 3600
    assert settings["log_access"] is False
    assert "backpressure" not in settings  # granian's default; 1 locks out other connections


def test_environment_overrides() -> None:
    environ = {
        "GRANIAN_HOST": "0.0.0.0",
        "GRANIAN_PORT": "9000",
        "GRANIAN_WORKERS": " 3 ",
        "GRANIAN_WORKERS_KILL_TIMEOUT": "7",
        "GRANIAN_WORKERS_LIFETIME": "120",
        "GRANIAN_RESPAWN_INTERVAL": "0.5",
        "GRANIAN_LOG_LEVEL": "warning",
        "GRANIAN_BLOCKING_THREADS": "4",
        "GRANIAN_HTTP1_HEADER_READ_TIMEOUT": "2500",
    }
    settings = serve.settings(environ)
    assert (settings["address"], settings["port"], settings["workers"]) == ("0.0.0.0", 9000, 3)
    assert settings["workers_kill_timeout"] == 7
    assert settings["workers_lifetime"] == 120
    assert settings["respawn_interval"] == 0.5
    assert settings["log_level"] == "warning"
    assert (settings["blocking_threads"], settings["http1_header_read_timeout"]) == (4, 2500)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("GRANIAN_WORKERS", "many", "GRANIAN_WORKERS='many' is not an integer"),
        ("GRANIAN_PORT", "80.5", "GRANIAN_PORT='80.5' is not an integer"),
        ("GRANIAN_RESPAWN_INTERVAL", "soon", "GRANIAN_RESPAWN_INTERVAL='soon' is not a number"),
    ],
)
def test_values_that_do_not_parse_stop_start_up(name: str, value: str, message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        serve.settings({name: value})


def test_more_than_one_target_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "serve.py", "myapp:create_app", "extra"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "usage: python serve.py [MODULE:FACTORY]" in done.stderr


def test_gunicorn_conf_finds_serve_py_when_started_elsewhere(tmp_path: Path) -> None:
    """gunicorn.conf.py parses GUNICORN_* with serve.py's helpers, and gunicorn reads it
    before moving to --chdir: started from another directory, it still finds them."""
    done = subprocess.run(
        [
            *(sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")),
            *("--chdir", str(ROOT), "--print-config"),
            "serve:main",  # --print-config only loads the target: any importable callable
        ],
        cwd=tmp_path,
        env={**os.environ, "GUNICORN_WORKERS": "7"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"^workers +=\s+7$", done.stdout, re.MULTILINE), done.stdout


def gunicorn_config(environ: dict[str, str]) -> dict[str, object]:
    """gunicorn.conf.py's settings as gunicorn reads them, in a fresh process."""
    code = (
        "import json, os, runpy; config = runpy.run_path('gunicorn.conf.py'); "
        "print(json.dumps({'worker_class': getattr(config['worker_class'], '__name__', "
        "config['worker_class']), 'threads': config['threads'], "
        "'read_timeout': config['read_timeout'], 'timeout': config['timeout'], "
        "'request_timeout': os.environ.get('MYAPP_REQUEST_TIMEOUT')}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("GUNICORN_")}, **environ},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return dict(json.loads(done.stdout))


def test_gunicorn_defaults_to_threads_with_a_read_deadline() -> None:
    """Threads wait on slow clients, the read deadline ends them, and the app's own
    watchdog takes the request timeout (the master cannot see a stuck thread)."""
    config = gunicorn_config({})
    assert config == {
        "worker_class": "DeadlineWorker",
        "threads": 16,
        "read_timeout": 10.0,
        "timeout": 30,
        "request_timeout": "30",
    }
    config = gunicorn_config({"GUNICORN_READ_TIMEOUT": "2.5", "GUNICORN_THREADS": "4"})
    assert (config["read_timeout"], config["threads"]) == (2.5, 4)


def test_gunicorn_sync_workers_stay_available_on_request() -> None:
    config = gunicorn_config({"GUNICORN_WORKER_CLASS": "sync"})
    assert (config["worker_class"], config["threads"]) == ("sync", 1)
    assert config["request_timeout"] is None  # the master times sync workers itself


def _without_secret_key() -> dict[str, str]:
    environ = {key: value for key, value in os.environ.items() if key != "MYAPP_SECRET_KEY"}
    return {**environ, "FLASK_DEBUG": "0", "GRANIAN_PORT": "0", "GUNICORN_BIND": "127.0.0.1:0"}


@pytest.mark.parametrize(
    "command",
    [
        (sys.executable, "serve.py"),
        (sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "myapp:create_app()"),
    ],
    ids=["granian", "gunicorn"],
)
def test_a_refused_configuration_stops_the_server_before_any_worker(command) -> None:
    """No SECRET_KEY: the main process exits non-zero with the message; no worker starts."""
    done = subprocess.run(
        command,
        cwd=ROOT,
        env=_without_secret_key(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "cannot start: ConfigError: SECRET_KEY is missing or weak" in done.stderr
    assert "MYAPP_SECRET_KEY" in done.stderr  # how to fix it
    assert "Spawning worker" not in done.stderr
    assert "Booting worker" not in done.stderr
